// Package faults tests the SimMachinePool controller's cloud-error paths against cloudtest.Fake, a recording
// cloud.Cloud that fails the calls a spec names (a real cloud cannot be told to fail one call). The
// controller runs against a real API server (envtest); its Reconcile is called directly, one pass at a time,
// so each spec sees exactly which cloud calls a pass made and what it wrote. simulated_test.go runs the controller
// against the real simulated cloud instead, whose kubelets register Nodes in the same API server, to show the
// faults a user injects through spec.simulation.faults.
package faults_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/test/support"
)

var (
	env    *envtest.Environment
	k8s    client.Client
	scheme *runtime.Scheme
	ctx    context.Context
	cancel context.CancelFunc
)

func TestCloudFaults(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(20 * time.Second)
	RunSpecs(t, "SimMachinePool cloud faults Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())
	scheme = runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(corev1beta1.AddToScheme(scheme)).To(Succeed())
	Expect(infrav1beta1.AddToScheme(scheme)).To(Succeed())
	env = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	Expect(err).NotTo(HaveOccurred())
	support.ServeConversion(ctx, env)
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})
