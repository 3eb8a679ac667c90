package providers_test

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
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/internal/controller/machinepool"
	"github.com/machinepool-operator/machinepool-operator/internal/controller/machinepoolmachine"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
	"github.com/machinepool-operator/machinepool-operator/test/support"
)

// One pair of control planes for the whole suite: the management cluster, which serves our CRDs, Cluster API
// v1.7.1's Cluster, Machine, MachineSet and MachineDeployment CRDs, a stand-in bootstrap config and the real
// providers' CRDs, and where the machinepool and machinepoolmachine controllers run as the manager wires them;
// and a workload cluster whose Nodes the specs register as the instances' kubelets would. Every spec's Cluster
// reaches that workload cluster through its <cluster>-kubeconfig Secret, so instance IDs and Node names are
// unique across specs.
var (
	mgmtEnv, workloadEnv *envtest.Environment
	k8s                  client.Client // management cluster
	nodes                client.Client // workload cluster
	workloadKubeconfig   []byte
	ctx                  context.Context
	cancel               context.CancelFunc
)

// externalCRDs is where `make capi-crds` and `make provider-crds` copy the CRDs we do not own.
var externalCRDs = filepath.Join("..", "..", "config", "crd", "external")

func TestProviders(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(20 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "Real Providers Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())

	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme,
		corev1beta1.AddToScheme, corev1beta2.AddToScheme, capi.AddToScheme} {
		Expect(add(scheme)).To(Succeed())
	}

	mgmtEnv = &envtest.Environment{
		CRDDirectoryPaths: []string{
			filepath.Join("..", "..", "config", "crd", "bases"),
			filepath.Join(externalCRDs, "cluster.x-k8s.io_clusters.yaml"),
			filepath.Join(externalCRDs, "cluster.x-k8s.io_machines.yaml"),
			filepath.Join(externalCRDs, "cluster.x-k8s.io_machinesets.yaml"),
			filepath.Join(externalCRDs, "cluster.x-k8s.io_machinedeployments.yaml"),
			filepath.Join("..", "fixtures", "genericbootstrapconfig.yaml"),
			filepath.Join(externalCRDs, "providers", "aws", "crds"),
			filepath.Join(externalCRDs, "providers", "gcp", "crds"),
		},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := mgmtEnv.Start()
	Expect(err).NotTo(HaveOccurred(), "run `make capi-crds provider-crds` for Cluster API's and the providers' CRDs")
	// Our MachinePool CRD stores v1beta2: every v1beta1 read and write goes through the conversion webhook.
	support.ServeConversion(ctx, mgmtEnv)
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	workloadEnv = &envtest.Environment{}
	wcfg, err := workloadEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	nodes, err = client.New(wcfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	workloadKubeconfig = support.AdminKubeconfig(workloadEnv)

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Client: client.Options{Cache: &client.CacheOptions{Unstructured: true}}})
	Expect(err).NotTo(HaveOccurred())
	// The core controllers of a standalone install (cmd/manager/controllers.go), sharing one workload tracker;
	// no Sim provider.
	tracker := workload.NewTracker(mgr.GetAPIReader(), mgr.GetScheme(), workload.Options{HealthInterval: time.Second})
	Expect(mgr.Add(tracker)).To(Succeed())
	Expect((&machinepool.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("machinepool-controller"), Workload: tracker}).
		SetupWithManager(ctx, mgr)).To(Succeed())
	Expect((&machinepoolmachine.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("machinepoolmachine-controller"), Workload: tracker}).
		SetupWithManager(ctx, mgr)).To(Succeed())
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
