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
	// workloadAudit is the workload API server's audit log of countedUser's and shardedUser's requests;
	// managementAudit the management API server's log of the shard users' requests.
	workloadAudit, managementAudit string
)

// The users whose requests the audit logs record: countedUser's and shardedUser's in the workload cluster (the
// request counting spec's, and the sharding spec's, which leaves its pools behind), shardUsers' in the
// management cluster.
const countedUser, shardedUser = "counted", "sharded"

var shardUsers = []string{"shard-a", "shard-b"}

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
	dir := GinkgoT().TempDir()
	managementAudit = filepath.Join(dir, "management-audit.log")
	withAuditLog(testEnv, managementAudit, auditPolicy(filepath.Join(dir, "management-policy.yaml"), shardUsers...))
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

	// The workload API server logs the requests of the users of the specs that read them.
	workloadAudit = filepath.Join(dir, "audit.log")
	workloadEnv = &envtest.Environment{}
	withAuditLog(workloadEnv, workloadAudit, auditPolicy(filepath.Join(dir, "workload-policy.yaml"), countedUser, shardedUser))
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
