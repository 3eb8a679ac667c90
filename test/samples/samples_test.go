package samples_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/test/support"
)

// A management control plane with only our CRDs (Cluster API is installed half-way, as a user would), a
// workload control plane, the manager binary as a process, and kubectl.
var (
	mgmtEnv, workloadEnv *envtest.Environment
	k8s                  client.Client
	kubectl              func(args ...string) (io.Reader, io.Reader, error)
	workloadKubeconfig   []byte
	manager              *gexec.Session
	ctx                  = context.Background()
)

func TestSamples(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Samples Suite")
}

var _ = BeforeSuite(func() {
	mgmtEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := mgmtEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(corev1beta1.AddToScheme(scheme)).To(Succeed())
	Expect(corev1beta2.AddToScheme(scheme)).To(Succeed())
	Expect(apiextensionsv1.AddToScheme(scheme)).To(Succeed())
	Expect(infrav1beta1.AddToScheme(scheme)).To(Succeed())
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	admin, err := mgmtEnv.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	kc, err := admin.Kubectl()
	Expect(err).NotTo(HaveOccurred())
	kubectl = kc.Run
	mgmtKubeconfig, err := admin.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	kubeconfigPath := filepath.Join(GinkgoT().TempDir(), "management.kubeconfig")
	Expect(os.WriteFile(kubeconfigPath, mgmtKubeconfig, 0o600)).To(Succeed())

	workloadEnv = &envtest.Environment{}
	_, err = workloadEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	wadmin, err := workloadEnv.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	workloadKubeconfig, err = wadmin.KubeConfig()
	Expect(err).NotTo(HaveOccurred())

	bin, err := gexec.Build("github.com/machinepool-operator/machinepool-operator/cmd/manager")
	Expect(err).NotTo(HaveOccurred())
	manager, err = gexec.Start(execCommand(bin, append([]string{"--kubeconfig=" + kubeconfigPath,
		"--metrics-bind-address=0", "--health-probe-bind-address=0"}, support.ConversionByManager(mgmtEnv)...)...), GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	support.WaitForConversion(cfg)
})

var _ = AfterSuite(func() {
	// The manager's watches must end before the API servers stop.
	if manager != nil {
		manager.Terminate().Wait(10 * time.Second)
	}
	gexec.CleanupBuildArtifacts()
	for _, env := range []*envtest.Environment{mgmtEnv, workloadEnv} {
		if env != nil {
			Expect(env.Stop()).To(Succeed())
		}
	}
})

func readAll(r io.Reader) string {
	b, _ := io.ReadAll(r)
	return string(b)
}

// applySample applies a sample into a new namespace with the workload kubeconfig in place of its placeholder.
func applySample(file string) string {
	GinkgoHelper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", file))
	Expect(err).NotTo(HaveOccurred())
	quoted, err := json.Marshal(string(workloadKubeconfig))
	Expect(err).NotTo(HaveOccurred())
	manifest := strings.ReplaceAll(string(raw), "REPLACE-WITH-THE-WORKLOAD-CLUSTER-KUBECONFIG", string(quoted))
	path := filepath.Join(GinkgoT().TempDir(), file)
	Expect(os.WriteFile(path, []byte(manifest), 0o600)).To(Succeed())

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "sample-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	_, stderr, err := kubectl("apply", "-n", ns.Name, "-f", path)
	Expect(err).NotTo(HaveOccurred(), "kubectl apply: %s", readAll(stderr))
	return ns.Name
}

func poolStatus(ns, name string) func() corev1beta1.MachinePoolStatus {
	return func() corev1beta1.MachinePoolStatus {
		p := &corev1beta1.MachinePool{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, p); err != nil {
			return corev1beta1.MachinePoolStatus{}
		}
		return p.Status
	}
}

func runningWith(n int32) OmegaMatcher {
	return And(HaveField("Phase", "Running"), HaveField("ReadyReplicas", n), HaveField("NodeRefs", HaveLen(int(n))))
}

var _ = Describe("config/samples", Ordered, func() {
	DescribeTable("cluster-less samples converge to Running with Ready Nodes in the workload cluster",
		func(file string) {
			ns := applySample(file)
			Eventually(poolStatus(ns, "workers")).WithTimeout(90 * time.Second).WithPolling(time.Second).Should(runningWith(3))
		},
		Entry("v1beta2", "cluster-less.yaml"),
		Entry("v1beta1", "cluster-less-v1beta1.yaml"),
	)

	It("with-cluster.yaml converges once the Cluster reports its infrastructure ready", func() {
		Expect(envtest.InstallCRDs(mgmtEnv.Config, envtest.CRDInstallOptions{
			Paths: []string{filepath.Join("..", "..", "config", "crd", "external")}, ErrorIfPathMissing: true,
		})).Error().NotTo(HaveOccurred(), "run `make capi-crds`")
		ns := applySample("with-cluster.yaml")

		By("the SimCluster reporting the workload API endpoint from the kubeconfig")
		Eventually(func() infrav1beta1.SimClusterStatus {
			sc := &infrav1beta1.SimCluster{}
			_ = k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "demo"}, sc)
			return sc.Status
		}).WithTimeout(60 * time.Second).Should(HaveField("Ready", true))
		Consistently(poolStatus(ns, "demo-workers")).WithTimeout(3 * time.Second).Should(HaveField("Phase", Or(BeEmpty(), Equal("Pending"))))

		By("standing in for Cluster API's cluster controller with the README's status patch")
		_, stderr, err := kubectl("patch", "cluster", "demo", "-n", ns, "--subresource=status", "--type=merge",
			"-p", `{"status":{"infrastructureReady":true}}`)
		Expect(err).NotTo(HaveOccurred(), "kubectl patch: %s", readAll(stderr))
		Eventually(poolStatus(ns, "demo-workers")).WithTimeout(90 * time.Second).WithPolling(time.Second).Should(runningWith(2))
	})
})
