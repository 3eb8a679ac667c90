package machinehealthcheck_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/internal/controller/machinehealthcheck"
	"github.com/machinepool-operator/machinepool-operator/test/support"
)

var _ = Describe("pausing", func() {
	DescribeTable("writes nothing while paused and judges once unpaused",
		func(paused func(w *world), unpause func(w *world)) {
			w := newWorld()
			w.machine("sick", w.node("sick", corev1.ConditionUnknown, longAgo()))
			paused(w)
			created := w.getMHC("hc")

			Consistently(func(g Gomega) {
				hc := w.getMHC("hc")
				g.Expect(hc.Status).To(BeZero())
				g.Expect(hc.Labels).To(Equal(created.Labels))
				g.Expect(hc.OwnerReferences).To(BeEmpty())
				g.Expect(w.markedConditions("sick")()).To(BeEmpty())
			}, time.Second).Should(Succeed())

			unpause(w)
			Eventually(w.cond("sick", hcs)).WithTimeout(5 * time.Second).Should(haveFalse(capi.UnhealthyNodeConditionReason, unknownFor))
			Eventually(w.remediationAllowed()).Should(beTrue())
			Expect(w.getMHC("hc").Labels).To(HaveKeyWithValue(corev1beta1.ClusterNameLabel, clusterName))
		},
		Entry("a paused Cluster",
			func(w *world) {
				w.clusterObject(true, initialized(longAgo()), infraReady(longAgo()))
				w.mhc("hc")
			},
			func(w *world) { w.pauseCluster(false) }),
		// Our webhook labels health checks, but the controller labels them itself too: one created where the
		// webhook does not run must not depend on an event of its own to be found again.
		Entry("a paused Cluster, the health check created without the webhook's cluster-name label",
			func(w *world) {
				w.clusterObject(true, initialized(longAgo()), infraReady(longAgo()))
				w.mhc("hc", unlabelled())
			},
			func(w *world) { w.pauseCluster(false) }),
		Entry("the paused annotation on the health check",
			func(w *world) { w.mhc("hc", pausedMHC()) },
			func(w *world) {
				w.updateMHC("hc", func(hc *capi.MachineHealthCheck) { delete(hc.Annotations, corev1beta1.PausedAnnotation) })
			}),
	)
})

var _ = Describe("a health check of a Cluster", func() {
	DescribeTable("does not judge Nodes until the Cluster is initialised, and judges them as soon as its condition changes",
		func(before, after []clusterCond) {
			w := newWorld()
			w.clusterObject(false, before...)
			w.machine("sick", w.node("sick", corev1.ConditionUnknown, longAgo()))
			w.mhc("hc")

			Eventually(w.remediationAllowed()).Should(beTrue())
			cluster := w.getCluster()
			Expect(w.getMHC("hc").OwnerReferences).To(ConsistOf(And(HaveField("Kind", "Cluster"), HaveField("Name", clusterName),
				HaveField("UID", cluster.GetUID()), HaveField("Controller", BeNil()))))
			Expect(w.counts()()).To(Equal(counts{Expected: 1, Healthy: 0, Allowed: 0}))
			Consistently(w.markedConditions("sick")).Should(BeEmpty())

			w.clusterConditions(after...)
			Eventually(w.cond("sick", hcs)).Should(haveFalse(capi.UnhealthyNodeConditionReason, unknownFor))
			Expect(w.cond("sick", or)()).To(waitingFor(unknownFor))
		},
		Entry("ControlPlaneInitialized False, then True",
			[]clusterCond{notInitialized(longAgo()), infraReady(longAgo())},
			[]clusterCond{initialized(time.Now()), infraReady(longAgo())}),
		Entry("InfrastructureReady absent, then True",
			[]clusterCond{initialized(longAgo())},
			[]clusterCond{initialized(longAgo()), infraReady(time.Now())}),
	)

	It("counts a Machine's Node startup from the control plane's initialisation when that came after the Machine", func() {
		w := newWorld()
		w.clusterObject(false, notInitialized(longAgo()), infraReady(longAgo()))
		w.mhc("hc", nodeStartupTimeout(timeout))
		w.machine("m", "")
		created := w.getMachine("m").CreationTimestamp.Time

		By("staying uninitialised past the timeout counted from the Machine's creation")
		Consistently(w.markedConditions("m"), time.Until(created.Add(timeout+500*time.Millisecond))).Should(BeEmpty())

		initializedAt := time.Now()
		w.clusterConditions(initialized(initializedAt), infraReady(longAgo()))
		deadline := initializedAt.Truncate(time.Second).Add(timeout)
		consistentlyUntil(deadline, w.markedConditions("m"), BeEmpty())
		Eventually(w.cond("m", hcs)).WithTimeout(time.Until(deadline) + 2*time.Second).
			Should(haveFalse(capi.NodeStartupTimeoutReason, "Node failed to report startup in 2s"))
	})
})

