package machinepoolmachine_test

import (
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
	mpmetrics "github.com/machinepool-operator/machinepool-operator/internal/metrics"
	"github.com/machinepool-operator/machinepool-operator/internal/remediation"
)

// markUnhealthy marks a Machine as a MachineHealthCheck does when remediation is allowed.
func (w *world) markUnhealthy(name string) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		m := &capi.Machine{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: name}, m); err != nil {
			return err
		}
		conditions.MarkFalse(&m.Status.Conditions, capi.HealthCheckSucceededCondition, capi.UnhealthyNodeConditionReason, corev1beta1.ConditionSeverityWarning,
			"Condition Ready on node is reporting status Unknown for more than 30s")
		conditions.MarkFalse(&m.Status.Conditions, capi.OwnerRemediatedCondition, capi.WaitingForRemediationReason, corev1beta1.ConditionSeverityWarning, "")
		return k8s.Status().Update(ctx, m)
	})).To(Succeed())
}

func (w *world) v1beta2Condition(t string) *metav1.Condition {
	p := &corev1beta2.MachinePool{}
	Expect(k8s.Get(ctx, client.ObjectKeyFromObject(w.pool), p)).To(Succeed())
	return apimeta.FindStatusCondition(p.Status.Conditions, t)
}

var _ = Describe("Remediation of MachinePool Machines", func() {
	It("deletes the Machines a health check marked, one at a time within the pool's rollout bounds, and the pool replaces their instances", func() {
		w := newWorld(3)
		w.running(3)
		Eventually(func() *corev1beta1.Condition {
			return conditions.Get(w.status().Conditions, corev1beta1.MachinesHealthyCondition)
		}).
			Should(HaveField("Status", corev1.ConditionTrue))
		Expect(w.v1beta2Condition(corev1beta2.RemediatingCondition)).To(And(Not(BeNil()), HaveField("Reason", remediation.NotRemediatingReason)))
		before := testutil.ToFloat64(mpmetrics.Remediations.WithLabelValues(w.ns, "workers"))

		victims := w.machineNames()[:2]
		By("holding the first victim's infra machine with a finalizer of the test's, so that its Machine stays in deletion")
		hold := func(add bool) {
			Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
				im := &infrav1beta1.SimMachinePoolMachine{}
				if err := k8s.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: victims[0]}, im); err != nil {
					return err
				}
				if add {
					controllerutil.AddFinalizer(im, "test.machinepool-operator.io/hold")
				} else {
					controllerutil.RemoveFinalizer(im, "test.machinepool-operator.io/hold")
				}
				return k8s.Update(ctx, im)
			})).To(Succeed())
		}
		hold(true)
		for _, name := range victims {
			w.markUnhealthy(name)
		}
		By("holding the second back while the first is replaced: maxSurge 1 + maxUnavailable 0 allow one at a time")
		Eventually(func() *corev1beta1.Condition {
			return conditions.Get(w.status().Conditions, corev1beta1.MachinesHealthyCondition)
		}).Should(And(HaveField("Status", corev1.ConditionFalse), HaveField("Reason", remediation.RemediatingReason),
			HaveField("Message", ContainSubstring("replacing 1 unhealthy Machines: "+victims[0]+" (UnhealthyNode: ")),
			HaveField("Message", ContainSubstring("1 wait ("+victims[1]+")")), HaveField("Message", ContainSubstring("at most 1 of the pool's Machines go at once"))))
		Expect(w.v1beta2Condition(corev1beta2.RemediatingCondition)).To(And(HaveField("Status", metav1.ConditionTrue), HaveField("Reason", remediation.RemediatingReason)))
		Consistently(func() bool {
			m := &capi.Machine{}
			return k8s.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: victims[1]}, m) == nil && m.DeletionTimestamp.IsZero()
		}, 2*time.Second).Should(BeTrue(), "the second is not deleted while the first is in flight")
		hold(false)

		By("the pool returning to 3 Running Machines, none of them a victim")
		Eventually(func() []string {
			var names []string
			for _, m := range w.machines() {
				if m.Status.Phase == capi.MachinePhaseRunning && m.DeletionTimestamp.IsZero() {
					names = append(names, m.Name)
				}
			}
			return names
		}).Should(And(HaveLen(3), Not(ContainElements(victims[0])), Not(ContainElement(victims[1]))))
		w.running(3)
		for _, name := range victims {
			Expect(slices.Contains(w.machineNames(), name)).To(BeFalse(), "Machine %s is gone", name)
		}
		Expect(testutil.ToFloat64(mpmetrics.Remediations.WithLabelValues(w.ns, "workers")) - before).To(BeEquivalentTo(2))
		Eventually(func() *corev1beta1.Condition {
			return conditions.Get(w.status().Conditions, corev1beta1.MachinesHealthyCondition)
		}).
			Should(HaveField("Status", corev1.ConditionTrue))
		Expect(w.v1beta2Condition(corev1beta2.RemediatingCondition)).To(HaveField("Status", metav1.ConditionFalse))

		By("an event on the pool for each, saying which Machine and why")
		var notes []string
		list := &eventsv1.EventList{}
		Expect(k8s.List(ctx, list, client.InNamespace(w.ns))).To(Succeed())
		for _, e := range list.Items {
			if e.Reason == remediation.MachineRemediatedReason && e.Regarding.Kind == "MachinePool" {
				notes = append(notes, e.Note)
			}
		}
		Expect(notes).To(ConsistOf(
			ContainSubstring("deleting Machine "+victims[0]+" to replace its instance: UnhealthyNode: Condition Ready"),
			ContainSubstring("deleting Machine "+victims[1]+" to replace its instance: UnhealthyNode: Condition Ready")))
	})
})
