//go:build e2e

package e2e_test

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
	"github.com/machinepool-operator/machinepool-operator/internal/drain"
	"github.com/machinepool-operator/machinepool-operator/test/support"
)

// applyPools applies n pools of the given size, a few kubectl at a time.
func applyPools(n, replicas int) []*pool {
	GinkgoHelper()
	pools := make([]*pool, n)
	slots := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i := range pools {
		wg.Go(func() {
			defer GinkgoRecover()
			slots <- struct{}{}
			defer func() { <-slots }()
			pools[i] = applyPool(poolOptions{replicas: replicas, dataSecret: "workers-data", maxSurge: 1})
		})
	}
	wg.Wait()
	Expect(pools).NotTo(ContainElement(BeNil()))
	return pools
}

// manifestOf names the pools' MachinePools, for kubectl -f: one command scales or deletes them all.
func manifestOf(pools []*pool) string {
	var b strings.Builder
	for _, p := range pools {
		fmt.Fprintf(&b, "---\napiVersion: cluster.x-k8s.io/v1beta1\nkind: MachinePool\nmetadata: {name: workers, namespace: %s}\n", p.ns)
	}
	return b.String()
}

// poolCounts are what a change of the pools' sizes is followed by, by namespace: live instances, Machines (those
// being deleted included) and Ready replicas (counted only once every replica is Ready).
type poolCounts struct{ live, machines, ready map[string]int }

// countPools lists the cloud's scaling groups, Machines and MachinePools once each.
func countPools() poolCounts {
	c := poolCounts{live: map[string]int{}, machines: map[string]int{}, ready: map[string]int{}}
	groups, machines, pools := &corev1.ConfigMapList{}, &capi.MachineList{}, &corev1beta1.MachinePoolList{}
	if k8s.List(ctx, groups, client.HasLabels{"sim.infrastructure.cluster.x-k8s.io/scaling-group"}) != nil || k8s.List(ctx, machines) != nil ||
		k8s.List(ctx, pools) != nil {
		return c
	}
	for _, cm := range groups.Items {
		state := map[string]any{}
		if json.Unmarshal([]byte(cm.Data["state"]), &state) == nil {
			c.live[cm.Namespace] = len(liveIn(state))
		}
	}
	for _, m := range machines.Items {
		c.machines[m.Namespace]++
	}
	for _, mp := range pools.Items {
		if mp.Status.Replicas == mp.Status.ReadyReplicas {
			c.ready[mp.Namespace] = int(mp.Status.ReadyReplicas)
		}
	}
	return c
}

// done counts the pools whose change is done as a user sees it: as many live instances, Machines and Ready
// replicas as their target.
func (c poolCounts) done(pools []*pool, target int) int {
	n := 0
	for _, p := range pools {
		if c.live[p.ns] == target && c.machines[p.ns] == target && c.ready[p.ns] == target {
			n++
		}
	}
	return n
}

// launching counts the pools that run more instances than from, the size they grow from.
func (c poolCounts) launching(pools []*pool, from int) int {
	n := 0
	for _, p := range pools {
		if c.live[p.ns] > from {
			n++
		}
	}
	return n
}

// launched is how many instances the pool's scaling group ever launched (the cloud's counter) and the IDs of those
// it records, live or terminated (it keeps terminated ones ten minutes).
func (p *pool) launched() (int, []string) {
	state := p.cloudState()
	if state == nil {
		return 0, nil
	}
	var ids []string
	for _, in := range state["instances"].([]any) {
		ids = append(ids, in.(map[string]any)["id"].(string))
	}
	return int(state["counter"].(float64)), ids
}

