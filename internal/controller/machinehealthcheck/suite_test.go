package machinehealthcheck_test

import (
	"context"
	"path/filepath"
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
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/internal/controller/machinehealthcheck"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
	"github.com/machinepool-operator/machinepool-operator/test/support"
)

// Only the machinehealthcheck controller runs, in-process, against a management control plane that serves Cluster
// API's Machine, MachineHealthCheck and Cluster CRDs (no webhooks: specs use timeouts of seconds, which Cluster
// API's webhook refuses), and a workload control plane that holds the Nodes. Specs create the Machines and set
// their status themselves, and play kubelet and node lifecycle controller by writing Node conditions.
var (
	mgmtEnv, workloadEnv *envtest.Environment
	k8s, nodes           client.Client
	workloadKubeconfig   []byte
	tracker              *workload.Tracker
	ctx                  context.Context
	cancel               context.CancelFunc
)

func TestMachineHealthCheck(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(10 * time.Second)
	SetDefaultEventuallyPollingInterval(50 * time.Millisecond)
	SetDefaultConsistentlyDuration(750 * time.Millisecond)
	SetDefaultConsistentlyPollingInterval(50 * time.Millisecond)
	RunSpecs(t, "MachineHealthCheck Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme,
		corev1beta1.AddToScheme, capi.AddToScheme} {
		Expect(add(scheme)).To(Succeed())
	}
	external := filepath.Join("..", "..", "..", "config", "crd", "external")
	mgmtEnv = &envtest.Environment{
		CRDDirectoryPaths: []string{
			filepath.Join(external, "cluster.x-k8s.io_machines.yaml"),
			filepath.Join(external, "cluster.x-k8s.io_machinehealthchecks.yaml"),
			filepath.Join(external, "cluster.x-k8s.io_clusters.yaml"),
		},
		ErrorIfCRDPathMissing: true,
	}
	workloadEnv = &envtest.Environment{}
	// The two control planes start together: each takes a few seconds.
	workloadStarted := make(chan error, 1)
	go func() {
		defer GinkgoRecover()
		_, err := workloadEnv.Start()
		workloadStarted <- err
	}()
	cfg, err := mgmtEnv.Start()
	Expect(err).NotTo(HaveOccurred(), "run `make capi-crds` for Cluster API's CRDs")
	Expect(<-workloadStarted).To(Succeed())
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	nodes, err = client.New(workloadEnv.Config, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	workloadKubeconfig = support.AdminKubeconfig(workloadEnv)

	// The manager as cmd/manager builds it (unstructured reads, such as Clusters, served from the cache).
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Client: client.Options{Cache: &client.CacheOptions{Unstructured: true}}})
	Expect(err).NotTo(HaveOccurred())
	// Outages are seen within half a second; an unreachable cluster fails its first connection after 5s.
	tracker = workload.NewTracker(mgr.GetAPIReader(), mgr.GetScheme(), workload.Options{
		HealthInterval: 500 * time.Millisecond, SyncTimeout: 5 * time.Second})
	Expect(mgr.Add(tracker)).To(Succeed())
	Expect((&machinehealthcheck.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("machinehealthcheck-controller"),
		Workload: tracker}).SetupWithManager(ctx, mgr)).To(Succeed())
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