var _ = Describe("a health check without a Cluster (standalone)", func() {
	It("reports the workload cluster unreachable until its kubeconfig Secret exists, then judges its Nodes", func() {
		w := newBareWorld()
		w.machine("sick", w.node("sick", corev1.ConditionUnknown, longAgo()))
		w.mhc("hc")

		Eventually(w.remediationAllowed()).Should(haveFalse(machinehealthcheck.WorkloadClusterUnreachableReason,
			"Nodes are not judged while the workload cluster cannot be read (no kubeconfig Secret c1-kubeconfig yet); a Node's unhealthy time counts from when it is back"))
		Expect(w.counts()()).To(Equal(counts{Expected: 1, Healthy: 0, Allowed: 0}))
		Consistently(w.markedConditions("sick"), 500*time.Millisecond).Should(BeEmpty())

		w.kubeconfigSecret(workloadKubeconfig)
		Eventually(w.cond("sick", hcs)).WithTimeout(5 * time.Second).Should(haveFalse(capi.UnhealthyNodeConditionReason, unknownFor))
		Expect(w.remediationAllowed()()).To(beTrue())
	})

	It("judges the Nodes of a workload cluster that did not answer when first asked, once it answers", func() {
		proxy := support.StartProxy(workloadHost())
		DeferCleanup(proxy.Cut)
		proxy.Cut()
		w := newBareWorld()
		w.kubeconfigSecret(kubeconfigVia(proxy.Addr))
		w.machine("sick", w.node("sick", corev1.ConditionUnknown, longAgo()))
		w.mhc("hc")

		Eventually(w.remediationAllowed()).Should(And(beFalse(), HaveField("Reason", machinehealthcheck.WorkloadClusterUnreachableReason),
			HaveField("Message", ContainSubstring("connection refused"))))
		proxy.Restore()
		// The client is built again unreachableRetry (10 s) after the failed attempt.
		Eventually(w.cond("sick", hcs)).WithTimeout(25 * time.Second).Should(haveFalse(capi.UnhealthyNodeConditionReason, unknownFor))
	})
})

