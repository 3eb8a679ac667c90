package machinepoolmachine_test

import (
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
)

// templateLabels puts labels on the pool's template.
func templateLabels(labels map[string]string) func(*infrav1beta1.SimMachinePool, *corev1beta1.MachinePool) {
	return func(_ *infrav1beta1.SimMachinePool, pool *corev1beta1.MachinePool) {
		pool.Spec.Template.Labels = labels
	}
}

// bootDelay makes instances register their Nodes a while after they launch, as real ones do: by then the pool
// has made their Machines.
func bootDelay(d time.Duration) func(*infrav1beta1.SimMachinePool, *corev1beta1.MachinePool) {
	return func(smp *infrav1beta1.SimMachinePool, _ *corev1beta1.MachinePool) {
		smp.Spec.Simulation.BootDelay = &metav1.Duration{Duration: d}
	}
}

// nodeMeta is the part of a Node these specs look at.
type nodeMeta struct {
	Annotations, Labels map[string]string
}

// nodesOfMachines returns, by Machine name, the metadata of each Machine's Node.
func (w *world) nodesOfMachines() map[string]nodeMeta {
	out := map[string]nodeMeta{}
	for _, m := range w.machines() {
		if m.Status.NodeRef == nil {
			continue
		}
		n := &corev1.Node{}
		if nodes.Get(ctx, client.ObjectKey{Name: m.Status.NodeRef.Name}, n) == nil {
			out[m.Name] = nodeMeta{Annotations: n.Annotations, Labels: n.Labels}
		}
	}
	return out
}

func (w *world) nodeNames() []string {
	var names []string
	for _, m := range w.machines() {
		if m.Status.NodeRef != nil {
			names = append(names, m.Status.NodeRef.Name)
		}
	}
	slices.Sort(names)
	return names
}

// setPoolLabels replaces the pool template's labels.
func (w *world) setPoolLabels(labels map[string]string) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p := &corev1beta1.MachinePool{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(w.pool), p); err != nil {
			return err
		}
		p.Spec.Template.Labels = labels
		return k8s.Update(ctx, p)
	})).To(Succeed())
}

// labelsFrom is the labels-from-machine record for these keys, in any order.
func labelsFrom(keys ...string) OmegaMatcher {
	return WithTransform(func(v string) []string { return strings.Split(v, ",") }, ConsistOf(keys))
}

