package machinehealthcheck_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/machinepool-operator/machinepool-operator/internal/capi"
)

var _ = Describe("short-circuiting remediation", func() {
	DescribeTable("marks but does not hand over unhealthy targets while too many are unhealthy, and hands them over once few enough are",
		func(limit mhcOpt, blocked string) {
			w := newWorld()
			unhealthy, healthy := []string{"u1", "u2", "u3"}, []string{"h1", "h2"}
			for _, name := range unhealthy {
				w.machine(name, w.node(name, corev1.ConditionUnknown, longAgo()))
			}
			for _, name := range healthy {
				w.machine(name, w.node(name, corev1.ConditionTrue, longAgo()))
			}
			w.mhc("hc", limit)

			Eventually(w.remediationAllowed()).Should(haveFalse(capi.TooManyUnhealthyReason, blocked))
			Expect(w.counts()()).To(Equal(counts{Expected: 5, Healthy: 2, Allowed: 0}))
			Expect(w.status()().Targets).To(Equal([]string{"h1", "h2", "u1", "u2", "u3"}))
			for _, name := range unhealthy {
				Eventually(w.cond(name, hcs)).Should(haveFalse(capi.UnhealthyNodeConditionReason, unknownFor), name)
			}
			for _, name := range healthy {
				Eventually(w.cond(name, hcs)).Should(beTrue(), name)
			}
			Eventually(w.events("RemediationRestricted")).Should(ContainElement(blocked))
			Consistently(func() []string {
				var handedOver []string
				for _, name := range unhealthy {
					if w.cond(name, or)() != nil {
						handedOver = append(handedOver, name)
					}
				}
				return handedOver
			}).Should(BeEmpty(), "no OwnerRemediated while short-circuited")

			By("one of them healing: two unhealthy are few enough")
			w.setReady(w.nodeName("u3"), corev1.ConditionTrue, time.Now())
			Eventually(w.remediationAllowed()).Should(beTrue())
			Expect(w.counts()()).To(Equal(counts{Expected: 5, Healthy: 3, Allowed: 0}))
			for _, name := range unhealthy[:2] {
				Eventually(w.cond(name, or)).Should(waitingFor(unknownFor), name)
			}
			Eventually(w.cond("u3", hcs)).Should(beTrue())
			Expect(w.cond("u3", or)()).To(BeNil())
		},
		Entry("maxUnhealthy 40% (2 of 5)", maxUnhealthy(intstr.FromString("40%")),
			"Remediation is not allowed, the number of not started or unhealthy machines exceeds maxUnhealthy (total: 5, unhealthy: 3, maxUnhealthy: 40%)"),
		Entry("unhealthyRange [1-2]", unhealthyRange("[1-2]"),
			"Remediation is not allowed, the number of not started or unhealthy machines does not fall within the range (total: 5, unhealthy: 3, unhealthyRange: [1-2])"),
	)
})

var _ = Describe("deleting a health check", func() {
	It("releases its hold on the workload cluster's client only, and leaves the marks it wrote", func() {
		w := newWorld()
		w.machine("a", w.node("a", corev1.ConditionUnknown, longAgo()))
		w.machine("b", w.node("b", corev1.ConditionTrue, longAgo()), inPool("b"))
		w.mhc("hc-a")
		w.mhc("hc-b", selecting("b"))
		Eventually(w.cond("a", hcs)).Should(haveFalse(capi.UnhealthyNodeConditionReason, unknownFor))
		Eventually(w.cond("b", hcs)).Should(beTrue())
		Eventually(func() int { return tracker.Users(w.key()) }).Should(Equal(2))

		Expect(k8s.Delete(ctx, w.getMHC("hc-a"))).To(Succeed())
		Eventually(func() int { return tracker.Users(w.key()) }).Should(Equal(1))
		Expect(tracker.Lookup(w.key())).NotTo(BeNil(), "hc-b still holds the client")
		Expect(w.cond("a", hcs)()).To(haveFalse(capi.UnhealthyNodeConditionReason, unknownFor), "marks stay")

		By("the other health check still following its Nodes")
		w.setReady(w.nodeName("b"), corev1.ConditionUnknown, longAgo())
		Eventually(w.cond("b", hcs)).Should(haveFalse(capi.UnhealthyNodeConditionReason, unknownFor))

		Expect(k8s.Delete(ctx, w.getMHC("hc-b"))).To(Succeed())
		Eventually(func() int { return tracker.Users(w.key()) }).Should(BeZero())
		Expect(tracker.Lookup(w.key())).To(BeNil(), "nobody holds the client: torn down")
	})
})
