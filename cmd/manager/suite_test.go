package main_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/test/support"
)

// The suite builds the manager binary and runs it as a separate process against a real kube-apiserver, the
// way users run it out of cluster.
var (
	ctx                = context.Background()
	testEnv            *envtest.Environment
	workloadEnv        *envtest.Environment
	k8s                client.Client
	nodes              client.Client
	managerBin         string
	kubeconfig         string
	workloadKubeconfig []byte
	// webhookArgs serve the MachinePool conversion where the CRD expects it.
	webhookArgs []string
	// workloadAudit is the workload API server's audit log of countedUser's requests.
	workloadAudit string
)

// countedUser is the workload cluster user whose requests the audit log records.
const countedUser = "counted"

func TestManager(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Manager Suite")
}

var _ = BeforeSuite(func() {
	// Our MachinePool CRD beside Cluster API v1.7.1's own Cluster, Machine, MachineSet and MachineDeployment
	// CRDs (copied by `make capi-crds`), and generic provider kinds played by the specs.
	testEnv = &envtest.Environment{
		CRDDirectoryPaths: []string{
			filepath.Join("..", "..", "config", "crd", "bases"),
			filepath.Join("..", "..", "config", "crd", "external"),
			filepath.Join("..", "..", "test", "fixtures", "genericmachinepool.yaml"),
			filepath.Join("..", "..", "test", "fixtures", "genericbootstrapconfig.yaml"),
		},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	// Every manager the specs start serves the MachinePool conversion the CRD points at.
	webhookArgs = support.ConversionByManager(testEnv)
	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(corev1beta1.AddToScheme(scheme)).To(Succeed())
	Expect(infrav1beta1.AddToScheme(scheme)).To(Succeed())
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	// The workload API server logs the requests of one user, countedUser, for the specs that count requests.
	dir := GinkgoT().TempDir()
	policy := filepath.Join(dir, "audit-policy.yaml")
	Expect(os.WriteFile(policy, []byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n"+
		"- level: Metadata\n  users: ["+countedUser+"]\n- level: None\n"), 0o600)).To(Succeed())
	workloadAudit = filepath.Join(dir, "audit.log")
	workloadEnv = &envtest.Environment{}
	workloadEnv.ControlPlane.GetAPIServer().Configure().Set("audit-log-path", workloadAudit).Set("audit-policy-file", policy).
		Set("audit-log-format", "json").Set("audit-log-mode", "batch").Set("audit-log-batch-max-wait", "1s")
	wcfg, err := workloadEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	nodes, err = client.New(wcfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	workloadAdmin, err := workloadEnv.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	workloadKubeconfig, err = workloadAdmin.KubeConfig()
	Expect(err).NotTo(HaveOccurred())

	admin, err := testEnv.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	adminKubeconfig, err := admin.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	kubeconfig = filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	Expect(os.WriteFile(kubeconfig, adminKubeconfig, 0o600)).To(Succeed())

	managerBin, err = gexec.Build("github.com/machinepool-operator/machinepool-operator/cmd/manager")
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	gexec.KillAndWait()
	gexec.CleanupBuildArtifacts()
	for _, env := range []*envtest.Environment{testEnv, workloadEnv} {
		if env != nil {
			Expect(env.Stop()).To(Succeed())
		}
	}
})
