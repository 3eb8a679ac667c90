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

// The two release series in the local repository: 0.1 implements contract v1beta1 (for clusterctl v1.7.1),
// 0.2 contract v1beta2 (for clusterctl v1.14.2). Same components, a cluster template each.
const (
	providerV1beta1 = "sim:v0.1.0"
	providerV1beta2 = "sim:v0.2.0"
)

var (
	clusterctlBin string
	// clusterctlV1beta2Bin is Cluster API v1.14.2's clusterctl.
	clusterctlV1beta2Bin string
	configFile           string
	home                 string
	ctx                  = context.Background()
)

func TestClusterctl(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "clusterctl Suite")
}

var _ = BeforeSuite(func() {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	Expect(err).NotTo(HaveOccurred())
	clusterctlBin = filepath.Join(root, "bin", "clusterctl")
	clusterctlV1beta2Bin = filepath.Join(root, "bin", "clusterctl-v1.14")
	for _, bin := range []string{clusterctlBin, clusterctlV1beta2Bin} {
		out, err := exec.CommandContext(ctx, "make", "-s", "-C", root, bin).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "make %s: %s", bin, out)
	}
	tmp := GinkgoT().TempDir()
	// The local repository layout clusterctl reads: {base}/{provider label}/{version}/{file}.
	repo := filepath.Join(tmp, "repository", "infrastructure-sim")
	for version, contract := range map[string]string{"v0.1.0": "v1beta1", "v0.2.0": "v1beta2"} {
		out, err := exec.CommandContext(ctx, "make", "-s", "-C", root, "release-manifests",
			"RELEASE_DIR="+filepath.Join(repo, version), "RELEASE_CONTRACT="+contract).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "make release-manifests: %s", out)
	}
	configFile = filepath.Join(tmp, "clusterctl.yaml")
	Expect(os.WriteFile(configFile, fmt.Appendf(nil, `providers:
- name: sim
  type: InfrastructureProvider
  url: file://%s/latest/infrastructure-components.yaml
`, repo), 0o600)).To(Succeed())
	home = filepath.Join(tmp, "home")
})

// clusterctl runs clusterctl v1.7.1 with a private home and the given variables on top of a clean environment.
func clusterctl(vars map[string]string, args ...string) (string, string, error) {
	return runClusterctl(clusterctlBin, vars, args...)
}

// clusterctlV1beta2 runs clusterctl v1.14.2 the same way.
func clusterctlV1beta2(vars map[string]string, args ...string) (string, string, error) {
	return runClusterctl(clusterctlV1beta2Bin, vars, args...)
}

func runClusterctl(bin string, vars map[string]string, args ...string) (string, string, error) {
	cmd := exec.CommandContext(ctx, bin, append(args, "--config", configFile)...)
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
		func(run func(map[string]string, ...string) (string, string, error), provider string, vars map[string]string, gate string) {
			out, stderr, err := run(vars, "generate", "provider", "--infrastructure", provider)
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
		Entry("clusterctl v1.7.1, series 0.1: unset, on by default as in Cluster API v1.7", clusterctl, providerV1beta1, map[string]string{}, "true"),
		Entry("clusterctl v1.7.1, series 0.1: true", clusterctl, providerV1beta1, map[string]string{"EXP_MACHINE_POOL": "true"}, "true"),
		Entry("clusterctl v1.7.1, series 0.1: false", clusterctl, providerV1beta1, map[string]string{"EXP_MACHINE_POOL": "false"}, "false"),
		Entry("clusterctl v1.14.2, series 0.2: unset", clusterctlV1beta2, providerV1beta2, map[string]string{}, "true"),
		Entry("clusterctl v1.14.2, series 0.2: false", clusterctlV1beta2, providerV1beta2, map[string]string{"EXP_MACHINE_POOL": "false"}, "false"),
	)

	It("is refused by clusterctl v1.7.1 for series 0.2, whose contract it does not know", func() {
		_, stderr, err := clusterctl(nil, "generate", "provider", "--infrastructure", providerV1beta2)
		Expect(err).To(HaveOccurred())
		Expect(stderr).To(ContainSubstring("only compatible with v1beta1 providers, detected v1beta2 for provider sim"))
	})
})

// generateCluster describes `clusterctl generate cluster` of one release series: run is the clusterctl, provider
// the series' release, clusterCRDs where the Cluster CRD of its contract comes from, and apiVersion the Cluster
// API group version its template writes.
func generateCluster(run func(map[string]string, ...string) (string, string, error), provider, clusterCRDs, apiVersion string) {
	var testEnv *envtest.Environment
	var kubectl func(args ...string) (string, string, error)

	BeforeAll(func() {
		testEnv = &envtest.Environment{
			CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases"), clusterCRDs},
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
		out, stderr, err := run(nil, "generate", "cluster", "demo", "--infrastructure", provider,
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
		_, stderr, err := run(nil, "generate", "cluster", "demo", "--infrastructure", provider,
			"--target-namespace", "team-a", "--kubernetes-version", "v1.30.0")
		Expect(err).To(HaveOccurred())
		Expect(stderr).To(ContainSubstring("WORKLOAD_KUBECONFIG_B64"))
	})

	It("renders a Cluster on a SimCluster with a MachinePool of WORKER_MACHINE_COUNT replicas, which the API server accepts", func() {
		out, stderr, err := run(map[string]string{"WORKLOAD_KUBECONFIG_B64": "YXBpVmVyc2lvbjogdjEK", "SIM_INSTANCE_TYPE": "sim.large"},
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
		Expect(byKind["Cluster/demo"].GetAPIVersion()).To(Equal(apiVersion))
		Expect(byKind).To(HaveKey("SimCluster/demo"))
		Expect(byKind).To(HaveKey("Secret/demo-kubeconfig"))
		Expect(byKind).To(HaveKey("Secret/demo-workers-bootstrap"))
		mp := byKind["MachinePool/demo-workers"]
		Expect(mp).NotTo(BeNil())
		Expect(mp.GetAPIVersion()).To(Equal(apiVersion))
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
}

var _ = Describe("clusterctl v1.7.1 generate cluster --infrastructure sim:v0.1.0", Ordered, func() {
	generateCluster(clusterctl, providerV1beta1, filepath.Join("..", "..", "config", "crd", "external"), "cluster.x-k8s.io/v1beta1")
})

var _ = Describe("clusterctl v1.14.2 generate cluster --infrastructure sim:v0.2.0", Ordered, func() {
	generateCluster(clusterctlV1beta2, providerV1beta2,
		filepath.Join("..", "..", "config", "crd", "external", "reference", "v1.14.2", "cluster.x-k8s.io_clusters.yaml"), "cluster.x-k8s.io/v1beta2")
})
