package simmachinepool_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
)

func (w *world) updatePool(change func(*corev1beta1.MachinePool)) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(w.pool), w.pool); err != nil {
			return err
		}
		change(w.pool)
		return k8s.Update(ctx, w.pool)
	})).To(Succeed())
}

// livePodOn creates a running Pod bound to a Node, as a scheduler and kubelet would.
func livePodOn(ns, name, nodeName string, labels map[string]string) *corev1.Pod {
	GinkgoHelper()
	Expect(client.IgnoreAlreadyExists(nodes.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))).To(Succeed())
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:       corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "app", Image: "app"}}},
	}
	Expect(nodes.Create(ctx, pod)).To(Succeed())
	// Running and Ready: Pending or unready Pods bypass disruption budgets.
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	Expect(nodes.Status().Update(ctx, pod)).To(Succeed())
	return pod
}

func podGone(ns, name string) func() bool {
	return func() bool {
		return apierrors.IsNotFound(nodes.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &corev1.Pod{}))
	}
}

var _ = Describe("SimMachinePool scale-in drain", func() {
	It("cordons the Node and evicts its Pods before terminating, and a PodDisruptionBudget holds it back until nodeDrainTimeout", func() {
		w := newWorld(2)
		Eventually(w.readyReplicas).Should(Equal(int32(2)))
		ids := w.providerIDs()
		victim := instanceID(ids[0]) // Oldest goes first
		appNS := "drain-" + w.ns
		livePodOn(appNS, "free", victim, map[string]string{"app": "free"})
		livePodOn(appNS, "guarded", victim, map[string]string{"app": "guarded"})
		daemon := livePodOn(appNS, "daemon", victim, nil)
		Expect(nodes.Get(ctx, client.ObjectKeyFromObject(daemon), daemon)).To(Succeed())
		daemon.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "ds", UID: "ds-uid", Controller: ptr.To(true)}}
		Expect(nodes.Update(ctx, daemon)).To(Succeed())

		// Envtest runs no disruption controller: the test writes the budget's status itself.
		pdb := &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "guard"},
			Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "guarded"}}},
		}
		Expect(nodes.Create(ctx, pdb)).To(Succeed())
		pdb.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, DisruptionsAllowed: 0, CurrentHealthy: 1, DesiredHealthy: 1, ExpectedPods: 1}
		Expect(nodes.Status().Update(ctx, pdb)).To(Succeed())

		w.updatePool(func(p *corev1beta1.MachinePool) {
			p.Spec.Replicas = ptr.To[int32](1)
			p.Spec.Template.Spec.NodeDrainTimeout = &metav1.Duration{Duration: 15 * time.Second}
		})
		Eventually(func() bool { return node(victim).Spec.Unschedulable }).Should(BeTrue(), "cordoned")
		Eventually(podGone(appNS, "free")).Should(BeTrue(), "evicted, and finished like a kubelet would")
		Consistently(w.providerIDs).WithTimeout(3*time.Second).Should(ContainElement(ids[0]), "the budget holds the drain")
		Expect(podGone(appNS, "guarded")()).To(BeFalse())

		Eventually(w.providerIDs).WithTimeout(45*time.Second).Should(Equal([]string{ids[1]}), "terminated once nodeDrainTimeout passed")
		Expect(podGone(appNS, "daemon")()).To(BeFalse(), "DaemonSet Pods are left alone")
	})
})

var _ = Describe("SimMachinePool rolling update", func() {
	DescribeTable("replaces every instance when the version changes, within maxSurge and maxUnavailable",
		func(surge, unavailable intstr.IntOrString, maxLive, minReady int) {
			w := newWorld(3)
			Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
				smp := w.get()
				smp.Spec.Strategy = &infrav1beta1.Strategy{RollingUpdate: &infrav1beta1.RollingUpdate{MaxSurge: &surge, MaxUnavailable: &unavailable}}
				return k8s.Update(ctx, smp)
			})).To(Succeed())
			Eventually(w.readyReplicas).Should(Equal(int32(3)))
			Expect(w.get().Status.UpToDateReplicas).To(Equal(ptr.To[int32](3)))
			old := w.providerIDs()

			w.updatePool(func(p *corev1beta1.MachinePool) { p.Spec.Template.Spec.Version = ptr.To("v1.31.0") })
			seenMaxLive, seenMinReady, seenOutdated := 0, 3, false
			Eventually(func() []string {
				smp := w.get()
				if u := smp.Status.UpToDateReplicas; u != nil && *u < smp.Status.Replicas {
					seenOutdated = true
				}
				live := 0
				for _, in := range smp.Status.Instances {
					if in.State == infrav1beta1.InstanceStatePending || in.State == infrav1beta1.InstanceStateRunning {
						live++
					}
				}
				seenMaxLive = max(seenMaxLive, live)
				seenMinReady = min(seenMinReady, int(smp.Status.ReadyReplicas))
				return smp.Spec.ProviderIDList
			}).WithTimeout(90 * time.Second).WithPolling(50 * time.Millisecond).Should(And(HaveLen(3), Not(ContainElements(old[0])), Not(ContainElement(old[1])), Not(ContainElement(old[2]))))
			Eventually(w.readyReplicas).Should(Equal(int32(3)))
			Expect(seenOutdated).To(BeTrue(), "upToDateReplicas counted the outdated instances during the rollout")
			Eventually(func() *int32 { return w.get().Status.UpToDateReplicas }).Should(Equal(ptr.To[int32](3)))
			Expect(seenMaxLive).To(BeNumerically("<=", maxLive), "maxSurge")
			Expect(seenMinReady).To(BeNumerically(">=", minReady), "maxUnavailable")
		},
		Entry("surge 1, unavailable 0", intstr.FromInt32(1), intstr.FromInt32(0), 4, 3),
		Entry("surge 0, unavailable 1", intstr.FromInt32(0), intstr.FromInt32(1), 3, 2),
	)
})

var _ = Describe("SimMachinePool kubelets", func() {
	It("finish a deleted Pod on their Node, as a kubelet would, so deletions complete without real kubelets", func() {
		w := newWorld(1)
		Eventually(w.readyReplicas).Should(Equal(int32(1)))
		appNS := "kubelet-" + w.ns
		pod := livePodOn(appNS, "app", instanceID(w.providerIDs()[0]), nil)
		Expect(nodes.Delete(ctx, pod)).To(Succeed()) // graceful: the API server only marks it
		Eventually(podGone(appNS, "app")).Should(BeTrue())

		other := livePodOn(appNS, "elsewhere", "not-a-sim-node", nil)
		Expect(nodes.Delete(ctx, other)).To(Succeed())
		Consistently(podGone(appNS, "elsewhere")).WithTimeout(2*time.Second).Should(BeFalse(), "Pods on other Nodes are not the simulation's")
	})
})
