//go:build e2e

package e2e_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

// pool is one MachinePool on a SimMachinePool in a namespace of its own, as a user applies it.
type pool struct{ ns string }

type poolOptions struct {
	replicas                 int
	dataSecret               string // the Secret the pool boots from; only "workers-data" is created
	maxSurge, maxUnavailable int
}

// applied numbers the pools applied, so that pools applied at once get namespaces of their own.
var applied atomic.Int32

func applyPool(o poolOptions) *pool {
	GinkgoHelper()
	ns := fmt.Sprintf("e2e-%d-%d", time.Now().UnixNano()%1_000_000_000, applied.Add(1))
	kubectl("", "create", "namespace", ns)
	quoted, err := json.Marshal(string(workloadViaProxy))
	Expect(err).NotTo(HaveOccurred())
	kubectl(fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: demo-kubeconfig, labels: {cluster.x-k8s.io/cluster-name: demo}}
stringData: {value: %s}
---
apiVersion: v1
kind: Secret
metadata: {name: workers-data, labels: {cluster.x-k8s.io/cluster-name: demo}}
stringData: {value: "#cloud-config\n"}
---
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: SimMachinePool
metadata: {name: workers}
spec:
  instanceType: sim.small
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: %d, maxUnavailable: %d}}
  simulation: {bootDelay: 1s}
---
apiVersion: cluster.x-k8s.io/v1beta1
kind: MachinePool
metadata: {name: workers}
spec:
  clusterName: demo
  replicas: %d
  template:
    spec:
      clusterName: demo
      version: v1.30.0
      bootstrap: {dataSecretName: %s}
      infrastructureRef: {apiVersion: infrastructure.cluster.x-k8s.io/v1beta1, kind: SimMachinePool, name: workers}