var _ = Describe("the Nodes of MachinePool Machines", func() {
	It("carry their Machine's annotations and its labels in the Node-label domains, and no other labels, with one write per Node", func() {
		w := newWorld(3, bootDelay(2*time.Second), templateLabels(map[string]string{
			"node-role.kubernetes.io/worker":           "",
			"node.cluster.x-k8s.io/tier":               "gold",
			"prod.node-restriction.kubernetes.io/zone": "z1",
			"team": "payments",
		}))
		w.running(3)

		Eventually(w.nodesOfMachines).Should(And(HaveLen(3), HaveEach(Satisfy(func(n nodeMeta) bool {
			return n.Annotations[corev1beta1.MachineAnnotation] != "" && n.Labels["node.cluster.x-k8s.io/tier"] == "gold"
		}))))
		for machine, n := range w.nodesOfMachines() {
			Expect(n.Annotations).To(And(
				HaveKeyWithValue(corev1beta1.MachineAnnotation, machine),
				HaveKeyWithValue(corev1beta1.ClusterNamespaceAnnotation, w.ns),
				HaveKeyWithValue(corev1beta1.ClusterNameAnnotation, "demo"),
				HaveKeyWithValue(corev1beta1.OwnerKindAnnotation, "MachinePool"),
				HaveKeyWithValue(corev1beta1.OwnerNameAnnotation, "workers"),
				HaveKeyWithValue(corev1beta1.LabelsFromMachineAnnotation, labelsFrom("node-role.kubernetes.io/worker",
					"node.cluster.x-k8s.io/tier", "prod.node-restriction.kubernetes.io/zone")),
			), machine)
			Expect(n.Labels).To(And(
				HaveKeyWithValue("node-role.kubernetes.io/worker", ""),
				HaveKeyWithValue("node.cluster.x-k8s.io/tier", "gold"),
				HaveKeyWithValue("prod.node-restriction.kubernetes.io/zone", "z1"),
				Not(HaveKey("team")), Not(HaveKey(corev1beta1.MachinePoolNameLabel)),
			), machine)
		}

		By("writing each Node once: the pool's adoption carries what the Machine keeps there")
		names := w.nodeNames()
		Consistently(func() map[string]int { return nodeWrites.of(names...) }, 2*time.Second).
			Should(And(HaveLen(3), HaveEach(1)))
	})

	It("moves a label added to or removed from the pool template onto its Nodes in place, keeping the labels others set", func() {
		w := newWorld(2, templateLabels(map[string]string{
			"node-role.kubernetes.io/worker": "",
			"node.cluster.x-k8s.io/tier":     "gold",
		}))
		w.running(2)
		Eventually(w.nodesOfMachines).Should(And(HaveLen(2), HaveEach(HaveField("Labels", HaveKey("node.cluster.x-k8s.io/tier")))))
		names, ids := w.nodeNames(), w.providerIDs()

		By("someone labelling a Node and a Machine themselves")
		ms := w.machines()
		theirs := ms[0]
		Expect(nodes.Patch(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: theirs.Status.NodeRef.Name}},
			client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"labels":{"node.cluster.x-k8s.io/theirs":"y"}}}`)))).To(Succeed())
		Expect(k8s.Patch(ctx, &capi.Machine{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: theirs.Name}},
			client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"labels":{"node-role.kubernetes.io/extra":""}}}`)))).To(Succeed())
		Eventually(func() map[string]string { return w.nodesOfMachines()[theirs.Name].Labels }).
			Should(HaveKey("node-role.kubernetes.io/extra"), "a Machine's own label in the domains reaches its Node")

		By("the template losing one label and gaining another")
		w.setPoolLabels(map[string]string{"node-role.kubernetes.io/worker": "", "node.cluster.x-k8s.io/disk": "ssd"})
		Eventually(w.nodesOfMachines).Should(HaveEach(HaveField("Labels", And(
			Not(HaveKey("node.cluster.x-k8s.io/tier")),
			HaveKeyWithValue("node.cluster.x-k8s.io/disk", "ssd"),
			HaveKeyWithValue("node-role.kubernetes.io/worker", ""),
		))))
		for _, m := range w.machines() {
			Expect(m.Labels).NotTo(HaveKey("node.cluster.x-k8s.io/tier"), "the label left the Machine %s", m.Name)
		}
		mine := w.nodesOfMachines()[theirs.Name]
		Expect(mine.Labels).To(HaveKeyWithValue("node.cluster.x-k8s.io/theirs", "y"), "a label set on the Node by someone else stays")
		Expect(mine.Labels).To(HaveKey("node-role.kubernetes.io/extra"), "a label set on the Machine by someone else stays")
		Expect(mine.Annotations).To(HaveKeyWithValue(corev1beta1.LabelsFromMachineAnnotation, labelsFrom(
			"node-role.kubernetes.io/worker", "node.cluster.x-k8s.io/disk", "node-role.kubernetes.io/extra")))

		By("in place: the same instances and Nodes")
		Expect(w.nodeNames()).To(Equal(names))
		Expect(w.providerIDs()).To(ConsistOf(ids))
	})

	It("find a Machine's Node when the two write its provider ID in different forms, and follow that Node's changes", func() {
		w := newWorld(1, bootDelay(3*time.Second))
		var id, providerID string
		Eventually(func() []infrav1beta1.Instance {
			smp := &infrav1beta1.SimMachinePool{}
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "workers"}, smp)).To(Succeed())
			return smp.Status.Instances
		}).Should(ContainElement(Satisfy(func(in infrav1beta1.Instance) bool {
			id, providerID = in.ID, in.ProviderID
			return in.ProviderID != ""
		})))
		By("its kubelet registering the Node with a longer form of the provider ID, a zone in front (as AWS Nodes say aws:///zone/i-1)")
		longer := strings.Replace(providerID, "sim://", "sim://zone-a/", 1)
		Expect(nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: id}, Spec: corev1.NodeSpec{ProviderID: longer,
			Taints: []corev1.Taint{{Key: corev1beta1.NodeUninitializedTaint, Effect: corev1.TaintEffectNoSchedule}}}})).To(Succeed())
		w.running(1)
		Eventually(w.nodesOfMachines).Should(HaveLen(1))
		machine := w.machines()[0].Name
		Eventually(func() map[string]string { return w.nodesOfMachines()[machine].Annotations }).
			Should(HaveKeyWithValue(corev1beta1.MachineAnnotation, machine))

		By("the Node going NotReady reaching its Machine at once, through the provider-ID index (the kubelet's next heartbeat is 5 s away)")
		node := &corev1.Node{}
		Expect(nodes.Get(ctx, client.ObjectKey{Name: id}, node)).To(Succeed())
		notReady := node.DeepCopy()
		for i := range notReady.Status.Conditions {
			if c := &notReady.Status.Conditions[i]; c.Type == corev1.NodeReady {
				c.Status, c.Reason, c.LastTransitionTime = corev1.ConditionFalse, "KubeletNotReady", metav1.Now()
			}
		}
		Expect(nodes.Status().Patch(ctx, notReady, client.MergeFrom(node))).To(Succeed())
		Eventually(func() corev1.ConditionStatus {
			m := &capi.Machine{}
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: machine}, m)).To(Succeed())
			if c := conditions.Get(m.Status.Conditions, capi.NodeHealthyCondition); c != nil {
				return c.Status
			}
			return ""
		}).WithTimeout(3 * time.Second).Should(Equal(corev1.ConditionFalse))
	})
})
