//go:build e2e

package e2e_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/test/support"
)

// The management control plane serves what the Helm chart installs (our CRDs and Cluster API's Machine CRDs)
// plus the generic provider fixtures; the workload control plane is reached through a TCP proxy the test can
// cut, as if its API server went down. k8s and nodes are the test's own eyes; every change goes through kubectl.
var (
	root                 = filepath.Join("..", "..")
	mgmtEnv, workloadEnv *envtest.Environment
	k8s, nodes           client.Client
	mgmtKubeconfig       string
	workloadViaProxy     []byte
	proxy                *support.TCPProxy
	managerBin           string
	manager              *gexec.Session
	// managers are every manager process the suite started, for the log checks at the end.
	managers []*gexec.Session
	// webhookArgs serve the MachinePool conversion where the CRD expects it.
	webhookArgs []string
	ctx         = context.Background()
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(2 * time.Minute)
	SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
	RunSpecs(t, "End-to-end Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(GinkgoLogr) // the test's own clients; each manager logs to its process's output
	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(corev1beta1.AddToScheme(scheme)).To(Succeed())
	Expect(infrav1beta1.AddToScheme(scheme)).To(Succeed())
	Expect(capi.AddToScheme(scheme)).To(Succeed())
	external := filepath.Join(root, "config", "crd", "external")
	mgmtEnv = &envtest.Environment{
		CRDDirectoryPaths: []string{filepath.Join(root, "config", "crd", "bases"), filepath.Join(root, "test", "fixtures", "genericmachinepool.yaml"),
			filepath.Join(root, "test", "fixtures", "genericbootstrapconfig.yaml"),
			filepath.Join(external, "cluster.x-k8s.io_machines.yaml"), filepath.Join(external, "cluster.x-k8s.io_machinesets.yaml"),
			filepath.Join(external, "cluster.x-k8s.io_machinedeployments.yaml"), filepath.Join(external, "cluster.x-k8s.io_machinehealthchecks.yaml")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := mgmtEnv.Start()
	Expect(err).NotTo(HaveOccurred(), "run `make capi-crds`")
	webhookArgs = support.ConversionByManager(mgmtEnv)
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	workloadEnv = &envtest.Environment{}
	wcfg, err := workloadEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	nodes, err = client.New(wcfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	dir := GinkgoT().TempDir()
	mgmtKubeconfig = filepath.Join(dir, "management.kubeconfig")
	support.WriteAdminKubeconfig(mgmtEnv, mgmtKubeconfig)
	workloadRaw := support.AdminKubeconfig(workloadEnv)
	kc, err := clientcmd.Load(workloadRaw)
	Expect(err).NotTo(HaveOccurred())
	for _, c := range kc.Clusters {
		proxy = support.StartProxy(strings.TrimPrefix(c.Server, "https://"))
		c.Server = "https://" + proxy.Addr
	}
	workloadViaProxy, err = clientcmd.Write(*kc)
	Expect(err).NotTo(HaveOccurred())

	managerBin, err = gexec.Build("github.com/machinepool-operator/machinepool-operator/cmd/manager")
	Expect(err).NotTo(HaveOccurred())
	startManager()
})

var _ = AfterSuite(func() {
	if manager != nil {
		manager.Terminate().Wait(15 * time.Second)
	}
	for _, m := range managers {
		Expect(support.ConflictErrors(m.Err.Contents())).To(BeEmpty(), "write conflicts are retried without an error-level log line")
	}
	gexec.CleanupBuildArtifacts()
	if proxy != nil {
		proxy.Cut()
	}
	for _, env := range []*envtest.Environment{mgmtEnv, workloadEnv} {
		if env != nil {
			Expect(env.Stop()).To(Succeed())
		}
	}
})

// startManager runs the manager binary as a user would out of cluster; extra flags are added to the defaults. It
// returns once the manager converts MachinePools, so the next kubectl apply of one is served.
func startManager(extra ...string) {
	GinkgoHelper()
	manager = runManager(GinkgoWriter, extra...)
	support.WaitForConversion(mgmtEnv.Config)
}

// runManager starts one manager process with the suite's flags plus extra ones (a flag given twice takes its
// last value), its output to out, and keeps it in managers for the log checks at the end.
func runManager(out io.Writer, extra ...string) *gexec.Session {
	GinkgoHelper()
	args := append(append([]string{"--kubeconfig=" + mgmtKubeconfig, "--metrics-bind-address=0",
		"--health-probe-bind-address=0", "--sim-heartbeat-interval=5s"}, webhookArgs...), extra...)
	session, err := gexec.Start(exec.CommandContext(ctx, managerBin, args...), out, out)
	Expect(err).NotTo(HaveOccurred())
	managers = append(managers, session)
	return session
}

// killManager sends SIGKILL: no shutdown hooks, no last writes.
func killManager() {
	GinkgoHelper()
	manager.Kill().Wait(10 * time.Second)
	Expect(manager.ExitCode()).NotTo(Equal(0))
}

// kubectl runs the kubectl built by make envtest against the management cluster.
func kubectl(stdin string, args ...string) string {
	GinkgoHelper()
	cmd := exec.CommandContext(ctx, filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl"),
		append([]string{"--kubeconfig=" + mgmtKubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "kubectl %v: %s", args, out)
	return string(out)
}
