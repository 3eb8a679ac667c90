package helm_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/test/support"
)

const (
	release   = "mpo"
	namespace = "machinepool-operator-system"
	fullname  = "mpo-machinepool-operator"
)

var (
	root       = filepath.Join("..", "..")
	chart      = filepath.Join(root, "charts", "machinepool-operator")
	testEnv    *envtest.Environment
	cfg        *rest.Config
	k8s        client.Client
	helmBin    string
	kubectlBin string
	managerBin string
	adminKcfg  string
	adminRaw   []byte
	ctx        = context.Background()
)

func TestHelm(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Helm Suite")
}

var _ = BeforeSuite(func() {
	abs, err := filepath.Abs(root)
	Expect(err).NotTo(HaveOccurred())
	helmBin = filepath.Join(abs, "bin", "helm")
	out, err := exec.CommandContext(ctx, "make", "-s", "-C", abs, helmBin).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "building helm: %s", out)
	kubectlBin = filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")

	testEnv = &envtest.Environment{}
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(corev1beta1.AddToScheme(scheme)).To(Succeed())
	Expect(corev1beta2.AddToScheme(scheme)).To(Succeed())
	Expect(infrav1beta1.AddToScheme(scheme)).To(Succeed())
	Expect(capi.AddToScheme(scheme)).To(Succeed())
	Expect(apiextensionsv1.AddToScheme(scheme)).To(Succeed())
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	admin, err := testEnv.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	adminRaw, err = admin.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	adminKcfg = filepath.Join(GinkgoT().TempDir(), "admin.kubeconfig")
	Expect(os.WriteFile(adminKcfg, adminRaw, 0o600)).To(Succeed())

	managerBin, err = gexec.Build("github.com/machinepool-operator/machinepool-operator/cmd/manager")
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	gexec.KillAndWait(10 * time.Second)
	gexec.CleanupBuildArtifacts()
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// run runs a binary and returns its stdout; it fails the spec with stderr when the binary fails.
func run(bin string, args ...string) string {
	GinkgoHelper()
	stdout, stderr, err := tryRun(bin, args...)
	Expect(err).NotTo(HaveOccurred(), "%s %v: %s", filepath.Base(bin), args, stderr)
	return stdout
}

func tryRun(bin string, args ...string) (string, string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+GinkgoT().TempDir(), "HELM_CONFIG_HOME="+GinkgoT().TempDir(),
		"HELM_DATA_HOME="+GinkgoT().TempDir())
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

func parse(manifests string) []*unstructured.Unstructured {
	GinkgoHelper()
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split(manifests, "\n---") {
		u := &unstructured.Unstructured{}
		Expect(yaml.Unmarshal([]byte(doc), &u.Object)).To(Succeed(), doc)
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	return objs
}

func template(set ...string) []*unstructured.Unstructured {
	GinkgoHelper()
	args := []string{"template", release, chart, "--namespace", namespace}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	return parse(run(helmBin, args...))
}

func byKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func one(objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	GinkgoHelper()
	found := byKind(objs, kind)
	Expect(found).To(HaveLen(1), kind)
	return found[0]
}

func crdNamed(objs []*unstructured.Unstructured, name string) *unstructured.Unstructured {
	GinkgoHelper()
	for _, o := range byKind(objs, "CustomResourceDefinition") {
		if o.GetName() == name {
			return o
		}
	}
	Fail("no CRD " + name)
	return nil
}

func field(o *unstructured.Unstructured, path ...string) any {
	v, _, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
	return v
}

func managerArgs(objs []*unstructured.Unstructured) []string {
	GinkgoHelper()
	containers := field(one(objs, "Deployment"), "spec", "template", "spec", "containers").([]any)
	var args []string
	for _, a := range containers[0].(map[string]any)["args"].([]any) {
		args = append(args, a.(string))
	}
	return args
}

// webhooksByName returns each webhook of a kind without its clientConfig, which the two installs write differently.
func webhooksByName(objs []*unstructured.Unstructured, kind string) map[string]any {
	out := map[string]any{}
	for _, cfg := range byKind(objs, kind) {
		for _, w := range field(cfg, "webhooks").([]any) {
			m := runtime.DeepCopyJSONValue(w).(map[string]any)
			delete(m, "clientConfig")
			out[m["name"].(string)] = m
		}
	}
	return out
}

// crdSpecs returns the CRDs' specs by name, each conversion webhook's clientConfig left out (the chart and
// kustomize name the Service and provide the CA each their own way).
func crdSpecs(objs []*unstructured.Unstructured) map[string]any {
	out := map[string]any{}
	for _, crd := range byKind(objs, "CustomResourceDefinition") {
		spec := crd.DeepCopy()
		unstructured.RemoveNestedField(spec.Object, "spec", "conversion", "webhook", "clientConfig")
		out[crd.GetName()] = field(spec, "spec")
	}
	return out
}

func rulesOf(objs []*unstructured.Unstructured, kind string) any {
	GinkgoHelper()
	return field(one(objs, kind), "rules")
}

var _ = Describe("the chart, rendered", func() {
	It("has the kustomize config's CRDs, RBAC rules and webhooks: both come from the markers through config/", func() {
		chartObjs := template()
		kustomized := parse(run(kubectlBin, "kustomize", filepath.Join(root, "config", "default")))

		ours := crdSpecs(chartObjs)
		capiCRDs := []string{"machines.cluster.x-k8s.io", "machinesets.cluster.x-k8s.io", "machinedeployments.cluster.x-k8s.io",
			"machinehealthchecks.cluster.x-k8s.io"}
		for _, name := range capiCRDs {
			Expect(ours).To(HaveKey(name), "Cluster API's CRD, for MachinePool Machines and the autoscaler")
			delete(ours, name)
		}
		Expect(ours).To(HaveLen(5))
		Expect(ours).To(Equal(crdSpecs(kustomized)))
		for _, objs := range [][]*unstructured.Unstructured{chartObjs, kustomized} {
			mp := crdNamed(objs, "machinepools.cluster.x-k8s.io")
			Expect(field(mp, "spec", "conversion", "strategy")).To(Equal("Webhook"))
			Expect(field(mp, "spec", "conversion", "webhook", "clientConfig", "service", "path")).To(Equal("/convert"))
		}
		for _, crd := range byKind(chartObjs, "CustomResourceDefinition") {
			Expect(crd.GetAnnotations()).To(HaveKeyWithValue("helm.sh/resource-policy", "keep"), crd.GetName())
			if _, ours := ours[crd.GetName()]; ours {
				Expect(crd.GetLabels()).To(HaveKeyWithValue("cluster.x-k8s.io/v1beta1", "v1beta1"), crd.GetName())
			}
		}
		Expect(rulesOf(chartObjs, "ClusterRole")).To(Equal(rulesOf(kustomized, "ClusterRole")))
		Expect(rulesOf(chartObjs, "Role")).To(Equal(rulesOf(kustomized, "Role")))
		for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
			Expect(webhooksByName(chartObjs, kind)).NotTo(BeEmpty())
			Expect(webhooksByName(chartObjs, kind)).To(Equal(webhooksByName(kustomized, kind)), kind)
		}

		chartImage := field(one(chartObjs, "Deployment"), "spec", "template", "spec", "containers").([]any)[0].(map[string]any)["image"]
		kustomizeImage := field(one(kustomized, "Deployment"), "spec", "template", "spec", "containers").([]any)[0].(map[string]any)["image"]
		Expect(chartImage).To(Equal(kustomizeImage), "the chart and the kustomize config name the same image")
		Expect(managerArgs(chartObjs)).To(ContainElements("--leader-elect", "--feature-gates=MachinePool=true"))
		Expect(managerArgs(chartObjs)).NotTo(ContainElement(HavePrefix("--controllers")), "the manager's default controllers")
	})

	It("leaves out the MachinePool CRD and webhooks with crds.machinePool=false, and runs only simmachinepool", func() {
		objs := template("crds.machinePool=false")
		Expect(crdSpecs(objs)).To(HaveLen(4), "no MachinePool CRD, and Cluster API's own Machine and MachineHealthCheck CRDs are already there")
		Expect(crdSpecs(objs)).NotTo(HaveKey("machinepools.cluster.x-k8s.io"))
		Expect(byKind(objs, "MutatingWebhookConfiguration")).To(BeEmpty(), "its only webhook is the MachinePool defaulter")
		Expect(webhooksByName(objs, "ValidatingWebhookConfiguration")).To(HaveLen(2))
		Expect(webhooksByName(objs, "ValidatingWebhookConfiguration")).NotTo(HaveKey("validation.machinepool.cluster.x-k8s.io"))
		Expect(managerArgs(objs)).To(ContainElement("--controllers=simmachinepool"))

		Expect(crdSpecs(template("crds.enabled=false"))).To(BeEmpty())
		Expect(crdSpecs(template("crds.machinePool=false", "crds.clusterAPI=true"))).To(HaveLen(8))
	})

	It("says how to get Cluster API's CRDs when the chart has no copy of them", func() {
		bare := filepath.Join(GinkgoT().TempDir(), "machinepool-operator")
		Expect(os.CopyFS(bare, os.DirFS(chart))).To(Succeed())
		Expect(os.RemoveAll(filepath.Join(bare, "capi-crds"))).To(Succeed())
		_, stderr, err := tryRun(helmBin, "template", release, bare)
		Expect(err).To(HaveOccurred())
		Expect(stderr).To(ContainSubstring("run `make capi-crds`"))
		_, stderr, err = tryRun(helmBin, "template", release, bare, "--set", "crds.clusterAPI=false")
		Expect(err).NotTo(HaveOccurred(), stderr)
	})

	It("grants the cluster-autoscaler exactly what its Cluster API provider uses, when asked", func() {
		Expect(byKind(template(), "ClusterRole")).To(HaveLen(1), "only the manager's by default")
		objs := template("autoscaler.rbac.create=true", "autoscaler.rbac.subjects[0].kind=ServiceAccount",
			"autoscaler.rbac.subjects[0].name=cluster-autoscaler", "autoscaler.rbac.subjects[0].namespace=kube-system",
			"autoscaler.rbac.infrastructureResources={awsmachinetemplates}")
		var role *unstructured.Unstructured
		for _, r := range byKind(objs, "ClusterRole") {
			if r.GetName() == fullname+"-cluster-autoscaler" {
				role = r
			}
		}
		Expect(role).NotTo(BeNil())
		Expect(field(role, "rules")).To(ContainElements(
			map[string]any{"apiGroups": []any{"cluster.x-k8s.io"}, "resources": []any{"machinepools/scale"}, "verbs": []any{"get", "patch"}},
			map[string]any{"apiGroups": []any{"cluster.x-k8s.io"}, "resources": []any{"machines"}, "verbs": []any{"get", "list", "watch", "update"}},
			map[string]any{"apiGroups": []any{"infrastructure.cluster.x-k8s.io"},
				"resources": []any{"simmachinepools", "simmachinepooltemplates", "awsmachinetemplates"}, "verbs": []any{"get", "list", "watch"}},
		))
		var binding *unstructured.Unstructured
		for _, b := range byKind(objs, "ClusterRoleBinding") {
			if b.GetName() == fullname+"-cluster-autoscaler" {
				binding = b
			}
		}
		Expect(binding).NotTo(BeNil())
		Expect(field(binding, "subjects")).To(ConsistOf(map[string]any{"kind": "ServiceAccount", "name": "cluster-autoscaler", "namespace": "kube-system"}))
	})

	It("turns values into manager flags and Pod settings", func() {
		objs := template("featureGates.MachinePool=false", "replicas=2", "controllers={machinepool}", "watchNamespace=team-a",
			"extraArgs={--sync-period=5m}", "nodeSelector.pool=infra", "tolerations[0].key=infra",
			"tolerations[0].operator=Exists", "image.tag=dev", "leaderElection.enabled=true")
		Expect(managerArgs(objs)).To(ContainElements("--feature-gates=MachinePool=false", "--controllers=machinepool",
			"--namespace=team-a", "--sync-period=5m", "--leader-elect", "--leader-elect-namespace="+namespace))
		d := one(objs, "Deployment")
		Expect(field(d, "spec", "replicas")).To(BeEquivalentTo(2))
		Expect(field(d, "spec", "template", "spec", "nodeSelector")).To(Equal(map[string]any{"pool": "infra"}))
		Expect(field(d, "spec", "template", "spec", "tolerations")).To(HaveLen(1))
		Expect(field(d, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)["image"]).To(HaveSuffix(":dev"))

		objs = template("metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.labels.release=prometheus")
		monitor := one(objs, "ServiceMonitor")
		Expect(monitor.GetLabels()).To(HaveKeyWithValue("release", "prometheus"))
		Expect(field(monitor, "spec", "selector", "matchLabels")).To(HaveKeyWithValue("app.kubernetes.io/component", "metrics"))
		var metricsService *unstructured.Unstructured
		for _, svc := range byKind(objs, "Service") {
			if svc.GetLabels()["app.kubernetes.io/component"] == "metrics" {
				metricsService = svc
			}
		}
		Expect(metricsService).NotTo(BeNil(), "the ServiceMonitor selects the metrics Service")
		Expect(field(metricsService, "spec", "ports")).To(ConsistOf(HaveKeyWithValue("name", "metrics")))

		objs = template("webhook.enabled=false", "crds.machinePool=false", "leaderElection.enabled=false", "metrics.enabled=false")
		Expect(managerArgs(objs)).To(ContainElements("--webhook-port=0", "--metrics-bind-address=0"))
		Expect(managerArgs(objs)).NotTo(ContainElement("--leader-elect"))
		Expect(byKind(objs, "ValidatingWebhookConfiguration")).To(BeEmpty())
		Expect(byKind(objs, "Role")).To(BeEmpty())
		Expect(byKind(objs, "Service")).To(BeEmpty())
	})

	It("sets the manager's GOMEMLIMIT to 90 % of its memory limit, to a given value, or not at all", func() {
		goMemLimit := func(set ...string) any {
			GinkgoHelper()
			container := field(one(template(set...), "Deployment"), "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
			env, _ := container["env"].([]any)
			for _, env := range env {
				if env := env.(map[string]any); env["name"] == "GOMEMLIMIT" {
					return env["value"]
				}
			}
			return nil
		}
		Expect(goMemLimit()).To(Equal("460MiB"), "90 % of the default 512Mi limit")
		Expect(goMemLimit("resources.limits.memory=1G")).To(Equal("858MiB"))
		Expect(goMemLimit("goMemLimit=400MiB")).To(Equal("400MiB"))
		Expect(goMemLimit("goMemLimit=")).To(BeNil())
		Expect(goMemLimit("resources.limits=null")).To(BeNil(), "no memory limit, nothing to keep under")
	})

	It("uses cert-manager when asked: a Certificate and the CA injected, no chart-made Secret or caBundle", func() {
		objs := template("webhook.certManager.enabled=true")
		Expect(byKind(objs, "Secret")).To(BeEmpty())
		Expect(one(objs, "Issuer").GetName()).To(Equal(fullname + "-selfsigned"))
		cert := one(objs, "Certificate")
		Expect(field(cert, "spec", "dnsNames")).To(ContainElement(fullname + "-webhook." + namespace + ".svc"))
		Expect(field(cert, "spec", "secretName")).To(Equal(fullname + "-webhook-cert"))
		for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
			cfg := one(objs, kind)
			Expect(cfg.GetAnnotations()).To(HaveKeyWithValue("cert-manager.io/inject-ca-from", namespace+"/"+fullname+"-webhook"))
			for _, w := range field(cfg, "webhooks").([]any) {
				Expect(w.(map[string]any)["clientConfig"]).NotTo(HaveKey("caBundle"))
			}
		}
		crd := crdNamed(objs, "machinepools.cluster.x-k8s.io")
		Expect(crd.GetAnnotations()).To(HaveKeyWithValue("cert-manager.io/inject-ca-from", namespace+"/"+fullname+"-webhook"),
			"the injector fills the conversion webhook's caBundle too")
		Expect(field(crd, "spec", "conversion", "webhook", "clientConfig")).NotTo(HaveKey("caBundle"))

		objs = template("webhook.certManager.enabled=true", "webhook.certManager.issuerRef.kind=ClusterIssuer",
			"webhook.certManager.issuerRef.name=corp-ca")
		Expect(byKind(objs, "Issuer")).To(BeEmpty())
		Expect(field(one(objs, "Certificate"), "spec", "issuerRef")).To(Equal(map[string]any{"kind": "ClusterIssuer", "name": "corp-ca"}))

		objs = template("crds.machinePool=false", "webhook.certManager.enabled=true")
		Expect(byKind(objs, "MutatingWebhookConfiguration")).To(BeEmpty())
	})

	DescribeTable("refuses bad values with a message that names them",
		func(want string, set ...string) {
			args := []string{"template", release, chart}
			for _, s := range set {
				args = append(args, "--set", s)
			}
			_, stderr, err := tryRun(helmBin, args...)
			Expect(err).To(HaveOccurred())
			Expect(stderr).To(ContainSubstring(want))
		},
		Entry("a misspelt value", "additional properties 'replica' not allowed", "replica=2"),
		Entry("replicas not a number", "/replicas", "replicas=two"),
		Entry("an unknown controller", "/controllers/0", "controllers={machinepools}"),
		Entry("a webhook URL that is not https", "/webhook/url", "webhook.url=http://127.0.0.1:9443"),
		Entry("extra args that are not flags", "/extraArgs/0", "extraArgs={sync-period=5m}"),
		Entry("a GOMEMLIMIT the Go runtime does not read", "/goMemLimit", "goMemLimit=400Mi"),
		Entry("a memory limit goMemLimit auto cannot read", "set goMemLimit (e.g. 400MiB)", "resources.limits.memory=2e9"),
		Entry("two replicas without leader election", "replicas > 1 needs leaderElection.enabled", "replicas=2", "leaderElection.enabled=false"),
		Entry("the MachinePool controller where Cluster API owns MachinePools", "drop machinepool from controllers",
			"crds.machinePool=false", "controllers={machinepool}"),
		Entry("our MachinePool CRD without the webhook server that converts it", "webhook.enabled=false with crds.machinePool=true",
			"webhook.enabled=false"),
	)
})

var _ = Describe("the chart, installed into a real API server", Ordered, func() {
	var (
		webhookPort int
		manager     *gexec.Session
	)

	AfterAll(func() {
		if manager != nil {
			manager.Terminate().Wait(10 * time.Second)
		}
	})

	It("creates every object of the release", func() {
		webhookPort = support.FreePort()
		run(helmBin, "install", release, chart, "--kubeconfig", adminKcfg, "--namespace", namespace, "--create-namespace",
			"--set", fmt.Sprintf("webhook.url=https://127.0.0.1:%d", webhookPort))
		manifest := parse(run(helmBin, "get", "manifest", release, "--kubeconfig", adminKcfg, "--namespace", namespace))
		Expect(len(manifest)).To(BeNumerically(">=", 13))
		for _, o := range manifest {
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(o.GroupVersionKind())
			key := client.ObjectKey{Name: o.GetName()}
			if o.GetNamespace() != "" || isNamespaced(o.GetKind()) {
				key.Namespace = namespace
			}
			Expect(k8s.Get(ctx, key, got)).To(Succeed(), "%s %s", o.GetKind(), o.GetName())
		}
	})

	// startManager runs the manager as the chart's Deployment would: with the chart's ServiceAccount token and
	// the chart-made certificate, serving the webhooks where the release points them.
	startManager := func() {
		GinkgoHelper()
		certDir := GinkgoT().TempDir()
		secret := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: fullname + "-webhook-cert"}, secret)).To(Succeed())
		for _, f := range []string{"tls.crt", "tls.key"} {
			Expect(os.WriteFile(filepath.Join(certDir, f), secret.Data[f], 0o600)).To(Succeed())
		}
		saKubeconfig := support.ServiceAccountKubeconfig(cfg, namespace, fullname, filepath.Join(GinkgoT().TempDir(), "sa.kubeconfig"))
		var err error
		manager, err = gexec.Start(exec.CommandContext(ctx, managerBin, "--kubeconfig="+saKubeconfig,
			"--leader-elect", "--leader-elect-namespace="+namespace, "--leader-elect-retry-period=500ms",
			fmt.Sprintf("--webhook-port=%d", webhookPort), "--webhook-cert-dir="+certDir,
			"--metrics-bind-address=0", "--health-probe-bind-address=0"), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		// The chart's webhooks point at this manager: applying before it listens would be refused.
		Eventually(func() error {
			conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", webhookPort), time.Second)
			if err == nil {
				_ = conn.Close()
			}
			return err
		}).Should(Succeed(), "the manager's webhook server listens")
	}

	It("gives the manager, with the chart's ServiceAccount token, all it needs to drive a pool to Running through the chart's webhooks", func() {
		By("serving the webhooks with the chart-made certificate and running as the chart's ServiceAccount")
		startManager()

		By("applying the cluster-less sample; the workload cluster is this same API server, reached through the kubeconfig Secret")
		ns := applySample("cluster-less.yaml")
		Eventually(func() corev1beta1.MachinePoolStatus {
			p := &corev1beta1.MachinePool{}
			_ = k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "workers"}, p)
			return p.Status
		}).WithTimeout(90 * time.Second).WithPolling(time.Second).Should(And(
			HaveField("Phase", "Running"), HaveField("ReadyReplicas", BeEquivalentTo(3)), HaveField("NodeRefs", HaveLen(3))))

		By("one MachinePool Machine per instance, Running")
		Eventually(func() []string {
			machines := &capi.MachineList{}
			_ = k8s.List(ctx, machines, client.InNamespace(ns))
			var phases []string
			for _, m := range machines.Items {
				phases = append(phases, m.Status.Phase)
			}
			return phases
		}).WithTimeout(30 * time.Second).Should(And(HaveLen(3), HaveEach("Running")))

		By("the mutating webhook having defaulted the MachinePool")
		p := &corev1beta1.MachinePool{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "workers"}, p)).To(Succeed())
		Expect(p.Labels).To(HaveKeyWithValue("cluster.x-k8s.io/cluster-name", "local"))
		Expect(p.Spec.MinReadySeconds).To(Equal(ptr.To[int32](0)))

		By("the validating webhook refusing a bad SimMachinePool")
		bad := &infrav1beta1.SimMachinePool{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bad"}}
		bad.Spec.Simulation = &infrav1beta1.Simulation{BootDelay: &metav1.Duration{Duration: -time.Second}}
		err := k8s.Create(ctx, bad)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("must not be negative"))

		By("the manager never having been refused anything")
		Expect(string(manager.Err.Contents())).NotTo(ContainSubstring("forbidden"))
	})

	It("keeps the webhook certificate on upgrade", func() {
		before := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: fullname + "-webhook-cert"}, before)).To(Succeed())
		run(helmBin, "upgrade", release, chart, "--kubeconfig", adminKcfg, "--namespace", namespace, "--reuse-values",
			"--set", "extraArgs={--sync-period=5m}")
		after := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: fullname + "-webhook-cert"}, after)).To(Succeed())
		Expect(after.Data).To(Equal(before.Data))
		cfg := &unstructured.Unstructured{}
		cfg.SetAPIVersion("admissionregistration.k8s.io/v1")
		cfg.SetKind("ValidatingWebhookConfiguration")
		Expect(k8s.Get(ctx, client.ObjectKey{Name: fullname + "-validating"}, cfg)).To(Succeed())
		for _, w := range field(cfg, "webhooks").([]any) {
			caBundle := w.(map[string]any)["clientConfig"].(map[string]any)["caBundle"].(string)
			Expect(base64.StdEncoding.DecodeString(caBundle)).To(Equal(before.Data["ca.crt"]))
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: "machinepools.cluster.x-k8s.io"}, crd)).To(Succeed())
		Expect(crd.Spec.Conversion.Webhook.ClientConfig.CABundle).To(Equal(before.Data["ca.crt"]), "the conversion webhook's CA too")
		Expect(k8s.List(ctx, &corev1beta1.MachinePoolList{})).To(Succeed(), "v1beta1 reads still convert")
	})

	It("keeps the CRDs, and so the pools, on uninstall", func() {
		manager.Terminate().Wait(10 * time.Second)
		run(helmBin, "uninstall", release, "--kubeconfig", adminKcfg, "--namespace", namespace)
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: fullname}, &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "apps/v1", "kind": "Deployment"}}))
		}).Should(BeTrue())
		list := &corev1beta2.MachinePoolList{}
		Expect(k8s.List(ctx, list)).To(Succeed(), "v1beta2, the stored version, reads without the webhook")
		Expect(list.Items).To(HaveLen(1))
		Expect(k8s.Get(ctx, client.ObjectKey{Name: "machines.cluster.x-k8s.io"}, &apiextensionsv1.CustomResourceDefinition{})).To(Succeed(),
			"Cluster API's Machine CRD is kept too")

		By("v1beta1 reads failing, saying why, while no manager converts (the README's uninstall section)")
		// A GET reads etcd and must convert; a list may still be served from the watch cache's earlier conversions.
		key := client.ObjectKeyFromObject(&list.Items[0])
		err := k8s.Get(ctx, key, &corev1beta1.MachinePool{})
		Expect(err).To(MatchError(ContainSubstring("conversion webhook for cluster.x-k8s.io/v1beta2, Kind=MachinePool failed")))

		By("installing the chart again: the kept CRD points at the new release's webhook, and v1beta1 reads work again")
		run(helmBin, "install", release, chart, "--kubeconfig", adminKcfg, "--namespace", namespace,
			"--set", fmt.Sprintf("webhook.url=https://127.0.0.1:%d", webhookPort))
		startManager()
		Eventually(func() error { return k8s.Get(ctx, key, &corev1beta1.MachinePool{}) }).Should(Succeed())
	})
})

func isNamespaced(kind string) bool {
	switch kind {
	case "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "Namespace":
		return false
	}
	return true
}

// applySample applies a sample into a new namespace with the admin kubeconfig as the workload cluster's.
func applySample(file string) string {
	GinkgoHelper()
	raw, err := os.ReadFile(filepath.Join(root, "config", "samples", file))
	Expect(err).NotTo(HaveOccurred())
	quoted, err := json.Marshal(string(adminRaw))
	Expect(err).NotTo(HaveOccurred())
	manifest := strings.ReplaceAll(string(raw), "REPLACE-WITH-THE-WORKLOAD-CLUSTER-KUBECONFIG", string(quoted))
	path := filepath.Join(GinkgoT().TempDir(), file)
	Expect(os.WriteFile(path, []byte(manifest), 0o600)).To(Succeed())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "sample-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	run(kubectlBin, "--kubeconfig", adminKcfg, "apply", "-n", ns.Name, "-f", path)
	return ns.Name
}