func (p *pool) infraMachineNames() []string {
	list := &infrav1beta1.SimMachinePoolMachineList{}
	_ = k8s.List(ctx, list, client.InNamespace(p.ns))
	var names []string
	for _, m := range list.Items {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	return names
}

// duplicateProviderIDs are the provider IDs more than one of the objects carries.
func duplicateProviderIDs(ids []string) []string {
	seen := map[string]int{}
	var twice []string
	for _, id := range ids {
		if seen[id]++; seen[id] == 2 {
			twice = append(twice, id)
		}
	}
	return twice
}

// noneDuplicatedOrOrphaned checks pools that converged (consistent): each launched as many instances as its
// scale changes needed (launches), every ID once, and has one SimMachinePoolMachine per live instance and one
// Machine carrying its provider ID; no two Machines or Nodes share an instance.
func noneDuplicatedOrOrphaned(launches map[*pool]int) {
	GinkgoHelper()
	everID := map[string]bool{}
	var machineIDs []string
	for p, want := range launches {
		counter, ids := p.launched()
		Expect(counter).To(Equal(want), "pool %s launched no instance beyond what its scale changes needed", p.ns)
		Expect(ids).To(HaveLen(counter), "pool %s: every launch recorded", p.ns)
		for _, id := range ids {
			Expect(everID[id]).To(BeFalse(), "instance ID %s launched twice", id)
			everID[id] = true
		}
		live := p.liveInstances()
		Expect(p.infraMachineNames()).To(Equal(live), "pool %s: one SimMachinePoolMachine per live instance", p.ns)
		for _, m := range p.machines() {
			Expect(m.Spec.ProviderID).NotTo(BeNil(), "Machine %s/%s", m.Namespace, m.Name)
			Expect(*m.Spec.ProviderID).To(HaveSuffix("/"+m.Name), "Machine %s/%s carries its own instance's provider ID", m.Namespace, m.Name)
			machineIDs = append(machineIDs, *m.Spec.ProviderID)
		}
	}
	Expect(duplicateProviderIDs(machineIDs)).To(BeEmpty(), "two Machines for one instance")
	all := &corev1.NodeList{}
	Expect(nodes.List(ctx, all)).To(Succeed())
	var nodeIDs []string
	for _, n := range all.Items {
		if n.Spec.ProviderID != "" {
			nodeIDs = append(nodeIDs, n.Spec.ProviderID)
		}
	}
	Expect(duplicateProviderIDs(nodeIDs)).To(BeEmpty(), "two Nodes for one instance")
}

// guardedPod runs a Pod on the Node that a PodDisruptionBudget keeps from being evicted, as the disruption
// controller (which envtest lacks) would: the budget's status allows no disruption of its one healthy Pod.
func guardedPod(ns, node string) (*corev1.Pod, *policyv1.PodDisruptionBudget) {
	GinkgoHelper()
	Expect(client.IgnoreAlreadyExists(nodes.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))).To(Succeed())
	labels := map[string]string{"app": "guarded"}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "guarded", Labels: labels},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "app"}}}}
	Expect(nodes.Create(ctx, pod)).To(Succeed())
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	Expect(nodes.Status().Update(ctx, pod)).To(Succeed())
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "guarded"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels}}}
	Expect(nodes.Create(ctx, pdb)).To(Succeed())
	pdb.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, DisruptionsAllowed: 0, CurrentHealthy: 1,
		DesiredHealthy: 1, ExpectedPods: 1}
	Expect(nodes.Status().Update(ctx, pdb)).To(Succeed())
	return pod, pdb
}

// drainOf is the DrainingSucceeded condition of a Machine (nil while it has none or is gone).
func drainOf(ns, name string) func() *corev1beta1.Condition {
	return func() *corev1beta1.Condition {
		m := &capi.Machine{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, m); err != nil {
			return nil
		}
		return conditions.Get(m.Status.Conditions, capi.DrainingSucceededCondition)
	}
}

