package patch_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
	"github.com/machinepool-operator/machinepool-operator/internal/patch"
	"github.com/machinepool-operator/machinepool-operator/test/support"
)

// Apply runs against a real API server (envtest) with the MachinePool CRD: its status subresource, generation
// and resourceVersion semantics are what the package relies on.
var (
	env *envtest.Environment
	k8s client.WithWatch
	ctx = context.Background()
	// stopConversion stops the conversion webhook's manager.
	stopConversion context.CancelFunc
)

func TestApply(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "patch Suite")
}

var _ = BeforeSuite(func() {
	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(corev1beta1.AddToScheme(scheme)).To(Succeed())
	env = &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	Expect(err).NotTo(HaveOccurred())
	conversionCtx, stop := context.WithCancel(ctx)
	stopConversion = stop
	support.ServeConversion(conversionCtx, env)
	k8s, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if stopConversion != nil {
		stopConversion() // its watches would hold the API server's shutdown
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// writes records the requests a client sends: "patch" and "status" (a status-subresource patch).
type writes struct {
	mu  sync.Mutex
	log []string
}

func (w *writes) client() client.Client {
	return interceptor.NewClient(k8s, interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			w.add("patch")
			return c.Patch(ctx, obj, p, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			w.add(sub)
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		},
	})
}

func (w *writes) add(s string) { w.mu.Lock(); w.log = append(w.log, s); w.mu.Unlock() }

func (w *writes) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.log...)
}

func newPool() *corev1beta1.MachinePool {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "patch-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	p := &corev1beta1.MachinePool{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "workers"},
		Spec: corev1beta1.MachinePoolSpec{ClusterName: "demo", Replicas: ptr.To[int32](1),
			Template: corev1beta1.MachineTemplateSpec{Spec: corev1beta1.MachineSpec{ClusterName: "demo",
				InfrastructureRef: corev1.ObjectReference{APIVersion: "infrastructure.cluster.x-k8s.io/v1beta1", Kind: "SimMachinePool", Name: "workers"}}}}}
	Expect(k8s.Create(ctx, p)).To(Succeed())
	return p
}

func stored(p *corev1beta1.MachinePool) *corev1beta1.MachinePool {
	GinkgoHelper()
	got := &corev1beta1.MachinePool{}
	Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), got)).To(Succeed())
	return got
}

