package faults_test

import (
	"errors"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/cloud"
	"github.com/machinepool-operator/machinepool-operator/internal/cloud/cloudtest"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
	"github.com/machinepool-operator/machinepool-operator/internal/controller/simmachinepool"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

var errCloud = errors.New("RequestLimitExceeded: rate exceeded (injected)")

// pool is one MachinePool and the SimMachinePool it owns, reconciled against a fake cloud. No kubeconfig
// Secret exists: instances launch but cannot join, and nothing is drained.
type pool struct {
	fake *cloudtest.Fake
	r    *simmachinepool.Reconciler
	mp   *corev1beta1.MachinePool
	smp  *infrav1beta1.SimMachinePool
	ref  cloud.GroupRef
}

func newPool(replicas int32) *pool {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "faults-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	p := &pool{fake: &cloudtest.Fake{}, ref: cloud.GroupRef{Namespace: ns.Name, Name: "workers"}}
	p.r = &simmachinepool.Reconciler{Client: k8s, APIReader: k8s, Cloud: p.fake,
		Workload: workload.NewTracker(k8s, scheme, workload.Options{})}
	p.mp = &corev1beta1.MachinePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "workers"},
		Spec: corev1beta1.MachinePoolSpec{ClusterName: "demo", Replicas: ptr.To(replicas),
			Template: corev1beta1.MachineTemplateSpec{Spec: corev1beta1.MachineSpec{
				ClusterName: "demo", Bootstrap: corev1beta1.Bootstrap{DataSecretName: ptr.To("workers-data")},
				InfrastructureRef: corev1.ObjectReference{APIVersion: infrav1beta1.GroupVersion.String(), Kind: "SimMachinePool", Name: "workers"},
			}}},
	}
	Expect(k8s.Create(ctx, p.mp)).To(Succeed())
	p.smp = &infrav1beta1.SimMachinePool{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "workers",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: corev1beta1.GroupVersion.String(), Kind: "MachinePool", Name: "workers", UID: p.mp.UID}}}}
	Expect(k8s.Create(ctx, p.smp)).To(Succeed())
	return p
}

// reconcile runs one pass and returns its error.
func (p *pool) reconcile() error {
	_, err := p.r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(p.smp)})
	return err
}

func (p *pool) get() *infrav1beta1.SimMachinePool {
	GinkgoHelper()
	got := &infrav1beta1.SimMachinePool{}
	Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p.smp), got)).To(Succeed())
	return got
}

// condition returns the status and message of a condition of the SimMachinePool.
func (p *pool) condition(t corev1beta1.ConditionType) (corev1.ConditionStatus, string, string) {
	GinkgoHelper()
	c := conditions.Get(p.get().Status.Conditions, t)
	Expect(c).NotTo(BeNil(), "condition %s", t)
	return c.Status, c.Reason, c.Message
}

func (p *pool) scale(replicas int32) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(p.mp), p.mp); err != nil {
			return err
		}
		p.mp.Spec.Replicas = ptr.To(replicas)
		return k8s.Update(ctx, p.mp)
	})).To(Succeed())
}

// expectCloudError checks that a failed pass says so in both conditions and moved no observedGeneration.
func (p *pool) expectCloudError(err error) {
	GinkgoHelper()
	Expect(err).To(MatchError(errCloud))
	for _, t := range []corev1beta1.ConditionType{simmachinepool.ScalingGroupReadyCondition, corev1beta1.ReadyCondition} {
		status, reason, message := p.condition(t)
		Expect(status).To(Equal(corev1.ConditionFalse), "%s", t)
		Expect(reason).To(Equal(simmachinepool.CloudErrorReason), "%s", t)
		Expect(message).To(ContainSubstring("RequestLimitExceeded"), "%s", t)
	}
}

func methods(calls []cloudtest.Call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.Method)
	}
	return out
}

