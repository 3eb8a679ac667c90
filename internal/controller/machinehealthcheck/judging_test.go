package machinehealthcheck_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
)

// longAgo is a transition time far past every timeout.
func longAgo() time.Time { return time.Now().Add(-time.Hour) }

// consistentlyUntil asserts that f keeps matching until shortly before deadline (not at all when it is near).
func consistentlyUntil(deadline time.Time, f any, matcher types.GomegaMatcher) {
	GinkgoHelper()
	if d := time.Until(deadline) - 100*time.Millisecond; d > 0 {
		Consistently(f, d).Should(matcher)
	}
}

var _ = Describe("judging a health check's targets", func() {
	It("marks a Machine whose Node has been Ready=Unknown past the timeout, keeps its sibling healthy, reports the status, and marks a Node that turns Unknown exactly when its timeout passes", func() {
		w := newWorld()
		w.machine("sick", w.node("sick", corev1.ConditionUnknown, longAgo()))
		w.machine("well", w.node("well", corev1.ConditionTrue, longAgo()))
		w.mhc("hc", unlabelled())

		Eventually(w.cond("sick", hcs)).Should(haveFalse(capi.UnhealthyNodeConditionReason, unknownFor))
		Expect(w.cond("sick", or)()).To(waitingFor(unknownFor))
		Eventually(w.cond("well", hcs)).Should(beTrue())
		Expect(w.cond("well", or)()).To(BeNil())
		Eventually(w.counts()).Should(Equal(counts{Expected: 2, Healthy: 1, Allowed: 1}))
		hc := w.getMHC("hc")
		Expect(hc.Status.Targets).To(Equal([]string{"sick", "well"}))
		Expect(hc.Status.ObservedGeneration).To(Equal(hc.Generation))
		Expect(conditions.Get(hc.Status.Conditions, ra)).To(beTrue())
		Expect(hc.Labels).To(HaveKeyWithValue(corev1beta1.ClusterNameLabel, clusterName), "labelled as the webhook would")
		Expect(hc.OwnerReferences).To(BeEmpty(), "no Cluster to own it")
		Eventually(w.events("MachineMarkedUnhealthy")).Should(ContainElement(
			"Machine " + w.ns + "/sick has been marked as unhealthy by MachineHealthCheck hc: " + unknownFor))

		By("a Node turning Unknown now: pending (not healthy) until the timeout, then marked with nothing else changing")
		changed := time.Now()
		w.setReady(w.nodeName("well"), corev1.ConditionUnknown, changed)
		// lastTransitionTime is stored to the second: the timeout ends 2s after the second it was set in.
		deadline := changed.Truncate(time.Second).Add(timeout)
		Eventually(w.counts()).Should(Equal(counts{Expected: 2, Healthy: 0, Allowed: 0}), "pending counts as not healthy")
		consistentlyUntil(deadline, w.cond("well", hcs), beTrue())
		Eventually(w.cond("well", hcs)).WithTimeout(time.Until(deadline) + 2*time.Second).
			Should(haveFalse(capi.UnhealthyNodeConditionReason, unknownFor))
		Expect(w.cond("well", or)()).To(waitingFor(unknownFor))
	})

	It("marks a Machine whose Node was deleted NodeNotFound", func() {
		w := newWorld()
		node := w.node("gone", corev1.ConditionTrue, longAgo())
		w.machine("m", node)
		w.mhc("hc")
		Eventually(w.cond("m", hcs)).Should(beTrue())

		Expect(nodes.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}})).To(Succeed())
		msg := "Node " + node + " is gone from the workload cluster"
		Eventually(w.cond("m", hcs)).Should(haveFalse(capi.NodeNotFoundReason, msg))
		Expect(w.cond("m", or)()).To(waitingFor(msg))
		Expect(w.counts()()).To(Equal(counts{Expected: 1, Healthy: 0, Allowed: 0}))
	})

	It("marks a Machine that has had no Node for nodeStartupTimeout since its creation, not before", func() {
		w := newWorld()
		w.mhc("hc", nodeStartupTimeout(timeout))
		w.machine("m", "")
		deadline := w.getMachine("m").CreationTimestamp.Add(timeout)

		Eventually(w.counts()).Should(Equal(counts{Expected: 1, Healthy: 0, Allowed: 0}), "waiting for its Node counts as not healthy")
		consistentlyUntil(deadline, w.markedConditions("m"), BeEmpty())
		msg := "Node failed to report startup in 2s"
		Eventually(w.cond("m", hcs)).WithTimeout(time.Until(deadline) + 2*time.Second).Should(haveFalse(capi.NodeStartupTimeoutReason, msg))
		Expect(w.cond("m", or)()).To(waitingFor(msg))
	})

	It("neither marks a Machine without a Node nor counts it healthy when nodeStartupTimeout is 0s", func() {
		w := newWorld()
		w.machine("waiting", "")
		w.machine("well", w.node("well", corev1.ConditionTrue, longAgo()))
		w.mhc("hc", nodeStartupTimeout(0))

		Eventually(w.cond("well", hcs)).Should(beTrue())
		Eventually(w.counts()).Should(Equal(counts{Expected: 2, Healthy: 1, Allowed: 1}))
		Expect(w.status()().Targets).To(Equal([]string{"waiting", "well"}))
		Consistently(w.markedConditions("waiting")).Should(BeEmpty())
	})

	It("marks Machines with a failureReason or a failureMessage MachineHasFailure, the reason first", func() {
		w := newWorld()
		for _, name := range []string{"reason", "message", "both"} {
			w.machine(name, w.node(name, corev1.ConditionTrue, longAgo()))
		}
		w.mhc("hc")
		Eventually(w.counts()).Should(Equal(counts{Expected: 3, Healthy: 3, Allowed: 3}))

		w.machineStatus("reason", func(s *capi.MachineStatus) { s.FailureReason = ptr.To("UpdateError") })
		w.machineStatus("message", func(s *capi.MachineStatus) { s.FailureMessage = ptr.To("the instance is gone") })
		w.machineStatus("both", func(s *capi.MachineStatus) {
			s.FailureReason, s.FailureMessage = ptr.To("CreateError"), ptr.To("quota exceeded")
		})
		for machine, msg := range map[string]string{
			"reason":  "FailureReason: UpdateError",
			"message": "FailureMessage: the instance is gone",
			"both":    "FailureReason: CreateError",
		} {
			Eventually(w.cond(machine, hcs)).Should(haveFalse(capi.MachineHasFailureReason, msg), machine)
			Eventually(w.cond(machine, or)).Should(waitingFor(msg), machine)
		}
		Expect(w.counts()()).To(Equal(counts{Expected: 3, Healthy: 0, Allowed: 0}))
	})

	It("marks a Machine with the remediate-machine annotation, and leaves skip-remediation and paused Machines out", func() {
		w := newWorld()
		w.machine("asked", w.node("asked", corev1.ConditionTrue, longAgo()), annotated(capi.RemediateMachineAnnotation))
		w.machine("skipped", w.node("skipped", corev1.ConditionUnknown, longAgo()), annotated(capi.SkipRemediationAnnotation))
		w.machine("paused", w.node("paused", corev1.ConditionUnknown, longAgo()), annotated(corev1beta1.PausedAnnotation))
		w.machine("well", w.node("well", corev1.ConditionTrue, longAgo()))
		w.mhc("hc")

		msg := "Marked for remediation via remediate-machine annotation"
		Eventually(w.cond("asked", hcs)).Should(haveFalse(capi.HasRemediateMachineAnnotationReason, msg))
		Expect(w.cond("asked", or)()).To(waitingFor(msg))
		Eventually(w.cond("well", hcs)).Should(beTrue())
		Eventually(w.status()).Should(HaveField("Targets", Equal([]string{"asked", "well"})))
		Expect(w.counts()()).To(Equal(counts{Expected: 2, Healthy: 1, Allowed: 1}))
		Consistently(w.marks("skipped", "paused")).Should(BeEmpty())

		By("the skip-remediation annotation going away")
		w.updateMachine("skipped", func(m *capi.Machine) { delete(m.Annotations, capi.SkipRemediationAnnotation) })
		Eventually(w.cond("skipped", hcs)).Should(haveFalse(capi.UnhealthyNodeConditionReason, unknownFor))
		Eventually(w.status()).Should(HaveField("Targets", Equal([]string{"asked", "skipped", "well"})))
		Expect(w.marks("paused")()).To(BeEmpty())
	})

	It("leaves out Machines its selector does not match and Machines of other clusters", func() {
		w := newWorld()
		w.machine("selected", w.node("selected", corev1.ConditionUnknown, longAgo()))
		w.machine("other-pool", w.node("other-pool", corev1.ConditionUnknown, longAgo()), inPool("b"))
		w.machine("other-cluster", w.node("other-cluster", corev1.ConditionUnknown, longAgo()), ofCluster("c2"))
		w.mhc("hc")

		Eventually(w.cond("selected", hcs)).Should(haveFalse(capi.UnhealthyNodeConditionReason, unknownFor))
		Expect(w.status()().Targets).To(Equal([]string{"selected"}))
		Expect(w.counts()()).To(Equal(counts{Expected: 1, Healthy: 0, Allowed: 0}))
		Consistently(w.marks("other-pool", "other-cluster")).Should(BeEmpty())
	})

	It("leaves an OwnerRemediated=False its owner set alone, replaces a True one, and touches no other condition", func() {
		w := newWorld()
		w.machine("in-hand", w.node("in-hand", corev1.ConditionUnknown, longAgo()))
		w.machine("remediated", w.node("remediated", corev1.ConditionUnknown, longAgo()))
		past := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
		w.machineStatus("in-hand", func(s *capi.MachineStatus) {
			s.Conditions = corev1beta1.Conditions{
				{Type: corev1beta1.ReadyCondition, Status: corev1.ConditionFalse, Severity: corev1beta1.ConditionSeverityInfo,
					Reason: "Replacing", Message: "the owner replaces it", LastTransitionTime: past},
				{Type: or, Status: corev1.ConditionFalse, Severity: corev1beta1.ConditionSeverityWarning,
					Reason: "Other", Message: "the owner is at work", LastTransitionTime: past},
			}
		})
		w.machineStatus("remediated", func(s *capi.MachineStatus) {
			s.Conditions = corev1beta1.Conditions{{Type: or, Status: corev1.ConditionTrue, LastTransitionTime: past}}
		})
		w.mhc("hc")

		Eventually(w.cond("in-hand", hcs)).Should(haveFalse(capi.UnhealthyNodeConditionReason, unknownFor))
		Eventually(w.cond("remediated", or)).Should(waitingFor(unknownFor))
		Consistently(w.cond("in-hand", or)).Should(And(haveFalse("Other", "the owner is at work"),
			HaveField("LastTransitionTime.Time", BeTemporally("==", past.Time))))
		Expect(w.cond("in-hand", corev1beta1.ReadyCondition)()).To(And(
			HaveField("Status", corev1.ConditionFalse), HaveField("Reason", "Replacing"), HaveField("Message", "the owner replaces it"),
			HaveField("LastTransitionTime.Time", BeTemporally("==", past.Time))))
	})
})
