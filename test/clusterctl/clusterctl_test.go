package clusterctl_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/machinepool-operator/machinepool-operator/test/support"
)

const (
	version  = "v0.1.0"
	provider = "sim:" + version
)

var (
	clusterctlBin string
	configFile    string
	home          string
	ctx           = context.Background()
)

func TestClusterctl(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "clusterctl Suite")
}

var _ = BeforeSuite(func() {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	Expect(err).NotTo(HaveOccurred())
	clusterctlBin = filepath.Join(root, "bin", "clusterctl")
	tmp := GinkgoT().TempDir()
	// The local repository layout clusterctl reads: {base}/{provider label}/{version}/{file}.
	release := filepath.Join(tmp, "repository", "infrastructure-sim", version)
	for _, target := range []string{clusterctlBin, "release-manifests"} {
		out, err := exec.CommandContext(ctx, "make", "-s", "-C", root, target, "RELEASE_DIR="+release).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "make %s: %s", target, out)
	}
	configFile = filepath.Join(tmp, "clusterctl.yaml")
	Expect(os.WriteFile(configFile, fmt.Appendf(nil, `providers:
- name: sim
  type: InfrastructureProvider
  url: file://%s/infrastructure-components.yaml
`, release), 0o600)).To(Succeed())
	home = filepath.Join(tmp, "home")
})

// clusterctl runs the binary with a private home and the given variables on top of a clean environment.
func clusterctl(vars map[string]string, args ...string) (string, string, error) {
	cmd := exec.CommandContext(ctx, clusterctlBin, append(args, "--config", configFile)...)
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "CLUSTERCTL_DISABLE_VERSIONCHECK=true"}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
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

func managerArgs(objs []*unstructured.Unstructured) []string {
	GinkgoHelper()
	for _, o := range objs {
		if o.GetKind() == "Deployment" {
			containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			args, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
			return args
		}
	}
	Fail("no Deployment")
	return nil
}

var _ = Describe("clusterctl generate provider --infrastructure sim", func() {
	DescribeTable("installs the sim provider alone, with the MachinePool gate from EXP_MACHINE_POOL",
		func(vars map[string]string, gate string) {
			out, stderr, err := clusterctl(vars, "generate", "provider", "--infrastructure", provider)
			Expect(err).NotTo(HaveOccurred(), stderr)
			Expect(out).NotTo(ContainSubstring("${"), "every variable substituted")
			objs := parse(out)
			Expect(managerArgs(objs)).To(ContainElements("--controllers=simmachinepool", "--feature-gates=MachinePool="+gate))

			kinds := map[string][]string{}
			for _, o := range objs {
				kinds[o.GetKind()] = append(kinds[o.GetKind()], o.GetName())
				Expect(o.GetLabels()).To(HaveKeyWithValue("cluster.x-k8s.io/provider", "infrastructure-sim"), "%s %s", o.GetKind(), o.GetName())
				switch o.GetKind() {
				case "Namespace":
					Expect(o.GetName()).To(Equal("machinepool-operator-system"))
				case "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "ValidatingWebhookConfiguration":
				default:
					Expect(o.GetNamespace()).To(Equal("machinepool-operator-system"), "%s %s", o.GetKind(), o.GetName())
				}
				if o.GetKind() == "ValidatingWebhookConfiguration" {
					hooks, _, _ := unstructured.NestedSlice(o.Object, "webhooks")
					for _, h := range hooks {
						Expect(h.(map[string]any)["name"]).To(HaveSuffix(".infrastructure.cluster.x-k8s.io"), "no MachinePool webhook")
					}
					Expect(o.GetAnnotations()).To(HaveKey("cert-manager.io/inject-ca-from"))
				}
			}
			Expect(kinds["CustomResourceDefinition"]).To(ConsistOf("simclusters.infrastructure.cluster.x-k8s.io",
				"simmachinepools.infrastructure.cluster.x-k8s.io", "simmachinepooltemplates.infrastructure.cluster.x-k8s.io",
				"simmachinepoolmachines.infrastructure.cluster.x-k8s.io"))
			Expect(kinds).NotTo(HaveKey("MutatingWebhookConfiguration"))
			Expect(kinds).To(HaveKey("Certificate"))
			Expect(kinds).To(HaveKey("Issuer"))
			Expect(kinds["Service"]).To(ContainElement("machinepool-operator-webhook-service"))
		},
		Entry("unset: on by default, as in Cluster API v1.7", map[string]string{}, "true"),
		Entry("true", map[string]string{"EXP_MACHINE_POOL": "true"}, "true"),
		Entry("false", map[string]string{"EXP_MACHINE_POOL": "false"}, "false"),
	)
})

