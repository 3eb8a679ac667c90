package support

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	mpwebhook "github.com/machinepool-operator/machinepool-operator/internal/webhook"
)

// MachinePoolCRD is the name of our MachinePool CRD.
const MachinePoolCRD = "machinepools.cluster.x-k8s.io"

// ServeConversion serves the MachinePool conversion for env's control plane from the test process, as the
// manager does: a manager with only the conversion webhook, on env's local webhook address, stopped with ctx.
// It points the CRD at it and returns once the API server converts through it. Suites that run the manager
// binary use ConversionByManager instead.
func ServeConversion(ctx context.Context, env *envtest.Environment) {
	ginkgo.GinkgoHelper()
	gomega.Expect(StartConversion(ctx, env)).To(gomega.Succeed())
}

// StartConversion is ServeConversion for code outside Ginkgo: it returns an error instead of failing.
func StartConversion(ctx context.Context, env *envtest.Environment) error {
	wio := env.WebhookInstallOptions
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: Scheme(), Metrics: metricsserver.Options{BindAddress: "0"},
		WebhookServer: webhook.NewServer(webhook.Options{Host: wio.LocalServingHost, Port: wio.LocalServingPort, CertDir: wio.LocalServingCertDir})})
	if err != nil {
		return err
	}
	if err := mpwebhook.SetupConversion(mgr); err != nil {
		return err
	}
	go func() { _ = mgr.Start(ctx) }()
	if err := pointConversion(env); err != nil {
		return err
	}
	ready, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return ConversionReady(ready, env.Config)
}

// ConversionByManager points the MachinePool CRD of env's control plane at the manager binary's conversion
// webhook and returns the manager flags that serve it there (env's local webhook address and certificate). Call
// WaitForConversion once the manager runs.
func ConversionByManager(env *envtest.Environment) []string {
	ginkgo.GinkgoHelper()
	args, err := ConversionArgs(env)
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	return args
}

// WaitForConversion waits until the API server converts MachinePools through the webhook (ConversionReady).
func WaitForConversion(cfg *rest.Config) {
	ginkgo.GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	gomega.Expect(ConversionReady(ctx, cfg)).To(gomega.Succeed())
}

// ConversionArgs is ConversionByManager for code outside Ginkgo: it returns an error instead of failing.
func ConversionArgs(env *envtest.Environment) ([]string, error) {
	if err := pointConversion(env); err != nil {
		return nil, err
	}
	wio := env.WebhookInstallOptions
	return []string{fmt.Sprintf("--webhook-port=%d", wio.LocalServingPort), "--webhook-cert-dir=" + wio.LocalServingCertDir}, nil
}

// pointConversion points the MachinePool CRD at env's local webhook address, as the chart and kustomize point it
// at the manager's Service. The CRD stores v1beta2, so every v1beta1 request goes through it.
func pointConversion(env *envtest.Environment) error {
	c, err := client.New(env.Config, client.Options{Scheme: Scheme()})
	if err != nil {
		return err
	}
	wio := env.WebhookInstallOptions
	url := fmt.Sprintf("https://%s/convert", net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort)))
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := c.Get(context.Background(), client.ObjectKey{Name: MachinePoolCRD}, crd); err != nil {
			return err
		}
		crd.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.WebhookConverter,
			Webhook: &apiextensionsv1.WebhookConversion{ConversionReviewVersions: []string{"v1"},
				ClientConfig: &apiextensionsv1.WebhookClientConfig{URL: &url, CABundle: wio.LocalServingCAData}}}
		return c.Update(context.Background(), crd)
	})
}

// ConversionReady returns once the API server converts MachinePools through the webhook: a paused probe pool
// written as v1beta1 (stored as v1beta2) is accepted. The probe is deleted again; being paused, no controller
// acts on it. It fails with the last error when ctx ends first.
func ConversionReady(ctx context.Context, cfg *rest.Config) error {
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return err
	}
	probe := &corev1beta1.MachinePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, GenerateName: "conversion-probe-",
			Annotations: map[string]string{corev1beta1.PausedAnnotation: "true"}},
		Spec: corev1beta1.MachinePoolSpec{ClusterName: "probe", Replicas: ptr.To[int32](0),
			Template: corev1beta1.MachineTemplateSpec{Spec: corev1beta1.MachineSpec{ClusterName: "probe",
				Bootstrap: corev1beta1.Bootstrap{DataSecretName: ptr.To("probe")},
				InfrastructureRef: corev1.ObjectReference{APIVersion: "infrastructure.cluster.x-k8s.io/v1beta1",
					Kind: "SimMachinePool", Name: "probe"}}}},
	}
	for {
		created := probe.DeepCopy()
		if err = c.Create(ctx, created); err == nil {
			return c.Delete(ctx, &corev1beta2.MachinePool{ObjectMeta: metav1.ObjectMeta{Namespace: created.Namespace, Name: created.Name}})
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("MachinePools are not converted (is the manager serving /convert?): %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Scheme knows the API types the support helpers read and write.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{apiextensionsv1.AddToScheme, corev1beta1.AddToScheme, corev1beta2.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}
