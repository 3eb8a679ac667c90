package machinepoolmachine_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/internal/cloud/sim"
	"github.com/machinepool-operator/machinepool-operator/internal/controller/machinepool"
	"github.com/machinepool-operator/machinepool-operator/internal/controller/machinepoolmachine"
	"github.com/machinepool-operator/machinepool-operator/internal/simprovider"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
	"github.com/machinepool-operator/machinepool-operator/test/support"
)

// The three controllers of a standalone install run in-process against a management control plane that serves
// our CRDs and Cluster API's Machine, MachineSet and MachineDeployment CRDs (not its Cluster CRD: pools run
// without Cluster objects), and a workload control plane where the simulated instances register their Nodes.
var (
	mgmtEnv, workloadEnv *envtest.Environment
	k8s, nodes           client.Client
	workloadKubeconfig   []byte
	simCloud             *sim.Cloud
	// nodeWrites counts the Node writes sent through the controllers' workload clients (the simulated
	// kubelets write Node status, which is not counted).
	nodeWrites *writeCounter
	ctx        context.Context
	cancel     context.CancelFunc
)

func TestMachinePoolMachines(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(45 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "MachinePool Machines Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme,
		corev1beta1.AddToScheme, corev1beta2.AddToScheme, infrav1beta1.AddToScheme, capi.AddToScheme} {
		Expect(add(scheme)).To(Succeed())
	}
	external := filepath.Join("..", "..", "..", "config", "crd", "external")
	mgmtEnv = &envtest.Environment{
		CRDDirectoryPaths: []string{filepath.Join("..", "..", "..", "config", "crd", "bases"),
			filepath.Join(external, "cluster.x-k8s.io_machines.yaml"),
			filepath.Join(external, "cluster.x-k8s.io_machinesets.yaml"),
			filepath.Join(external, "cluster.x-k8s.io_machinedeployments.yaml")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := mgmtEnv.Start()
	Expect(err).NotTo(HaveOccurred(), "run `make capi-crds` for Cluster API's Machine CRDs")
	support.ServeConversion(ctx, mgmtEnv)
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	workloadEnv = &envtest.Environment{}
	wcfg, err := workloadEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	nodes, err = client.New(wcfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	admin, err := workloadEnv.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	workloadKubeconfig, err = admin.KubeConfig()
	Expect(err).NotTo(HaveOccurred())

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Client: client.Options{Cache: &client.CacheOptions{Unstructured: true}}})
	Expect(err).NotTo(HaveOccurred())
	// One workload client for all three controllers, as the manager builds it.
	nodeWrites = &writeCounter{}
	tracker := workload.NewTracker(mgr.GetAPIReader(), mgr.GetScheme(), workload.Options{WrapTransport: nodeWrites.wrap})
	Expect(mgr.Add(tracker)).To(Succeed())
	Expect((&machinepool.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("machinepool-controller"), Workload: tracker}).
		SetupWithManager(ctx, mgr)).To(Succeed())
	Expect((&machinepoolmachine.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("machinepoolmachine-controller"), Workload: tracker}).
		SetupWithManager(ctx, mgr)).To(Succeed())
	// The Sim provider as cmd wires it.
	simCloud, err = simprovider.Setup(ctx, mgr, simprovider.Options{Workload: tracker, Heartbeat: 5 * time.Second, Seed: 1})
	Expect(err).NotTo(HaveOccurred())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
})

// writeCounter counts, per Node name, the PATCH and PUT requests sent to a Node itself (not its status).
type writeCounter struct {
	mu     sync.Mutex
	writes map[string]int
}

func (c *writeCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if name, ok := strings.CutPrefix(req.URL.Path, "/api/v1/nodes/"); ok && !strings.Contains(name, "/") &&
			(req.Method == http.MethodPatch || req.Method == http.MethodPut) {
			c.mu.Lock()
			if c.writes == nil {
				c.writes = map[string]int{}
			}
			c.writes[name]++
			c.mu.Unlock()
		}
		return rt.RoundTrip(req)
	})
}

// of returns the writes counted for each named Node.
func (c *writeCounter) of(names ...string) map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for _, n := range names {
		out[n] = c.writes[n]
	}
	return out
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	for _, env := range []*envtest.Environment{mgmtEnv, workloadEnv} {
		if env != nil {
			Expect(env.Stop()).To(Succeed())
		}
	}
})