var _ = Describe("clusterctl generate cluster --infrastructure sim", Ordered, func() {
	var testEnv *envtest.Environment
	var kubectl func(args ...string) (string, string, error)

	BeforeAll(func() {
		testEnv = &envtest.Environment{
			CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases"),
				filepath.Join("..", "..", "config", "crd", "external")},
			ErrorIfCRDPathMissing: true,
		}
		_, err := testEnv.Start()
		Expect(err).NotTo(HaveOccurred(), "run `make capi-crds` for Cluster API's Cluster CRD")
		DeferCleanup(testEnv.Stop)
		// Our MachinePool CRD stands in for Cluster API core's here; it converts v1beta1 through a webhook.
		conversionCtx, stopConversion := context.WithCancel(context.Background())
		DeferCleanup(stopConversion)
		support.ServeConversion(conversionCtx, testEnv)
		admin, err := testEnv.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
		Expect(err).NotTo(HaveOccurred())
		k, err := admin.Kubectl()
		Expect(err).NotTo(HaveOccurred())
		kubectl = func(args ...string) (string, string, error) {
			stdout, stderr, err := k.Run(args...)
			out, _ := io.ReadAll(stdout)
			errOut, _ := io.ReadAll(stderr)
			return string(out), string(errOut), err
		}
	})

	It("names its variables", func() {
		out, stderr, err := clusterctl(nil, "generate", "cluster", "demo", "--infrastructure", provider,
			"--target-namespace", "team-a", "--list-variables")
		Expect(err).NotTo(HaveOccurred(), stderr)
		required, optional, found := strings.Cut(out, "Optional Variables:")
		Expect(found).To(BeTrue(), out)
		for _, v := range []string{"KUBERNETES_VERSION", "WORKLOAD_KUBECONFIG_B64"} {
			Expect(required).To(MatchRegexp(`(?m)^\s+- %s\s*$`, v))
		}
		for _, v := range []string{"CLUSTER_NAME", "NAMESPACE", "WORKER_MACHINE_COUNT"} {
			Expect(optional).To(MatchRegexp(`(?m)^\s+- %s\s`, v), "clusterctl's own, from its flags")
		}
		Expect(optional).To(MatchRegexp(`(?m)^\s+- BOOTSTRAP_DATA_B64\s+\(defaults to "I2Nsb3VkLWNvbmZpZwo="\)`))
		Expect(optional).To(MatchRegexp(`(?m)^\s+- SIM_INSTANCE_TYPE\s+\(defaults to "sim.medium"\)`))
	})

	It("refuses to render without the workload kubeconfig", func() {
		_, stderr, err := clusterctl(nil, "generate", "cluster", "demo", "--infrastructure", provider,
			"--target-namespace", "team-a", "--kubernetes-version", "v1.30.0")
		Expect(err).To(HaveOccurred())
		Expect(stderr).To(ContainSubstring("WORKLOAD_KUBECONFIG_B64"))
	})

	It("renders a Cluster on a SimCluster with a MachinePool of WORKER_MACHINE_COUNT replicas, which the API server accepts", func() {
		out, stderr, err := clusterctl(map[string]string{"WORKLOAD_KUBECONFIG_B64": "YXBpVmVyc2lvbjogdjEK", "SIM_INSTANCE_TYPE": "sim.large"},
			"generate", "cluster", "demo", "--infrastructure", provider, "--target-namespace", "team-a",
			"--kubernetes-version", "v1.30.0", "--worker-machine-count", "4")
		Expect(err).NotTo(HaveOccurred(), stderr)
		Expect(out).NotTo(ContainSubstring("${"))
		byKind := map[string]*unstructured.Unstructured{}
		for _, o := range parse(out) {
			Expect(o.GetNamespace()).To(Equal("team-a"))
			byKind[o.GetKind()+"/"+o.GetName()] = o
		}
		Expect(byKind).To(HaveKey("Cluster/demo"))
		Expect(byKind).To(HaveKey("SimCluster/demo"))
		Expect(byKind).To(HaveKey("Secret/demo-kubeconfig"))
		Expect(byKind).To(HaveKey("Secret/demo-workers-bootstrap"))
		mp := byKind["MachinePool/demo-workers"]
		Expect(mp).NotTo(BeNil())
		replicas, _, _ := unstructured.NestedFieldNoCopy(mp.Object, "spec", "replicas")
		Expect(replicas).To(BeEquivalentTo(4))
		version, _, _ := unstructured.NestedString(mp.Object, "spec", "template", "spec", "version")
		Expect(version).To(Equal("v1.30.0"))
		kubeconfig, _, _ := unstructured.NestedString(byKind["Secret/demo-kubeconfig"].Object, "data", "value")
		Expect(kubeconfig).To(Equal("YXBpVmVyc2lvbjogdjEK"))
		instanceType, _, _ := unstructured.NestedString(byKind["SimMachinePool/demo-workers"].Object, "spec", "instanceType")
		Expect(instanceType).To(Equal("sim.large"))

		_, stderr, err = kubectl("create", "namespace", "team-a")
		Expect(err).NotTo(HaveOccurred(), stderr)
		path := filepath.Join(GinkgoT().TempDir(), "cluster.yaml")
		Expect(os.WriteFile(path, []byte(out), 0o600)).To(Succeed())
		applied, stderr, err := kubectl("apply", "--server-side", "--dry-run=server", "-f", path)
		Expect(err).NotTo(HaveOccurred(), stderr)
		Expect(applied).To(ContainSubstring("machinepool.cluster.x-k8s.io/demo-workers serverside-applied (server dry run)"))
		Expect(applied).To(ContainSubstring("cluster.cluster.x-k8s.io/demo serverside-applied (server dry run)"))
	})
})
