package upgrade_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	"github.com/machinepool-operator/machinepool-operator/test/support"
)

var (
	root    = filepath.Join("..", "..")
	env     *envtest.Environment
	k8s     client.Client
	manager *gexec.Session
	ctx     = context.Background()
)

func TestUpgrade(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(time.Minute)
	SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
	RunSpecs(t, "Upgrade Suite")
}

var _ = BeforeSuite(func() {
	infraCRDs, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "infrastructure.cluster.x-k8s.io_*.yaml"))
	Expect(err).NotTo(HaveOccurred())
	env = &envtest.Environment{
		CRDDirectoryPaths:     append(infraCRDs, filepath.Join("testdata", "machinepools-before-v1beta2.yaml")),
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	Expect(err).NotTo(HaveOccurred())
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme,
		corev1beta1.AddToScheme, corev1beta2.AddToScheme} {
		Expect(add(scheme)).To(Succeed())
	}
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if manager != nil {
		manager.Terminate().Wait(15 * time.Second)
	}
	gexec.CleanupBuildArtifacts()
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// before is a pool as v0.1 users wrote it: sub-second and negative durations, a negative minReadySeconds
// (v1.7.1 accepts both, with a warning), a reference namespace, and a status the controller wrote. It is paused,
// and the manager runs with a watch filter no pool matches, so that only the upgrade touches it.
func before(ns, name string) *corev1beta1.MachinePool {
	return &corev1beta1.MachinePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			Labels:      map[string]string{"team": "a"},
			Annotations: map[string]string{corev1beta1.PausedAnnotation: "true", "note": "kept"}},
		Spec: corev1beta1.MachinePoolSpec{ClusterName: "demo", Replicas: ptr.To[int32](3), MinReadySeconds: ptr.To[int32](-5),
			ProviderIDList: []string{"sim:///" + name + "-a", "sim:///" + name + "-b"},
			FailureDomains: []string{"zone-a"},
			Template: corev1beta1.MachineTemplateSpec{
				ObjectMeta: corev1beta1.ObjectMeta{Labels: map[string]string{"node-role.kubernetes.io/worker": ""}},
				Spec: corev1beta1.MachineSpec{ClusterName: "demo", Version: ptr.To("v1.30.0"),
					Bootstrap: corev1beta1.Bootstrap{DataSecretName: ptr.To(name + "-bootstrap")},
					InfrastructureRef: corev1.ObjectReference{APIVersion: "infrastructure.cluster.x-k8s.io/v1beta1",
						Kind: "SimMachinePool", Name: name, Namespace: ns},
					NodeDrainTimeout:        &metav1.Duration{Duration: 1500 * time.Millisecond},
					NodeVolumeDetachTimeout: &metav1.Duration{Duration: -time.Minute},
					NodeDeletionTimeout:     &metav1.Duration{Duration: 10 * time.Second},
				}}},
	}
}

func writeStatus(p *corev1beta1.MachinePool) {
	GinkgoHelper()
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	reason := corev1beta1.MachinePoolStatusFailure("InvalidConfiguration")
	p.Status = corev1beta1.MachinePoolStatus{
		NodeRefs: []corev1.ObjectReference{{Kind: "Node", Name: p.Name + "-a"}}, Replicas: 2, ReadyReplicas: 1,
		AvailableReplicas: 1, UnavailableReplicas: 2, Phase: "ScalingUp", BootstrapReady: true, InfrastructureReady: true,
		ObservedGeneration: p.Generation, Selector: "cluster.x-k8s.io/cluster-name=demo",
		FailureReason: &reason, FailureMessage: ptr.To("the instance type is gone"),
		Conditions: corev1beta1.Conditions{{Type: corev1beta1.ReadyCondition, Status: corev1.ConditionFalse,
			Severity: corev1beta1.ConditionSeverityWarning, Reason: "Scaling", Message: "1 of 3 Ready", LastTransitionTime: now}},
	}
	Expect(k8s.Status().Update(ctx, p)).To(Succeed())
}

