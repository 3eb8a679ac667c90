//go:build e2e

package e2e_test

import (
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
)

// unhealthyTimeout is the health checks' unhealthy-condition timeout here; the Sim turns a stopped kubelet's
// Node Unknown after its nodeMonitorGracePeriod, set to 10s.
const unhealthyTimeout = 20 * time.Second

// applyHealthCheck applies a MachineHealthCheck on the pool's Machines, as a user would.
func (p *pool) applyHealthCheck(maxUnhealthy string) {
	GinkgoHelper()
	kubectl(fmt.Sprintf(`apiVersion: cluster.x-k8s.io/v1beta1
kind: MachineHealthCheck
metadata: {name: workers}
spec:
  clusterName: demo
  selector: {matchLabels: {cluster.x-k8s.io/pool-name: workers}}
  maxUnhealthy: %q
  nodeStartupTimeout: 5m
  unhealthyConditions:
  - {type: Ready, status: Unknown, timeout: %s}
  - {type: Ready, status: "False", timeout: %s}
`, maxUnhealthy, unhealthyTimeout, unhealthyTimeout), "apply", "-n", p.ns, "-f", "-")
	kubectl("", "patch", "-n", p.ns, "simmachinepool/workers", "--type=merge", "-p", `{"spec":{"simulation":{"nodeMonitorGracePeriod":"10s"}}}`)
}

func (p *pool) healthCheck() *capi.MachineHealthCheck {
	hc := &capi.MachineHealthCheck{}
	_ = k8s.Get(ctx, client.ObjectKey{Namespace: p.ns, Name: "workers"}, hc)
	return hc
}

func (p *pool) remediationAllowed() *corev1beta1.Condition {
	return conditions.Get(p.healthCheck().Status.Conditions, capi.RemediationAllowedCondition)
}

// setFaults replaces the Sim pool's faults (JSON list), as a user patches them.
func (p *pool) setFaults(faults string) {
	GinkgoHelper()
	kubectl("", "patch", "-n", p.ns, "simmachinepool/workers", "--type=merge", "-p", `{"spec":{"simulation":{"faults":`+faults+`}}}`)
}

func quotedList(ids []string) string { return `["` + strings.Join(ids, `","`) + `"]` }

// machines returns the pool's Machines.
func (p *pool) machines() []capi.Machine {
	list := &capi.MachineList{}
	_ = k8s.List(ctx, list, client.InNamespace(p.ns))
	return list.Items
}

// remediated lists the Machines marked for remediation (OwnerRemediated set) or being deleted.
func (p *pool) remediated() []string {
	var out []string
	for _, m := range p.machines() {
		if conditions.Get(m.Status.Conditions, capi.OwnerRemediatedCondition) != nil || !m.DeletionTimestamp.IsZero() {
			out = append(out, m.Name)
		}
	}
	return out
}

