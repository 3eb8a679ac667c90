package webhook_test

import (
	"context"
	"io"
	"path/filepath"
	"sync"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/component-base/featuregate"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/internal/feature"
	mpwebhook "github.com/machinepool-operator/machinepool-operator/internal/webhook"
	"github.com/machinepool-operator/machinepool-operator/test/support"
)

// The suite runs the real webhook server behind a real kube-apiserver: requests go through the API server's
// admission chain exactly as kubectl's would.
var (
	testEnv    *envtest.Environment
	restConfig *rest.Config
	scheme     *runtime.Scheme
	k8s        client.Client
	gates      featuregate.MutableFeatureGate
	// kubectl runs the kubectl binary of the envtest assets as an admin user.
	kubectl func(args ...string) (stdout, stderr io.Reader, err error)
	ctx     context.Context
	cancel  context.CancelFunc
)

func TestWebhooks(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Webhook Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())

	scheme = runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(corev1beta1.AddToScheme(scheme)).To(Succeed())
	Expect(corev1beta2.AddToScheme(scheme)).To(Succeed())
	Expect(infrav1beta1.AddToScheme(scheme)).To(Succeed())
	Expect(apiextensionsv1.AddToScheme(scheme)).To(Succeed())
	Expect(capi.AddToScheme(scheme)).To(Succeed())

	testEnv = &envtest.Environment{
		CRDDirectoryPaths: []string{
			filepath.Join("..", "..", "config", "crd", "bases"),
			// Cluster API v1.7.1's MachineHealthCheck CRD (copied by `make capi-crds`), as our machinehealthcheck
			// controller finds it installed.
			filepath.Join("..", "..", "config", "crd", "external", "cluster.x-k8s.io_machinehealthchecks.yaml"),
		},
		ErrorIfCRDPathMissing: true,
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			Paths: []string{filepath.Join("..", "..", "config", "webhook")},
		},
	}
	var err error
	restConfig, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())

	k8s, err = client.New(restConfig, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	admin, err := testEnv.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	kc, err := admin.Kubectl()
	Expect(err).NotTo(HaveOccurred())
	kubectl = kc.Run

	wio := &testEnv.WebhookInstallOptions
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		WebhookServer: webhook.NewServer(webhook.Options{
			Host: wio.LocalServingHost, Port: wio.LocalServingPort, CertDir: wio.LocalServingCertDir,
		}),
	})
	Expect(err).NotTo(HaveOccurred())

	gates = feature.NewGates()
	Expect(mpwebhook.SetupWithManager(mgr, mpwebhook.Options{Gates: gates, MachinePool: true, MachineHealthCheck: true, Infrastructure: true})).To(Succeed())

	// The CRD converts through this manager's /convert, as installs point it at the manager's Service.
	support.ConversionByManager(testEnv)
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
	support.WaitForConversion(restConfig)
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// newNamespace creates a namespace of its own for one spec.
func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "webhook-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func() { _ = k8s.Delete(context.Background(), ns) })
	return ns.Name
}

// warningCollector gathers the admission warnings the API server sends back.
type warningCollector struct {
	mu       sync.Mutex
	warnings []string
}

func (w *warningCollector) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.warnings = append(w.warnings, text)
}

// withWarnings runs fn with a client whose responses' warnings are returned, as kubectl would print them.
func withWarnings(fn func(c client.Client) error) ([]string, error) {
	collector := &warningCollector{}
	cfg := rest.CopyConfig(restConfig)
	cfg.WarningHandlerWithContext = collector
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	err = fn(c)
	collector.mu.Lock()
	defer collector.mu.Unlock()
	return collector.warnings, err
}
