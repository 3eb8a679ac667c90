package kustomize_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

var (
	testEnv *envtest.Environment
	kubectl string
	kcfg    string
)

func TestKustomize(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Kustomize Suite")
}

var _ = BeforeSuite(func() {
	testEnv = &envtest.Environment{}
	_, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	admin, err := testEnv.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	raw, err := admin.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	kcfg = filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	Expect(os.WriteFile(kcfg, raw, 0o600)).To(Succeed())
	kubectl = filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
})

var _ = AfterSuite(func() {
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

func run(stdin []byte, args ...string) string {
	GinkgoHelper()
	cmd := exec.CommandContext(context.Background(), kubectl, args...)
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(stdin), &out, &errOut
	Expect(cmd.Run()).To(Succeed(), "kubectl %v: %s", args, errOut.String())
	return out.String()
}

func render() []*unstructured.Unstructured {
	GinkgoHelper()
	out := run(nil, "kustomize", filepath.Join("..", "..", "config", "default"))
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split(out, "\n---\n") {
		u := &unstructured.Unstructured{}
		Expect(yaml.Unmarshal([]byte(doc), &u.Object)).To(Succeed())
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	return objs
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

var _ = Describe("config/default", func() {
	It("installs everything in machinepool-operator-system with the project's image and a locked-down manager", func() {
		objs := render()
		for _, o := range objs {
			switch o.GetKind() {
			case "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "Namespace", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration":
			default:
				Expect(o.GetNamespace()).To(Equal("machinepool-operator-system"), "%s %s", o.GetKind(), o.GetName())
			}
			Expect(o.GetName()).To(Or(HavePrefix("machinepool-operator-"), ContainSubstring(".")), "%s %s", o.GetKind(), o.GetName())
		}
		Expect(byKind(objs, "CustomResourceDefinition")).To(HaveLen(5))

		deployments := byKind(objs, "Deployment")
		Expect(deployments).To(HaveLen(1))
		d := &appsv1.Deployment{}
		Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(deployments[0].Object, d)).To(Succeed())
		c := d.Spec.Template.Spec.Containers[0]
		Expect(c.Image).To(Equal("ghcr.io/machinepool-operator/machinepool-operator:v0.1.0"))
		Expect(c.Args).To(ContainElements("--leader-elect", "--feature-gates=MachinePool=true"))
		Expect(*d.Spec.Template.Spec.SecurityContext.RunAsNonRoot).To(BeTrue())
		Expect(*c.SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())
		Expect(*c.SecurityContext.AllowPrivilegeEscalation).To(BeFalse())
		Expect(c.Resources.Requests).NotTo(BeEmpty())
		Expect(c.LivenessProbe.HTTPGet.Path).To(Equal("/healthz"))
		Expect(c.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
		Expect(d.Spec.Template.Spec.ServiceAccountName).To(Equal("machinepool-operator-controller-manager"))

		dockerfile, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(dockerfile)).To(ContainSubstring(`ENTRYPOINT ["/manager"]`), "the image the config names runs the manager")
	})

	It("wires the webhooks and the MachinePool conversion to the Service and to cert-manager's certificate", func() {
		objs := render()
		for _, kind := range []string{"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"} {
			cfgs := byKind(objs, kind)
			Expect(cfgs).To(HaveLen(1), kind)
			Expect(cfgs[0].GetAnnotations()).To(HaveKeyWithValue("cert-manager.io/inject-ca-from", "machinepool-operator-system/machinepool-operator-serving-cert"))
			hooks, _, _ := unstructured.NestedSlice(cfgs[0].Object, "webhooks")
			Expect(hooks).NotTo(BeEmpty())
			for _, h := range hooks {
				svc, _, _ := unstructured.NestedStringMap(h.(map[string]any), "clientConfig", "service")
				Expect(svc).To(HaveKeyWithValue("name", "machinepool-operator-webhook-service"))
				Expect(svc).To(HaveKeyWithValue("namespace", "machinepool-operator-system"))
			}
		}
		for _, crd := range byKind(objs, "CustomResourceDefinition") {
			if crd.GetName() != "machinepools.cluster.x-k8s.io" {
				Expect(crd.Object["spec"]).NotTo(HaveKey("conversion"), crd.GetName())
				continue
			}
			Expect(crd.GetAnnotations()).To(HaveKeyWithValue("cert-manager.io/inject-ca-from", "machinepool-operator-system/machinepool-operator-serving-cert"))
			svc, _, _ := unstructured.NestedStringMap(crd.Object, "spec", "conversion", "webhook", "clientConfig", "service")
			Expect(svc).To(Equal(map[string]string{"name": "machinepool-operator-webhook-service",
				"namespace": "machinepool-operator-system", "path": "/convert"}), "v1beta1 requests convert through the manager")
		}
		cert := byKind(objs, "Certificate")
		Expect(cert).To(HaveLen(1))
		names, _, _ := unstructured.NestedStringSlice(cert[0].Object, "spec", "dnsNames")
		Expect(names).To(ContainElement("machinepool-operator-webhook-service.machinepool-operator-system.svc"))
		secret, _, _ := unstructured.NestedString(cert[0].Object, "spec", "secretName")
		Expect(secret).To(Equal("webhook-server-cert"))
	})

	It("is accepted by a real API server (applied server-side; cert-manager's kinds left out: not installed here)", func() {
		var docs []string
		for _, o := range render() {
			if o.GroupVersionKind().Group == "cert-manager.io" {
				continue
			}
			raw, err := yaml.Marshal(o.Object)
			Expect(err).NotTo(HaveOccurred())
			docs = append(docs, string(raw))
		}
		out := run([]byte(strings.Join(docs, "\n---\n")), "--kubeconfig="+kcfg, "apply", "--server-side", "-f", "-")
		Expect(out).To(ContainSubstring("deployment.apps/machinepool-operator-controller-manager serverside-applied"))
		Expect(out).To(ContainSubstring("customresourcedefinition.apiextensions.k8s.io/machinepools.cluster.x-k8s.io serverside-applied"))
	})
})