// unknownSince returns when the Node turned Ready=Unknown, or zero while it is not Unknown.
func unknownSince(name string) time.Time {
	n := &corev1.Node{}
	if err := nodes.Get(ctx, client.ObjectKey{Name: name}, n); err != nil {
		return time.Time{}
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionUnknown {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

var _ = Describe("health checks", Ordered, func() {
	It("replaces an instance whose kubelet stopped, within the timeout plus 30 s of its Node going Unknown", func() {
		p := applyPool(poolOptions{replicas: 5, dataSecret: "workers-data", maxSurge: 1})
		p.running(5)
		p.applyHealthCheck("40%")
		Eventually(func() int32 { return p.healthCheck().Status.CurrentHealthy }).Should(BeEquivalentTo(5))
		victim := p.liveInstances()[0]
		By("stopping the kubelet of " + victim)
		p.setFaults(`[{"type":"KubeletStopped","instances":["` + victim + `"]}]`)
		Eventually(func() time.Time { return unknownSince(victim) }).ShouldNot(BeZero())
		unknownAt := unknownSince(victim)
		// A Machine without Pods to drain can be marked, deleted and gone between two polls: gone counts too.
		remediatedOrGone := func() bool {
			return slices.Contains(p.remediated(), victim) || !slices.Contains(p.machineNames(), victim)
		}
		Eventually(remediatedOrGone).WithTimeout(time.Until(unknownAt.Add(unhealthyTimeout+30*time.Second))).
			Should(BeTrue(), "the Machine is remediated within the timeout plus 30 s")
		Expect(time.Since(unknownAt)).To(BeNumerically(">", unhealthyTimeout), "and not before its timeout")
		Eventually(p.machineNames).ShouldNot(ContainElement(victim))
		p.consistent(5)
		Expect(p.liveInstances()).NotTo(ContainElement(victim))
		Expect(kubectl("", "get", "events", "-n", p.ns, "--field-selector", "reason=MachineRemediated", "-o", "name")).NotTo(BeEmpty())
		Eventually(func() int32 { return p.healthCheck().Status.CurrentHealthy }).Should(BeEquivalentTo(5))
	})

	It("remediates none when three of five fail together with maxUnhealthy 40%, and says why", func() {
		p := applyPool(poolOptions{replicas: 5, dataSecret: "workers-data", maxSurge: 1})
		p.running(5)
		p.applyHealthCheck("40%")
		Eventually(func() int32 { return p.healthCheck().Status.CurrentHealthy }).Should(BeEquivalentTo(5))
		victims := p.liveInstances()[:3]
		p.setFaults(`[{"type":"KubeletStopped","instances":` + quotedList(victims) + `}]`)
		Eventually(p.remediationAllowed).WithTimeout(2 * time.Minute).Should(And(Not(BeNil()), HaveField("Status", corev1.ConditionFalse),
			HaveField("Reason", capi.TooManyUnhealthyReason), HaveField("Message", ContainSubstring("(total: 5, unhealthy: 3, maxUnhealthy: 40%)"))))
		Expect(kubectl("", "get", "mhc", "-n", p.ns)).To(ContainSubstring("40%"))
		Consistently(p.remediated, 15*time.Second).Should(BeEmpty(), "no Machine marked for remediation, none deleted")
		Expect(p.machineNames()).To(Equal(p.liveInstances()))

		By("their kubelets coming back: healthy again, nothing was replaced")
		p.setFaults(`null`)
		Eventually(func() int32 { return p.healthCheck().Status.CurrentHealthy }).Should(BeEquivalentTo(5))
		Expect(p.remediationAllowed()).To(HaveField("Status", corev1.ConditionTrue))
		Expect(p.remediated()).To(BeEmpty())
		Expect(p.liveInstances()).To(ContainElements(victims))
	})

	It("remediates none after a 60 s outage of the workload API server, though the Nodes went Unknown during it", func() {
		p := applyPool(poolOptions{replicas: 5, dataSecret: "workers-data", maxSurge: 1})
		p.running(5)
		p.applyHealthCheck("100%")
		Eventually(func() int32 { return p.healthCheck().Status.CurrentHealthy }).Should(BeEquivalentTo(5))

		By("cutting the workload API server off, for the manager and the kubelets alike")
		proxy.Cut()
		cutAt := time.Now()
		// The kubelets cannot post either: in the workload cluster their Nodes turn Unknown 10 s in (the Sim
		// writes that once it reaches the API server again, dated when it happened). They reconnect 10 s after
		// the API server is back, so the Nodes are still Unknown, for longer than the timeout, when the
		// manager sees them again.
		p.setFaults(fmt.Sprintf(`[{"type":"KubeletStopped","startTime":%q}]`, cutAt.UTC().Format(time.RFC3339)))
		Eventually(p.remediationAllowed).Should(And(Not(BeNil()), HaveField("Reason", "WorkloadClusterUnreachable")))
		time.Sleep(time.Until(cutAt.Add(60 * time.Second)))
		proxy.Restore()
		restoredAt := time.Now()
		Eventually(func() []time.Time {
			var out []time.Time
			for _, id := range p.liveInstances() {
				if t := unknownSince(id); !t.IsZero() {
					out = append(out, t)
				}
			}
			return out
		}).Should(HaveLen(5), "the Nodes are Unknown, dated during the outage")
		time.Sleep(time.Until(restoredAt.Add(10 * time.Second)))
		p.setFaults(`null`)
		Eventually(p.readyNodes).Should(HaveLen(5))
		Consistently(p.remediated, unhealthyTimeout).Should(BeEmpty(), "no Machine was marked for remediation")
		Eventually(func() int32 { return p.healthCheck().Status.CurrentHealthy }).Should(BeEquivalentTo(5))
		p.consistent(5)
	})
})