// startManager runs the manager binary with the MachinePool controller, serving the conversion the CRD points at.
func startManager() {
	GinkgoHelper()
	managerBin, err := gexec.Build("github.com/machinepool-operator/machinepool-operator/cmd/manager")
	Expect(err).NotTo(HaveOccurred())
	kubeconfig := support.WriteAdminKubeconfig(env, filepath.Join(GinkgoT().TempDir(), "kubeconfig"))
	manager, err = gexec.Start(exec.CommandContext(ctx, managerBin, append([]string{"--kubeconfig=" + kubeconfig,
		"--controllers=machinepool", "--metrics-bind-address=0", "--health-probe-bind-address=0",
		// No pool carries the label: the MachinePool controller leaves them alone, the migration does not.
		"--watch-filter=none-of-these"},
		support.ConversionByManager(env)...)...), GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	support.WaitForConversion(env.Config)
}

// comparable is what a v1beta1 reader sees of a pool, without what every write changes.
func comparable(p *corev1beta1.MachinePool) *corev1beta1.MachinePool {
	out := p.DeepCopy()
	out.ResourceVersion, out.ManagedFields = "", nil
	return out
}

var _ = Describe("upgrading from the CRD before v1beta2", Ordered, func() {
	const ns = "upgrade"
	names := []string{"workers", "gpu", "spot"}
	originals := map[string]*corev1beta1.MachinePool{}
	versions := map[string]string{}

	It("has pools stored as v1beta1 by the old CRD", func() {
		Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		for _, name := range names {
			p := before(ns, name)
			Expect(k8s.Create(ctx, p)).To(Succeed())
			writeStatus(p)
			originals[name] = comparable(p)
			versions[name] = p.ResourceVersion
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: support.MachinePoolCRD}, crd)).To(Succeed())
		Expect(crd.Status.StoredVersions).To(Equal([]string{"v1beta1"}))
	})

	It("serves them through both versions after the new CRD and the manager are installed, with nothing lost", func() {
		By("replacing the CRD with today's, converting through the manager's webhook")
		raw, err := os.ReadFile(filepath.Join(root, "config", "crd", "bases", "cluster.x-k8s.io_machinepools.yaml"))
		Expect(err).NotTo(HaveOccurred())
		next := &apiextensionsv1.CustomResourceDefinition{}
		Expect(yaml.Unmarshal(raw, next)).To(Succeed())
		crd := &apiextensionsv1.CustomResourceDefinition{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: support.MachinePoolCRD}, crd)).To(Succeed())
		crd.Labels, crd.Spec = next.Labels, next.Spec
		Expect(k8s.Update(ctx, crd)).To(Succeed())

		By("starting the manager with the MachinePool controller")
		startManager()

		By("v1beta1 readers seeing exactly what they wrote")
		for _, name := range names {
			got := &corev1beta1.MachinePool{}
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, got)).To(Succeed())
			Expect(comparable(got)).To(Equal(originals[name]), name)
		}

		By("v1beta2 readers seeing the same pools in v1beta2's shape")
		got := &corev1beta2.MachinePool{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "workers"}, got)).To(Succeed())
		Expect(got.Spec.Template.Spec.InfrastructureRef).To(Equal(corev1beta2.ContractVersionedObjectReference{
			APIGroup: "infrastructure.cluster.x-k8s.io", Kind: "SimMachinePool", Name: "workers"}))
		Expect(got.Spec.Template.Spec.MinReadySeconds).To(HaveValue(BeEquivalentTo(0)), "a negative minReadySeconds means 0")
		Expect(got.Spec.Template.Spec.Deletion.NodeDrainTimeoutSeconds).To(HaveValue(BeEquivalentTo(1)))
		Expect(got.Spec.Template.Spec.Deletion.NodeVolumeDetachTimeoutSeconds).To(HaveValue(BeEquivalentTo(0)))
		Expect(got.Status.Deprecated.V1Beta1.FailureMessage).To(HaveValue(Equal("the instance type is gone")))
		Expect(got.Status.Deprecated.V1Beta1.Conditions).To(HaveLen(1))
		Expect(got.Status.Selector).To(Equal("cluster.x-k8s.io/cluster-name=demo"))
	})

	It("migrates status.storedVersions to v1beta2 by rewriting every pool once", func() {
		Eventually(func() []string {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			Expect(k8s.Get(ctx, client.ObjectKey{Name: support.MachinePoolCRD}, crd)).To(Succeed())
			return crd.Status.StoredVersions
		}).Should(Equal([]string{"v1beta2"}))
		for _, name := range names {
			got := &corev1beta1.MachinePool{}
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, got)).To(Succeed())
			Expect(got.ResourceVersion).NotTo(Equal(versions[name]), "%s was written again, in v1beta2", name)
			Expect(comparable(got)).To(Equal(originals[name]), "%s: the rewrite changed nothing", name)
			versions[name] = got.ResourceVersion
		}
		Eventually(manager.Err).Should(gbytes.Say("stored objects migrated to the storage version.*rewritten=3"))
	})

	It("writes through either version keep what only the other holds", func() {
		By("a v1beta2 write of a field only v1beta2 has")
		v2 := &corev1beta2.MachinePool{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gpu"}, v2)).To(Succeed())
		v2.Spec.Replicas = ptr.To[int32](5)
		gates := []corev1beta2.MachineReadinessGate{{ConditionType: "example.com/GPUReady"}}
		v2.Spec.Template.Spec.ReadinessGates = gates
		Expect(k8s.Update(ctx, v2)).To(Succeed())

		By("a v1beta1 write of a sub-second duration")
		v1 := &corev1beta1.MachinePool{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gpu"}, v1)).To(Succeed())
		Expect(v1.Spec.Replicas).To(HaveValue(BeEquivalentTo(5)))
		Expect(v1.Spec.MinReadySeconds).To(HaveValue(BeEquivalentTo(-5)), "still the value the user wrote")
		v1.Spec.Template.Spec.NodeDrainTimeout = &metav1.Duration{Duration: 2500 * time.Millisecond}
		Expect(k8s.Update(ctx, v1)).To(Succeed())

		again := &corev1beta2.MachinePool{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gpu"}, again)).To(Succeed())
		Expect(again.Spec.Template.Spec.ReadinessGates).To(Equal(gates))
		Expect(again.Spec.Template.Spec.Deletion.NodeDrainTimeoutSeconds).To(HaveValue(BeEquivalentTo(2)))
		back := &corev1beta1.MachinePool{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gpu"}, back)).To(Succeed())
		Expect(back.Spec.Template.Spec.NodeDrainTimeout.Duration).To(Equal(2500 * time.Millisecond))
	})

	It("does not migrate again after a restart", func() {
		manager.Terminate().Wait(15 * time.Second)
		startManager()
		Consistently(func() string {
			got := &corev1beta1.MachinePool{}
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "spot"}, got)).To(Succeed())
			return got.ResourceVersion
		}).WithTimeout(3 * time.Second).Should(Equal(versions["spot"]))
	})
})