`, quoted, o.maxSurge, o.maxUnavailable, o.replicas, o.dataSecret), "apply", "-n", ns, "-f", "-")
	return &pool{ns: ns}
}

func (p *pool) get() *corev1beta1.MachinePool {
	mp := &corev1beta1.MachinePool{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: p.ns, Name: "workers"}, mp); err != nil {
		return &corev1beta1.MachinePool{}
	}
	return mp
}

func (p *pool) status() corev1beta1.MachinePoolStatus { return p.get().Status }

// running waits until the pool is Running with n Ready replicas, each a Ready Node.
func (p *pool) running(n int) {
	GinkgoHelper()
	Eventually(p.status).Should(And(HaveField("Phase", "Running"), HaveField("Replicas", BeEquivalentTo(n)),
		HaveField("ReadyReplicas", BeEquivalentTo(n)), HaveField("NodeRefs", HaveLen(n))))
	Eventually(p.readyNodes).Should(HaveLen(n))
}

func (p *pool) scale(n int) {
	GinkgoHelper()
	kubectl("", "scale", "-n", p.ns, "machinepool/workers", fmt.Sprintf("--replicas=%d", n))
}

// cloudState reads the simulated cloud's record of the scaling group (its ConfigMap, where a real cloud's
// API would answer): every instance launched, with its state.
func (p *pool) cloudState() map[string]any {
	cm := &corev1.ConfigMap{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: p.ns, Name: "sim-cloud-workers"}, cm); err != nil {
		return nil
	}
	state := map[string]any{}
	Expect(json.Unmarshal([]byte(cm.Data["state"]), &state)).To(Succeed())
	return state
}

// liveInstances are the IDs of the instances the cloud runs or boots (not terminating, not failed).
func (p *pool) liveInstances() []string { return liveIn(p.cloudState()) }

// liveIn are the live instances of a scaling group's state (cloudState), sorted.
func liveIn(state map[string]any) []string {
	var ids []string
	if state == nil {
		return nil
	}
	for _, in := range state["instances"].([]any) {
		r := in.(map[string]any)
		if r["terminatingAt"] == nil && r["reason"] != "LaunchFailed" {
			ids = append(ids, r["id"].(string))
		}
	}
	sort.Strings(ids)
	return ids
}

// nodesOf returns the workload Nodes of the pool's instances (Node name = instance ID), by readiness.
func (p *pool) nodes() []corev1.Node {
	state := p.cloudState()
	if state == nil {
		return nil
	}
	ours := map[string]bool{}
	for _, in := range state["instances"].([]any) {
		ours[in.(map[string]any)["id"].(string)] = true
	}
	list := &corev1.NodeList{}
	if err := nodes.List(ctx, list); err != nil {
		return nil
	}
	var out []corev1.Node
	for _, n := range list.Items {
		if ours[n.Name] {
			out = append(out, n)
		}
	}
	return out
}

func nodeReady(n *corev1.Node) bool {
	_, ok := workload.ReadySince(n)
	return ok
}

func (p *pool) readyNodes() []string {
	var names []string
	for _, n := range p.nodes() {
		if nodeReady(&n) {
			names = append(names, n.Name)
		}
	}
	sort.Strings(names)
	return names
}

func (p *pool) nodeNames() []string {
	var names []string
	for _, n := range p.nodes() {
		names = append(names, n.Name)
	}
	sort.Strings(names)
	return names
}

func (p *pool) machineNames() []string {
	list := &capi.MachineList{}
	_ = k8s.List(ctx, list, client.InNamespace(p.ns))
	var names []string
	for _, m := range list.Items {
		names = append(names, m.Name)
	}
	sort.Strings(names)
	return names
}

// consistent checks what a restart must never break: one Ready Node, one Machine and one live instance per
// replica, all the same names, none twice.
func (p *pool) consistent(n int) {
	GinkgoHelper()
	p.running(n)
	Eventually(p.liveInstances).Should(HaveLen(n), "no instance leaked")
	Eventually(p.nodeNames).Should(Equal(p.liveInstances()), "no Node lost, none left behind")
	Eventually(p.machineNames).Should(Equal(p.liveInstances()))
	ids := p.get().Spec.ProviderIDList
	seen := map[string]bool{}
	for _, id := range ids {
		Expect(seen[id]).To(BeFalse(), "provider ID %s twice", id)
		seen[id] = true
	}
}

var _ = Describe("a SimMachinePool pool, through kubectl", Ordered, func() {
	var p *pool

	It("goes Running with Ready Nodes, scales up and down with kubectl scale, and retires the Nodes it drops", func() {
		p = applyPool(poolOptions{replicas: 3, dataSecret: "workers-data", maxSurge: 1, maxUnavailable: 1})
		p.running(3)
		p.scale(5)
		p.running(5)
		before := p.readyNodes()
		p.scale(2)
		p.running(2)
		Eventually(p.nodeNames).Should(HaveLen(2), "retired Nodes are deleted")
		Expect(before).To(ContainElements(p.nodeNames()))
		// Desired, current, ready, available, up-to-date.
		Eventually(func() string { return kubectl("", "get", "mp", "-n", p.ns) }).Should(MatchRegexp(`workers\s+demo\s+2\s+2\s+2\s+2\s+2\s+Running`))
	})

	It("rolls a version change over to new instances, never with more than maxUnavailable missing", func() {
		p.scale(3)
		p.running(3)
		old := p.readyNodes()
		var fewest atomic.Int32
		fewest.Store(3)
		stop := make(chan struct{})
		go func() {
			defer GinkgoRecover()
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				available := int32(0)
				for _, n := range p.nodes() {
					if nodeReady(&n) && !n.Spec.Unschedulable {
						available++
					}
				}
				if available < fewest.Load() {
					fewest.Store(available)
				}
			}
		}()
		kubectl("", "patch", "-n", p.ns, "machinepool/workers", "--type=merge", "-p", `{"spec":{"template":{"spec":{"version":"v1.31.0"}}}}`)
		Eventually(func() string {
			return kubectl("", "get", "mp", "workers", "-n", p.ns, "-o", `jsonpath={.status.conditions[?(@.type=="MachinesUpToDate")].status}`)
		}).Should(Equal("False"), "the rollout shows in MachinesUpToDate")
		Eventually(func() []string {
			var stale []string
			for _, n := range p.nodeNames() {
				for _, o := range old {
					if n == o {
						stale = append(stale, n)
					}
				}
			}
			return stale
		}).Should(BeEmpty(), "every old instance replaced")
		p.running(3)
		close(stop)
		Expect(fewest.Load()).To(BeNumerically(">=", 3-1), "maxUnavailable 1 of 3")
		Eventually(func() string {
			return kubectl("", "get", "mp", "workers", "-n", p.ns, "-o", `jsonpath={.status.upToDateReplicas}/{.status.conditions[?(@.type=="MachinesUpToDate")].status}`)
		}).Should(Equal("3/True"))
	})

	It("deletes the pool: the SimMachinePool, its instances, Nodes and Machines go, and so does the finalizer", func() {
		had := p.nodeNames()
		Expect(had).To(HaveLen(3))
		kubectl("", "delete", "-n", p.ns, "machinepool/workers", "--wait=false")
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: p.ns, Name: "workers"}, &corev1beta1.MachinePool{}))
		}).Should(BeTrue())
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: p.ns, Name: "workers"}, &infrav1beta1.SimMachinePool{}))).To(BeTrue())
		Expect(p.cloudState()).To(BeNil(), "the scaling group and its state are gone")
		Expect(p.machineNames()).To(BeEmpty())
		for _, name := range had {
			Expect(apierrors.IsNotFound(nodes.Get(ctx, client.ObjectKey{Name: name}, &corev1.Node{}))).To(BeTrue(), "Node %s left", name)
		}
	})
})

var _ = Describe("faults", Ordered, func() {
	It("converges after SIGKILL mid scale-up: no Node lost, no instance leaked or duplicated", func() {
		p := applyPool(poolOptions{replicas: 2, dataSecret: "workers-data", maxSurge: 1})
		p.running(2)
		p.scale(6)
		Eventually(func() int { return len(p.liveInstances()) }).Should(BeNumerically(">", 2))
		killManager()
		startManager()
		p.consistent(6)
	})

	It("converges after SIGKILL mid scale-down", func() {
		p := applyPool(poolOptions{replicas: 5, dataSecret: "workers-data", maxSurge: 1})
		p.running(5)
		p.scale(2)
		Eventually(func() int { return len(p.machineNames()) }).Should(BeNumerically("<", 5))
		killManager()
		startManager()
		p.consistent(2)
	})

	It("shows a workload API server outage in the pool's conditions and recovers when it is back", func() {
		p := applyPool(poolOptions{replicas: 2, dataSecret: "workers-data", maxSurge: 1})
		p.running(2)
		proxy.Cut()
		cutAt := time.Now()
		Eventually(func() *corev1beta1.Condition {
			return conditions.Get(p.status().Conditions, corev1beta1.ReplicasReadyCondition)
		}).Should(And(Not(BeNil()), HaveField("Reason", corev1beta1.WorkloadClusterUnreachableReason)))
		time.Sleep(time.Until(cutAt.Add(30 * time.Second)))
		proxy.Restore()
		p.running(2)
		Eventually(func() *corev1beta1.Condition {
			return conditions.Get(p.status().Conditions, corev1beta1.ReadyCondition)
		}).Should(HaveField("Status", corev1.ConditionTrue))
	})

	It("replaces an instance terminated out of band and retires its Node", func() {
		p := applyPool(poolOptions{replicas: 2, dataSecret: "workers-data", maxSurge: 1})
		p.running(2)
		victim := p.liveInstances()[0]
		By("terminating " + victim + " behind the operator's back, in the cloud's own records")
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cm := &corev1.ConfigMap{}
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: p.ns, Name: "sim-cloud-workers"}, cm); err != nil {
				return err
			}
			state := map[string]any{}
			if err := json.Unmarshal([]byte(cm.Data["state"]), &state); err != nil {
				return err
			}
			for _, in := range state["instances"].([]any) {
				if r := in.(map[string]any); r["id"] == victim {
					r["terminatingAt"] = time.Now().UTC().Format(time.RFC3339Nano)
					r["reason"] = "TerminatedOutOfBand"
				}
			}
			raw, err := json.Marshal(state)
			if err != nil {
				return err
			}
			cm.Data["state"] = string(raw)
			return k8s.Update(ctx, cm)
		})).To(Succeed())
		Eventually(p.nodeNames).ShouldNot(ContainElement(victim))
		p.consistent(2)
		Expect(p.liveInstances()).NotTo(ContainElement(victim))
	})

	It("says clearly when the bootstrap data Secret is missing", func() {
		p := applyPool(poolOptions{replicas: 1, dataSecret: "missing-data", maxSurge: 1})
		Eventually(func() *corev1beta1.Condition {
			smp := &infrav1beta1.SimMachinePool{}
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: p.ns, Name: "workers"}, smp); err != nil {
				return nil
			}
			return conditions.Get(smp.Status.Conditions, "InstancesReady")
		}).Should(And(Not(BeNil()), HaveField("Reason", "BootstrapDataMissing"), HaveField("Message", ContainSubstring("missing-data"))))
		Consistently(func() []string { return p.nodeNames() }, 3*time.Second).Should(BeEmpty(), "no Node joins without its data")
		Expect(kubectl("", "get", "mp", "-n", p.ns, "workers", "-o", "wide")).NotTo(ContainSubstring("Running"))
	})
})

var _ = Describe("a generic InfraMachinePool under the core controller alone", func() {
	It("goes Running as the provider reports instances and kubelets register, with --controllers=machinepool", func() {
		killManager()
		startManager("--controllers=machinepool")
		DeferCleanup(func() {
			killManager()
			startManager()
		})
		ns := fmt.Sprintf("generic-%d", time.Now().UnixNano()%1_000_000_000)
		kubectl("", "create", "namespace", ns)
		quoted, err := json.Marshal(string(workloadViaProxy))
		Expect(err).NotTo(HaveOccurred())
		kubectl(fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: generic-kubeconfig}
stringData: {value: %s}
---
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: GenericMachinePool
metadata: {name: pool}
---
apiVersion: cluster.x-k8s.io/v1beta1
kind: MachinePool
metadata: {name: pool}
spec:
  clusterName: generic
  replicas: 2
  template:
    spec:
      clusterName: generic
      bootstrap: {dataSecretName: pool-data}
      infrastructureRef: {apiVersion: infrastructure.cluster.x-k8s.io/v1beta1, kind: GenericMachinePool, name: pool}
`, quoted), "apply", "-n", ns, "-f", "-")

		By("playing the provider: instances launched, reported in providerIDList, status ready")
		ids := []string{"generic:///" + ns + "/i-1", "generic:///" + ns + "/i-2"}
		for i, id := range ids {
			node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", ns, i)}, Spec: corev1.NodeSpec{ProviderID: id}}
			Expect(nodes.Create(ctx, node)).To(Succeed())
			node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
			Expect(nodes.Status().Update(ctx, node)).To(Succeed())
		}
		kubectl("", "patch", "-n", ns, "genericmachinepool/pool", "--type=merge", "-p",
			fmt.Sprintf(`{"spec":{"providerIDList":["%s"]}}`, strings.Join(ids, `","`)))
		kubectl("", "patch", "-n", ns, "genericmachinepool/pool", "--subresource=status", "--type=merge", "-p",
			`{"status":{"ready":true,"replicas":2}}`)

		Eventually(func() corev1beta1.MachinePoolStatus {
			mp := &corev1beta1.MachinePool{}
			_ = k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "pool"}, mp)
			return mp.Status
		}).Should(And(HaveField("Phase", "Running"), HaveField("ReadyReplicas", BeEquivalentTo(2)), HaveField("NodeRefs", HaveLen(2))))
		Eventually(func() string {
			n := &corev1.Node{}
			_ = nodes.Get(ctx, client.ObjectKey{Name: ns + "-0"}, n)
			return n.Annotations["cluster.x-k8s.io/owner-name"]
		}).Should(Equal("pool"), "the Node is adopted")
	})
})