var _ = Describe("an outage of the workload cluster", func() {
	var (
		w     *world
		proxy *support.TCPProxy
	)
	BeforeEach(func() {
		proxy = support.StartProxy(workloadHost())
		DeferCleanup(proxy.Cut)
		w = newBareWorld()
		w.kubeconfigSecret(kubeconfigVia(proxy.Addr))
		w.machine("m", w.node("m", corev1.ConditionTrue, longAgo()))
		w.mhc("hc", nodeStartupTimeout(timeout))
		Eventually(w.cond("m", hcs)).Should(beTrue())
		Eventually(w.counts()).Should(Equal(counts{Expected: 1, Healthy: 1, Allowed: 1}))
	})

	// cut takes the workload API server away and waits until the health check says so.
	cut := func(targets int32) {
		GinkgoHelper()
		proxy.Cut()
		Eventually(w.remediationAllowed()).Should(And(beFalse(), HaveField("Reason", machinehealthcheck.WorkloadClusterUnreachableReason),
			HaveField("Severity", corev1beta1.ConditionSeverityWarning),
			HaveField("Message", HavePrefix("Nodes are not judged while the workload cluster cannot be read (workload cluster "+w.ns+"/c1 does not answer: "))))
		Expect(w.counts()()).To(Equal(counts{Expected: targets, Healthy: 0, Allowed: 0}), "nothing is known to be healthy")
	}

	// recoveredAt is when the tracker saw the workload API server answer again.
	recoveredAt := func() time.Time {
		GinkgoHelper()
		wc := tracker.Lookup(w.key())
		Expect(wc).NotTo(BeNil())
		Eventually(wc.Healthy).Should(Succeed())
		return wc.RecoveredAt()
	}

	// cachedCondition is the Node's Ready condition as the controller's workload client has it.
	cachedCondition := func() corev1.NodeCondition {
		n := &corev1.Node{}
		if err := tracker.Lookup(w.key()).Get(ctx, client.ObjectKey{Name: w.nodeName("m")}, n); err != nil {
			return corev1.NodeCondition{}
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c
			}
		}
		return corev1.NodeCondition{}
	}
	cachedReady := func() corev1.ConditionStatus { return cachedCondition().Status }
	cachedReadySince := func() time.Time { return cachedCondition().LastTransitionTime.Time }

	It("gives a Node that went Unknown during the outage its timeout counted from the recovery", func() {
		cut(1)
		w.setReady(w.nodeName("m"), corev1.ConditionUnknown, time.Now())
		Consistently(w.cond("m", hcs), 2500*time.Millisecond).Should(beTrue(), "not judged while unreachable")
		proxy.Restore()
		deadline := recoveredAt().Add(timeout)
		Eventually(w.remediationAllowed()).Should(beTrue())
		Eventually(cachedReady).WithTimeout(15 * time.Second).Should(Equal(corev1.ConditionUnknown))
		// Only when the cache catches up before the deadline (the reflector's backoff decides) does the
		// next assertion see the grace; the spec below proves it in every run.
		GinkgoWriter.Printf("the Node cache caught up %v before recovery+timeout\n", time.Until(deadline))

		consistentlyUntil(deadline, w.cond("m", hcs), beTrue())
		Eventually(w.cond("m", hcs)).WithTimeout(time.Until(deadline) + 8*time.Second).
			Should(haveFalse(capi.UnhealthyNodeConditionReason, unknownFor))
		Expect(time.Now()).To(BeTemporally(">=", deadline))
	})

	// The cache holds the Unknown before the outage, and a Machine waits for its Node since before it: both
	// timeouts pass during the outage, so without the rule both would be marked as soon as the cluster is back.
	It("gives a Node already Unknown, and a Machine already waiting for its Node, when the outage began their timeouts counted from the recovery", func() {
		w.machine("late", "")
		w.setReady(w.nodeName("m"), corev1.ConditionUnknown, time.Now())
		Eventually(cachedReady).Should(Equal(corev1.ConditionUnknown))
		cut(2)
		Consistently(w.marks("late"), 2500*time.Millisecond).Should(BeEmpty(), "not judged while unreachable, though its timeout passed")
		Expect(w.cond("m", hcs)()).To(beTrue())
		proxy.Restore()
		deadline := recoveredAt().Add(timeout)

		consistentlyUntil(deadline, func() []any { return []any{w.cond("m", hcs)(), w.marks("late")()} },
			HaveExactElements(beTrue(), BeEmpty()))
		Eventually(w.cond("m", hcs)).WithTimeout(time.Until(deadline) + 2*time.Second).
			Should(haveFalse(capi.UnhealthyNodeConditionReason, unknownFor))
		Eventually(w.cond("late", hcs)).Should(haveFalse(capi.NodeStartupTimeoutReason, "Node failed to report startup in 2s"))
	})

	// The workload client's Node cache reconnects on client-go's reflector backoff (0.8s doubling, jittered up to
	// twice that), not when the health probe answers again: for a while after the recovery it still holds what it
	// had before the outage. A first outage of 5s makes the reflector fail twice, so that after a second outage it
	// waits at least 6.4s before it reconnects, deterministically longer than the recovery plus the timeout.
	It("does not mark a Node by the stale cache of before the outage when it recovered during the outage", func() {
		By("a first outage that makes the Node cache back off")
		proxy.Cut()
		time.Sleep(5 * time.Second)
		proxy.Restore()
		Eventually(w.remediationAllowed()).Should(beTrue())
		healthySince := time.Now().Truncate(time.Second)
		w.setReady(w.nodeName("m"), corev1.ConditionTrue, healthySince)
		Eventually(cachedReadySince).WithTimeout(15*time.Second).Should(BeTemporally("==", healthySince), "the cache caught up")
		w.setReady(w.nodeName("m"), corev1.ConditionUnknown, time.Now())
		Eventually(cachedReady).Should(Equal(corev1.ConditionUnknown))

		By("a second outage, during which the Node is Ready again")
		cut(1)
		w.setReady(w.nodeName("m"), corev1.ConditionTrue, time.Now())
		proxy.Restore()
		deadline := recoveredAt().Add(timeout)
		Eventually(w.remediationAllowed()).Should(beTrue())
		Consistently(w.cond("m", hcs), time.Until(deadline)+1500*time.Millisecond).Should(beTrue(),
			"the Node has been Ready since the outage; only the controller's cache still says Unknown")
	})

	It("never marks a Node that went Unknown during the outage and is Ready again right after it", func() {
		cut(1)
		w.setReady(w.nodeName("m"), corev1.ConditionUnknown, time.Now())
		Consistently(w.cond("m", hcs), 2500*time.Millisecond).Should(beTrue())
		proxy.Restore()
		w.setReady(w.nodeName("m"), corev1.ConditionTrue, time.Now())
		deadline := recoveredAt().Add(timeout)
		Eventually(w.remediationAllowed()).Should(beTrue())
		Consistently(w.cond("m", hcs), time.Until(deadline)+1500*time.Millisecond).Should(beTrue())
		Expect(cachedReady()).To(Equal(corev1.ConditionTrue))
		Expect(w.counts()()).To(Equal(counts{Expected: 1, Healthy: 1, Allowed: 1}))
	})
})