var _ = Describe("SimMachinePool controller on a failing cloud", func() {
	It("reports a failed EnsureGroup, and recovers on the next pass", func() {
		p := newPool(2)
		p.fake.Fail(cloudtest.EnsureGroup, errCloud)
		p.expectCloudError(p.reconcile())
		_, exists := p.fake.Group(p.ref)
		Expect(exists).To(BeFalse())
		failed := p.get()
		Expect(failed.Status.ObservedGeneration).NotTo(Equal(failed.Generation), "a failed pass must not claim it acted on the spec")

		Expect(p.reconcile()).To(Succeed())
		spec, exists := p.fake.Group(p.ref)
		Expect(exists).To(BeTrue())
		Expect(spec.Desired).To(Equal(int32(2)))
		Expect(spec.Cluster).To(Equal("demo"))
		status, _, _ := p.condition(simmachinepool.ScalingGroupReadyCondition)
		Expect(status).To(Equal(corev1.ConditionTrue))
		got := p.get()
		Expect(got.Spec.ProviderIDList).To(HaveLen(2))
		Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
	})

	It("reports a failed describe of the instances, before it changes anything", func() {
		p := newPool(1)
		p.fake.Fail(cloudtest.Instances, errCloud)
		p.expectCloudError(p.reconcile())
		Expect(methods(p.fake.Calls())).NotTo(ContainElement(cloudtest.EnsureGroup), "no capacity change on a blind pass")
	})

	It("reports a failed instance-type lookup without launching", func() {
		p := newPool(1)
		p.fake.Fail(cloudtest.InstanceType, errCloud)
		p.expectCloudError(p.reconcile())
		Expect(p.fake.CallsOf(cloudtest.EnsureGroup)).To(BeEmpty())
	})

	It("retries a failed termination on scale-in and terminates before it ensures the lower capacity", func() {
		p := newPool(3)
		Expect(p.reconcile()).To(Succeed())
		Expect(p.get().Spec.ProviderIDList).To(HaveLen(3))
		p.scale(1)
		before := len(p.fake.Calls())
		p.fake.Fail(cloudtest.Terminate, errCloud)
		p.expectCloudError(p.reconcile())
		Expect(methods(p.fake.Calls()[before:])).NotTo(ContainElement(cloudtest.EnsureGroup), "a failed removal must not be followed by a capacity change")

		before = len(p.fake.Calls())
		Expect(p.reconcile()).To(Succeed())
		pass := p.fake.Calls()[before:]
		Expect(methods(pass)).To(Equal([]string{cloudtest.InstanceType, cloudtest.Instances,
			cloudtest.Terminate, cloudtest.Terminate, cloudtest.EnsureGroup, cloudtest.Instances}), "one instance-type lookup per pass")
		Expect(pass[2].Arg).To(Equal("workers-1"), "oldest first")
		Expect(pass[4].Arg).To(Equal("1"))
		Expect(p.get().Spec.ProviderIDList).To(Equal([]string{"fake:///workers-3"}))
	})

	It("keeps its finalizer while the group cannot be deleted", func() {
		p := newPool(1)
		Expect(p.reconcile()).To(Succeed())
		Expect(p.get().Finalizers).To(ContainElement(infrav1beta1.SimMachinePoolFinalizer))
		// The pool's SimMachinePoolMachine goes first (no Machines here); its own controller is not running, so
		// drop its finalizer as that controller would once the instance is terminated.
		Expect(k8s.Delete(ctx, p.get())).To(Succeed())
		Expect(p.reconcile()).To(Succeed())
		list := &infrav1beta1.SimMachinePoolMachineList{}
		Expect(k8s.List(ctx, list, client.InNamespace(p.ref.Namespace))).To(Succeed())
		for i := range list.Items {
			m := &list.Items[i]
			Expect(m.DeletionTimestamp.IsZero()).To(BeFalse(), "the pool's deletion deletes its SimMachinePoolMachines")
			m.Finalizers = nil
			Expect(k8s.Update(ctx, m)).To(Succeed())
		}
		Eventually(func() (int, error) {
			err := k8s.List(ctx, list, client.InNamespace(p.ref.Namespace))
			return len(list.Items), err
		}).Should(BeZero())

		p.fake.Fail(cloudtest.DeleteGroup, errCloud)
		p.expectCloudError(p.reconcile())
		Expect(p.get().Finalizers).To(ContainElement(infrav1beta1.SimMachinePoolFinalizer))
		_, exists := p.fake.Group(p.ref)
		Expect(exists).To(BeTrue())

		Expect(p.reconcile()).To(Succeed())
		_, exists = p.fake.Group(p.ref)
		Expect(exists).To(BeFalse())
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(p.smp), &infrav1beta1.SimMachinePool{}))).To(BeTrue())
	})
})