func gone(c client.Client, obj client.Object) func() bool {
	return func() bool { return apierrors.IsNotFound(c.Get(ctx, client.ObjectKeyFromObject(obj), obj)) }
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

var _ = Describe("two manager replicas with leader election, behind one Service", Ordered, func() {
	var (
		replicas []*replica
		history  *leaseHistory
	)
	// roles tells the replica holding the Lease from the other one.
	roles := func() (leader, follower *replica) {
		GinkgoHelper()
		holder := history.holder()
		for _, r := range replicas {
			if r.identity != "" && r.identity == holder {
				leader = r
			} else {
				follower = r
			}
		}
		Expect(leader).NotTo(BeNil(), "no replica holds the Lease (holder %q)", holder)
		return leader, follower
	}
	// takeOver waits until follower holds the Lease in place of leader and reconciles with every controller the
	// leader ran, checks that the Lease changed hands once, and returns when the last of those controllers started.
	takeOver := func(leader, follower *replica, controllers []string) time.Time {
		GinkgoHelper()
		Eventually(history.holder).Should(And(Not(BeEmpty()), Not(Equal(leader.identity))))
		Eventually(follower.acquired).Should(BeTrue(), "the other replica took the Lease")
		follower.identity = history.holder()
		Eventually(func() time.Time { return follower.reconciling(controllers) }).ShouldNot(BeZero(), "every controller of the old leader runs")
		last, _, first := history.handover(leader.identity, follower.identity)
		Expect(first.transitions).To(Equal(last.transitions+1), "the Lease changed hands once")
		return follower.reconciling(controllers)
	}
	// controllersOf are the controllers whose workers the replica started.
	controllersOf := func(r *replica) []string {
		var names []string
		for name := range r.workersStarted() {
			names = append(names, name)
		}
		slices.Sort(names)
		return names
	}

	BeforeAll(func() {
		By("replacing the single manager with two replicas: each serves the webhooks behind one Service, one leads")
		killManager()
		leaseNS := fmt.Sprintf("ha-%d", time.Now().UnixNano()%1_000_000_000)
		kubectl("", "create", "namespace", leaseNS)
		history = watchLease(leaseNS)
		replicas = []*replica{{name: "replica-a", port: support.FreePort(), leaseNS: leaseNS}, {name: "replica-b", port: support.FreePort(), leaseNS: leaseNS}}
		wio := mgmtEnv.WebhookInstallOptions
		svc := startService(net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort)), replicas[0].addr(), replicas[1].addr())
		DeferCleanup(func() {
			for _, r := range replicas {
				if r.session != nil && r.session.ExitCode() == -1 {
					r.session.Kill().Wait(10 * time.Second)
				}
			}
			svc.close()
			startManager()
		})
		replicas[0].start()
		Eventually(replicas[0].acquired).Should(BeTrue())
		Eventually(history.holder).ShouldNot(BeEmpty())
		replicas[0].identity = history.holder()
		replicas[1].start()
		support.WaitForConversion(mgmtEnv.Config)
		Consistently(replicas[1].workersStarted, 2*time.Second).Should(BeEmpty(), "the follower runs no controller")
	})

	It("takes over within the lease duration plus a jittered retry period plus cache sync after SIGKILL mid-way through scaling 20 pools up and 20 down; every pool converges, no instance launched twice, no Machine or Node duplicated or orphaned", func() {
		leader, follower := roles()
		By("20 pools of 1 instance and 20 of 3")
		up, down := applyPools(20, 1), applyPools(20, 3)
		before, targets := map[*pool]int{}, map[*pool]int{}
		for _, p := range up {
			before[p], targets[p] = 1, 3
		}
		for _, p := range down {
			before[p], targets[p] = 3, 1
		}
		for p, n := range before {
			p.running(n)
		}

		By("scaling 20 down to 1 and, once a few are done, the other 20 up to 3, and killing the leader with SIGKILL as they launch")
		kubectl(manifestOf(down), "scale", "--replicas=1", "-f", "-")
		Eventually(func() int { return countPools().done(down, 1) }).WithPolling(50 * time.Millisecond).Should(BeNumerically(">=", 2))
		kubectl(manifestOf(up), "scale", "--replicas=3", "-f", "-")
		Eventually(func() int { return countPools().launching(up, 1) }).WithPolling(50 * time.Millisecond).Should(BeNumerically(">=", 1))
		controllers := controllersOf(leader)
		killedAt := time.Now()
		leader.session.Kill().Wait(10 * time.Second)
		counts := countPools() // as the leader left them: nothing moves without it
		upDone, downDone := counts.done(up, 3), counts.done(down, 1)
		AddReportEntry("pools at their new size when the leader was killed", fmt.Sprintf("%d of %d scaled up (%d launching), %d of %d scaled down",
			upDone, len(up), counts.launching(up, 1), downDone, len(down)))
		Expect(upDone+downDone).To(BeNumerically("<", len(targets)), "the leader died before the change was done")

		reconciling := takeOver(leader, follower, controllers)
		last, _, first := history.handover(leader.identity, follower.identity)
		bound := leaseDuration + jitteredRetry + cacheSync
		AddReportEntry("SIGKILL takeover", fmt.Sprintf("Lease taken %s after the kill (%s after the last renewal), controllers reconciling %s after the kill (bound: lease %s + retry with jitter %s + cache sync %s = %s)",
			seconds(first.acquired.Sub(killedAt)), seconds(first.acquired.Sub(last.renewed)), seconds(reconciling.Sub(killedAt)),
			leaseDuration, jitteredRetry, cacheSync, bound))
		Expect(first.acquired).To(BeTemporally(">=", last.renewed.Add(leaseDuration)), "the Lease was taken only once it expired: never two leaders")
		Expect(reconciling.Sub(killedAt)).To(BeNumerically("<=", bound))

		By("the killed replica restarting, as its Pod's container would, and following")
		leader.start()
		Eventually(leader.serving).Should(BeTrue(), "its webhook server is back behind the Service")

		By("every pool converging, each instance launched once, one Machine and one Node per instance")
		for p, n := range targets {
			p.consistent(n)
		}
		launches := map[*pool]int{}
		for p, n := range targets {
			launches[p] = max(before[p], n)
		}
		noneDuplicatedOrOrphaned(launches)

		By("deleting the 40 pools")
		kubectl(manifestOf(append(up, down...)), "delete", "--wait=false", "-f", "-")
		for p := range targets {
			Eventually(gone(k8s, &corev1beta1.MachinePool{ObjectMeta: metav1.ObjectMeta{Namespace: p.ns, Name: "workers"}})).Should(BeTrue())
		}
	})

	It("hands the Lease back on SIGTERM: the other replica takes over within a jittered retry period plus cache sync and finishes the drain in flight", func() {
		leader, follower := roles()
		p := applyPool(poolOptions{replicas: 2, dataSecret: "workers-data", maxSurge: 1})
		p.running(2)
		victim := p.liveInstances()[0]
		By("a Pod on " + victim + " that a PodDisruptionBudget keeps from being evicted")
		pod, pdb := guardedPod(p.ns, victim)

		By("removing that instance as the cluster-autoscaler does: its Machine marked, the pool scaled to 1")
		kubectl("", "annotate", "-n", p.ns, "machine/"+victim, corev1beta1.DeleteMachineAnnotation+"=yes")
		p.scale(1)
		Eventually(drainOf(p.ns, victim)).Should(And(Not(BeNil()), HaveField("Reason", "Draining"),
			HaveField("Message", ContainSubstring("1 held back by a PodDisruptionBudget"))), "the drain waits on the budget")
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: victim}}
		Expect(nodes.Get(ctx, client.ObjectKeyFromObject(node), node)).To(Succeed())
		Expect(node.Spec.Unschedulable).To(BeTrue())
		drainStarted := node.Annotations[drain.StartedAnnotation]
		Expect(drainStarted).NotTo(BeEmpty())

		By("SIGTERM to the leader while the drain waits")
		controllers := controllersOf(leader)
		terminatedAt := time.Now()
		leader.session.Terminate()
		Eventually(leader.session).WithTimeout(30 * time.Second).Should(gexec.Exit(0))
		reconciling := takeOver(leader, follower, controllers)
		last, release, first := history.handover(leader.identity, follower.identity)
		Expect(release.renewed).NotTo(BeZero(), "the leader handed the Lease back (no holder, 1s duration) before it exited")
		bound := jitteredRetry + cacheSync
		AddReportEntry("SIGTERM takeover", fmt.Sprintf("Lease released %s after SIGTERM, taken %s after the release, controllers reconciling %s after the release, %s after SIGTERM (bound from the release: retry with jitter %s + cache sync %s = %s)",
			seconds(release.renewed.Sub(terminatedAt)), seconds(first.acquired.Sub(release.renewed)), seconds(reconciling.Sub(release.renewed)),
			seconds(reconciling.Sub(terminatedAt)), jitteredRetry, cacheSync, bound))
		Expect(first.acquired).To(BeTemporally("<", last.renewed.Add(leaseDuration)), "taken before the lease would have expired: handed back, not waited out")
		Expect(first.acquired.Sub(release.renewed)).To(BeNumerically("<=", jitteredRetry+time.Second), "taken at the next retry, give or take an API round trip")
		Expect(reconciling.Sub(release.renewed)).To(BeNumerically("<=", bound))

		By("the new leader holding the drain while the budget holds: the Pod stays, so does its Node")
		Consistently(func() bool { return gone(nodes, pod.DeepCopy())() || gone(nodes, node.DeepCopy())() }, 2*drain.Retry).Should(BeFalse())
		Expect(drainOf(p.ns, victim)()).To(HaveField("Reason", "Draining"))
		Expect(nodes.Get(ctx, client.ObjectKeyFromObject(node), node)).To(Succeed())
		Expect(node.Annotations).To(HaveKeyWithValue(drain.StartedAnnotation, drainStarted), "the drain goes on; it did not start over")

		By("lifting the budget: the drain evicts the Pod, then the Node, Machine and instance go")
		Expect(nodes.Delete(ctx, pdb)).To(Succeed())
		// Envtest has no Pod garbage collector: a Pod whose Node went first would stay for good. Its being gone
		// means it was evicted and finished while its Node was still there.
		Eventually(gone(nodes, pod)).Should(BeTrue(), "the Pod was evicted")
		Eventually(gone(nodes, node)).Should(BeTrue())
		Eventually(p.machineNames).ShouldNot(ContainElement(victim))
		p.consistent(1)
		Expect(p.liveInstances()).NotTo(ContainElement(victim))
		noneDuplicatedOrOrphaned(map[*pool]int{p: 2})
	})
})
