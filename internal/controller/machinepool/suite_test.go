package machinepool_test

import (
	"context"
	"path/filepath"
	"slices"
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
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	"github.com/machinepool-operator/machinepool-operator/internal/controller/machinepool"
	mpmetrics "github.com/machinepool-operator/machinepool-operator/internal/metrics"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
	"github.com/machinepool-operator/machinepool-operator/test/support"
)

// Two real control planes: the management cluster, where MachinePools, the generic provider objects and the
// Cluster live and the controller runs, and a workload cluster whose Nodes the specs create the way kubelets
// would.
var (
	mgmtEnv, workloadEnv *envtest.Environment
	k8s                  client.Client // management cluster
	nodes                client.Client // workload cluster
	workloadKubeconfig   []byte
	clusterCRD           *apiextensionsv1.CustomResourceDefinition
	ctx                  context.Context
	cancel               context.CancelFunc
	// writes is the controller's client; it counts the controller's MachinePool writes.
	writes *countingClient
	// tracker is the workload clients' tracker the controller uses.
	tracker *workload.Tracker
)

// countingClient passes everything through to the manager's client and counts the patches of MachinePools,
// by "<namespace>/<name> spec" (metadata and spec) and "<namespace>/<name> status".
type countingClient struct {
	client.Client
	mu     sync.Mutex
	counts map[string]int
	// writes lists, in order, every create and metadata/spec patch: "<Kind> <namespace>/<name>", and for a
	// MachinePool whether the object sent carried the finalizer.
	writes []string
}

func (c *countingClient) count(obj client.Object, what string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	if _, ok := obj.(*corev1beta2.MachinePool); ok { // the controller writes pools as stored, in v1beta2
		c.counts[client.ObjectKeyFromObject(obj).String()+" "+what]++
		kind = "MachinePool"
		if what == "spec" && slices.Contains(obj.GetFinalizers(), corev1beta1.MachinePoolFinalizer) {
			kind += " with finalizer"
		}
	}
	if what != "status" {
		c.writes = append(c.writes, kind+" "+client.ObjectKeyFromObject(obj).String())
	}
}

// writesIn returns the recorded writes to objects of a namespace, in order.
func (c *countingClient) writesIn(ns string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, w := range c.writes {
		if strings.Contains(w, " "+ns+"/") {
			out = append(out, w)
		}
	}
	return out
}

func (c *countingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	c.count(obj, "create")
	return c.Client.Create(ctx, obj, opts...)
}

// of returns a pool's spec and status patch counts so far.
func (c *countingClient) of(p *corev1beta1.MachinePool) (spec, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := client.ObjectKeyFromObject(p).String()
	return c.counts[key+" spec"], c.counts[key+" status"]
}

func (c *countingClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	c.count(obj, "spec")
	return c.Client.Patch(ctx, obj, patch, opts...)
}

func (c *countingClient) Status() client.SubResourceWriter {
	return countingStatus{SubResourceWriter: c.Client.Status(), c: c}
}

type countingStatus struct {
	client.SubResourceWriter
	c *countingClient
}

func (s countingStatus) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	s.c.count(obj, "status")
	return s.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}

func TestMachinePoolController(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(20 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "MachinePool Controller Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())

	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(corev1beta1.AddToScheme(scheme)).To(Succeed())
	Expect(corev1beta2.AddToScheme(scheme)).To(Succeed())
	Expect(apiextensionsv1.AddToScheme(scheme)).To(Succeed())

	mgmtEnv = &envtest.Environment{
		CRDDirectoryPaths: []string{
			filepath.Join("..", "..", "..", "config", "crd", "bases"),
			filepath.Join("..", "..", "..", "test", "fixtures"),
		},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := mgmtEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	support.ServeConversion(ctx, mgmtEnv)
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	clusterCRD = &apiextensionsv1.CustomResourceDefinition{}
	Expect(k8s.Get(ctx, client.ObjectKey{Name: "clusters.cluster.x-k8s.io"}, clusterCRD)).To(Succeed())

	workloadEnv = &envtest.Environment{}
	wcfg, err := workloadEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	nodes, err = client.New(wcfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	admin, err := workloadEnv.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	workloadKubeconfig, err = admin.KubeConfig()
	Expect(err).NotTo(HaveOccurred())

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Client:  client.Options{Cache: &client.CacheOptions{Unstructured: true}},
	})
	Expect(err).NotTo(HaveOccurred())
	writes = &countingClient{Client: mgr.GetClient(), counts: map[string]int{}}
	tracker = workload.NewTracker(mgr.GetAPIReader(), mgr.GetScheme(), workload.Options{SyncTimeout: 10 * time.Second, HealthInterval: time.Second})
	Expect(mgr.Add(tracker)).To(Succeed())
	Expect(mpmetrics.Register(metrics.Registry)).To(Succeed()) // as cmd does
	r := &machinepool.Reconciler{
		Client: writes,
		// Wider than the default so that a spec and a status write of a provider object land in one batch
		// even on a loaded test machine.
		ProviderUpdateBatch: 300 * time.Millisecond,
		Recorder:            mgr.GetEventRecorder("machinepool-controller"),
		Workload:            tracker,
	}
	Expect(r.SetupWithManager(ctx, mgr)).To(Succeed())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
})

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