var _ = Describe("Apply", func() {
	It("writes nothing when nothing changed, and spec and status each in their own patch only when they changed", func() {
		w := &writes{}
		p := newPool()
		Expect(patch.Apply(ctx, w.client(), p.DeepCopy(), p)).To(Succeed())
		Expect(w.all()).To(BeEmpty())

		original := p.DeepCopy()
		p.Status.Replicas = 2
		Expect(patch.Apply(ctx, w.client(), original, p)).To(Succeed())
		Expect(w.all()).To(Equal([]string{"status"}))

		original = p.DeepCopy()
		p.Spec.Replicas = ptr.To[int32](3)
		p.Status.Phase = "Scaling"
		Expect(patch.Apply(ctx, w.client(), original, p)).To(Succeed())
		Expect(w.all()).To(Equal([]string{"status", "patch", "status"}))
		got := stored(p)
		Expect(*got.Spec.Replicas).To(BeEquivalentTo(3))
		Expect(got.Status.Replicas).To(BeEquivalentTo(2))
		Expect(got.Status.Phase).To(Equal("Scaling"), "the spec patch's response must not overwrite the computed status")
	})

	It("sends a finalizer change under an optimistic lock, so one another writer added meanwhile is not dropped", func() {
		p := newPool()
		original := p.DeepCopy()
		theirs := p.DeepCopy()
		theirs.Finalizers = []string{"example.com/theirs"}
		Expect(k8s.Update(ctx, theirs)).To(Succeed())

		p.Finalizers = []string{"example.com/ours"}
		err := patch.Apply(ctx, k8s, original, p)
		Expect(apierrors.IsConflict(err)).To(BeTrue(), "got %v", err)
		Expect(stored(p).Finalizers).To(Equal([]string{"example.com/theirs"}))
	})

	It("moves observedGeneration past the reconcile's own spec write, but not past another writer's", func() {
		p := newPool()
		original := p.DeepCopy()
		p.Spec.Replicas = ptr.To[int32](2)
		p.Status.ObservedGeneration = p.Generation
		Expect(patch.Apply(ctx, k8s, original, p, patch.FollowOwnSpecWrite(&p.Status.ObservedGeneration))).To(Succeed())
		got := stored(p)
		Expect(got.Generation).To(BeEquivalentTo(2))
		Expect(got.Status.ObservedGeneration).To(BeEquivalentTo(2))

		By("someone else changing the spec between our read and our write")
		original = got.DeepCopy()
		other := got.DeepCopy()
		other.Spec.MinReadySeconds = ptr.To[int32](5)
		Expect(k8s.Update(ctx, other)).To(Succeed())
		got.Spec.Replicas = ptr.To[int32](3)
		got.Status.ObservedGeneration = got.Generation
		Expect(patch.Apply(ctx, k8s, original, got, patch.FollowOwnSpecWrite(&got.Status.ObservedGeneration))).To(Succeed())
		after := stored(p)
		Expect(after.Generation).To(BeEquivalentTo(4))
		Expect(after.Status.ObservedGeneration).To(BeEquivalentTo(2), "generation 3 is another writer's: not described by this status")
	})

	It("leaves the status alone WithoutStatus, reports each write's version OnWrite, and ignores a deleted object", func() {
		w := &writes{}
		p := newPool()
		original := p.DeepCopy()
		p.Labels = map[string]string{"a": "b"}
		p.Status.Replicas = 4
		var versions []string
		Expect(patch.Apply(ctx, w.client(), original, p, patch.WithoutStatus(), patch.OnWrite(func(rv string) { versions = append(versions, rv) }))).To(Succeed())
		Expect(w.all()).To(Equal([]string{"patch"}))
		Expect(versions).To(Equal([]string{stored(p).ResourceVersion}))
		Expect(stored(p).Status.Replicas).To(BeZero())

		Expect(k8s.Delete(ctx, stored(p))).To(Succeed())
		original = p.DeepCopy()
		p.Labels = map[string]string{"a": "c"}
		Expect(patch.Apply(ctx, k8s, original, p)).To(Succeed())
	})

	It("with OwnedConditions, changes only its own conditions and keeps one another writer marked after its read", func() {
		p := newPool()
		conditions.MarkTrue(&p.Status.Conditions, corev1beta1.ReadyCondition)
		Expect(k8s.Status().Update(ctx, p)).To(Succeed())
		original := stored(p)

		By("a health check marking the object after our read")
		theirs := original.DeepCopy()
		conditions.MarkFalse(&theirs.Status.Conditions, "HealthCheckSucceeded", "NodeNotFound", corev1beta1.ConditionSeverityWarning, "gone")
		Expect(k8s.Status().Update(ctx, theirs)).To(Succeed())

		w := &writes{}
		ours := original.DeepCopy()
		conditions.MarkFalse(&ours.Status.Conditions, corev1beta1.ReadyCondition, "Waiting", corev1beta1.ConditionSeverityInfo, "waiting")
		conditions.MarkTrue(&ours.Status.Conditions, corev1beta1.InfrastructureReadyCondition)
		ours.Status.Phase = "Provisioning"
		start := time.Now()
		Expect(patch.Apply(ctx, w.client(), original, ours, patch.OwnedConditions("Ready", "InfrastructureReady"))).To(Succeed())
		Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))
		Expect(w.all()).To(Equal([]string{"status", "status"}), "the first write conflicts, the rebuilt one lands")

		got := stored(p)
		Expect(got.Status.Phase).To(Equal("Provisioning"))
		Expect(conditions.Get(got.Status.Conditions, "HealthCheckSucceeded")).To(HaveField("Reason", "NodeNotFound"))
		Expect(conditions.Get(got.Status.Conditions, corev1beta1.ReadyCondition)).To(HaveField("Reason", "Waiting"))
		Expect(conditions.IsTrue(got.Status.Conditions, corev1beta1.InfrastructureReadyCondition)).To(BeTrue())
		Expect(got.Status.Conditions[0].Type).To(BeEquivalentTo("Ready"), "Ready first, as Cluster API orders them")

		By("removing an owned condition, and writing nothing when the stored list already matches")
		original = got.DeepCopy()
		conditions.Delete(&got.Status.Conditions, corev1beta1.InfrastructureReadyCondition)
		Expect(patch.Apply(ctx, k8s, original, got, patch.OwnedConditions("Ready", "InfrastructureReady"))).To(Succeed())
		Expect(stored(p).Status.Conditions).To(HaveLen(2))
		w = &writes{}
		again := stored(p)
		Expect(patch.Apply(ctx, w.client(), again.DeepCopy(), again, patch.OwnedConditions("Ready"))).To(Succeed())
		Expect(w.all()).To(BeEmpty())
	})

	It("without OwnedConditions, a merge patch of the whole list wipes the other writer's condition (why the option exists)", func() {
		p := newPool()
		original := stored(p)
		theirs := original.DeepCopy()
		conditions.MarkFalse(&theirs.Status.Conditions, "HealthCheckSucceeded", "NodeNotFound", corev1beta1.ConditionSeverityWarning, "gone")
		Expect(k8s.Status().Update(ctx, theirs)).To(Succeed())
		ours := original.DeepCopy()
		conditions.MarkTrue(&ours.Status.Conditions, corev1beta1.ReadyCondition)
		Expect(patch.Apply(ctx, k8s, original, ours)).To(Succeed())
		Expect(conditions.Get(stored(p).Status.Conditions, "HealthCheckSucceeded")).To(BeNil())
	})
})
