package machinepoolmachine_test

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/internal/cloud"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
)

// world is a namespace with a MachinePool on a SimMachinePool, and the Secrets both need.
type world struct {
	ns   string
	pool *corev1beta1.MachinePool
}

// newWorld creates the world; each change may alter the SimMachinePool and the MachinePool before they are created.
func newWorld(replicas int32, changes ...func(*infrav1beta1.SimMachinePool, *corev1beta1.MachinePool)) *world {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "mpm-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	w := &world{ns: ns.Name}
	Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "demo-kubeconfig"},
		Data: map[string][]byte{"value": workloadKubeconfig}})).To(Succeed())
	Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "workers-data"},
		Data: map[string][]byte{"value": []byte("#cloud-config\n")}})).To(Succeed())
	smp := &infrav1beta1.SimMachinePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "workers"},
		Spec:       infrav1beta1.SimMachinePoolSpec{InstanceType: "sim.small", Simulation: &infrav1beta1.Simulation{BootDelay: &metav1.Duration{}}},
	}
	w.pool = &corev1beta1.MachinePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "workers"},
		Spec: corev1beta1.MachinePoolSpec{ClusterName: "demo", Replicas: ptr.To(replicas),
			Template: corev1beta1.MachineTemplateSpec{Spec: corev1beta1.MachineSpec{
				ClusterName: "demo", Version: ptr.To("v1.30.0"),
				Bootstrap:           corev1beta1.Bootstrap{DataSecretName: ptr.To("workers-data")},
				InfrastructureRef:   corev1.ObjectReference{APIVersion: infrav1beta1.GroupVersion.String(), Kind: "SimMachinePool", Name: "workers"},
				NodeDrainTimeout:    &metav1.Duration{Duration: time.Minute},
				NodeDeletionTimeout: &metav1.Duration{Duration: 30 * time.Second},
			}}},
	}
	for _, change := range changes {
		change(smp, w.pool)
	}
	Expect(k8s.Create(ctx, smp)).To(Succeed())
	Expect(k8s.Create(ctx, w.pool)).To(Succeed())
	return w
}

func (w *world) status() corev1beta1.MachinePoolStatus {
	p := &corev1beta1.MachinePool{}
	_ = k8s.Get(ctx, client.ObjectKeyFromObject(w.pool), p)
	return p.Status
}

func (w *world) providerIDs() []string {
	p := &corev1beta1.MachinePool{}
	_ = k8s.Get(ctx, client.ObjectKeyFromObject(w.pool), p)
	return p.Spec.ProviderIDList
}

func (w *world) machines() []capi.Machine {
	list := &capi.MachineList{}
	Expect(k8s.List(ctx, list, client.InNamespace(w.ns))).To(Succeed())
	return list.Items
}

func (w *world) machineNames() []string {
	var names []string
	for _, m := range w.machines() {
		names = append(names, m.Name)
	}
	return names
}

func (w *world) infraMachines() []infrav1beta1.SimMachinePoolMachine {
	list := &infrav1beta1.SimMachinePoolMachineList{}
	Expect(k8s.List(ctx, list, client.InNamespace(w.ns))).To(Succeed())
	return list.Items
}

func (w *world) infraMachineNames() []string {
	var names []string
	for _, m := range w.infraMachines() {
		names = append(names, m.Name)
	}
	return names
}

// running is a pool at n Running replicas with one Running Machine per instance.
func (w *world) running(n int) {
	GinkgoHelper()
	Eventually(w.status).Should(And(HaveField("Phase", "Running"), HaveField("ReadyReplicas", BeEquivalentTo(n)),
		HaveField("NodeRefs", HaveLen(n))))
	Eventually(func() []string {
		var phases []string
		for _, m := range w.machines() {
			phases = append(phases, m.Status.Phase)
		}
		return phases
	}).Should(And(HaveLen(n), HaveEach(capi.MachinePhaseRunning)))
}

func instanceID(providerID string) string { return providerID[strings.LastIndex(providerID, "/")+1:] }

func nodeExists(name string) func() bool {
	return func() bool { return nodes.Get(ctx, client.ObjectKey{Name: name}, &corev1.Node{}) == nil }
}

// drained lists the objects of a kind that reported draining a Node (event reason NodeDrained).
func drained(ns, kind string) func() []string {
	return func() []string {
		list := &eventsv1.EventList{}
		_ = k8s.List(ctx, list, client.InNamespace(ns))
		var out []string
		for _, e := range list.Items {
			if e.Regarding.Kind == kind && e.Reason == "NodeDrained" {
				out = append(out, e.Regarding.Name)
			}
		}
		return out
	}
}

var _ = Describe("MachinePool Machines", func() {
	It("keeps one Machine per instance, named after its SimMachinePoolMachine, Running with its Node", func() {
		w := newWorld(3)
		w.running(3)

		smp := &infrav1beta1.SimMachinePool{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "workers"}, smp)).To(Succeed())
		Expect(smp.Status.InfrastructureMachineKind).To(Equal("SimMachinePoolMachine"))
		Expect(w.machineNames()).To(ConsistOf(w.infraMachineNames()))
		var ids []string
		for _, id := range w.providerIDs() {
			ids = append(ids, instanceID(id))
		}
		Expect(w.machineNames()).To(ConsistOf(ids), "named after the instances")

		pool := &corev1beta1.MachinePool{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(w.pool), pool)).To(Succeed())
		Expect(conditions.Get(pool.Status.Conditions, corev1beta1.MachinesCreatedCondition)).To(HaveField("Status", corev1.ConditionTrue))
		for _, m := range w.machines() {
			Expect(metav1.IsControlledBy(&m, pool)).To(BeTrue(), m.Name)
			Expect(m.Labels).To(HaveKeyWithValue("cluster.x-k8s.io/cluster-name", "demo"))
			Expect(m.Labels).To(HaveKeyWithValue("cluster.x-k8s.io/pool-name", "workers"))
			Expect(m.Spec.ClusterName).To(Equal("demo"))
			Expect(m.Spec.InfrastructureRef).To(And(HaveField("Kind", "SimMachinePoolMachine"), HaveField("Name", m.Name)))
			Expect(m.Spec.NodeDrainTimeout).To(Equal(&metav1.Duration{Duration: time.Minute}), "the pool's timeouts, copied")
			Expect(m.Spec.NodeDeletionTimeout).To(Equal(&metav1.Duration{Duration: 30 * time.Second}))
			Expect(m.Spec.ProviderID).NotTo(BeNil())
			Expect(m.Status.NodeRef).To(HaveField("Name", instanceID(*m.Spec.ProviderID)))
			Expect(m.Status.InfrastructureReady).To(BeTrue())
			Expect(m.Status.BootstrapReady).To(BeTrue())
			Expect(conditions.Get(m.Status.Conditions, corev1beta1.ReadyCondition)).To(HaveField("Status", corev1.ConditionTrue))
			Expect(m.Finalizers).To(ContainElement(capi.MachineFinalizer))
		}
		for _, im := range w.infraMachines() {
			Expect(im.Labels).To(HaveKeyWithValue("cluster.x-k8s.io/cluster-name", "demo"))
			Expect(im.Labels).To(HaveKeyWithValue("cluster.x-k8s.io/pool-name", "workers"))
			Expect(im.Spec.ProviderID).To(HaveSuffix("/" + im.Name))
			Expect(im.Status.Ready).To(BeTrue())
			controller := metav1.GetControllerOf(&im)
			Expect(controller).To(And(Not(BeNil()), HaveField("Kind", "Machine"), HaveField("Name", im.Name)))
			Expect(im.OwnerReferences).To(ContainElement(And(HaveField("Kind", "SimMachinePool"), HaveField("Controller", BeNil()))),
				"the pool stays a plain owner")
		}
	})

	// No MachineHealthCheck controller runs in this suite: the spec writes its marks as Cluster API v1.7.1's does
	// (HealthCheckSucceeded and OwnerRemediated, Warning), through the status subresource.
	It("shows a health check's marks in the Machine's Ready, as Cluster API v1.7.1 does, and keeps them through its own writes", func() {
		w := newWorld(2)
		w.running(2)
		name := w.machineNames()[0]
		ready := func() corev1beta1.Condition {
			m := &capi.Machine{}
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: name}, m)).To(Succeed())
			if c := conditions.Get(m.Status.Conditions, corev1beta1.ReadyCondition); c != nil {
				return *c
			}
			return corev1beta1.Condition{}
		}
		mark := func(change func(*corev1beta1.Conditions)) {
			Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
				m := &capi.Machine{}
				if err := k8s.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: name}, m); err != nil {
					return err
				}
				change(&m.Status.Conditions)
				return k8s.Status().Update(ctx, m)
			})).To(Succeed())
		}
		Expect(ready()).To(HaveField("Status", corev1.ConditionTrue))
		By("pausing the pool, so that its controller does not remediate the Machine this spec marks")
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			p := &corev1beta1.MachinePool{}
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(w.pool), p); err != nil {
				return err
			}
			p.Annotations = map[string]string{corev1beta1.PausedAnnotation: "true"}
			return k8s.Update(ctx, p)
		})).To(Succeed())
		Eventually(func() *corev1beta1.Condition {
			return conditions.Get(w.status().Conditions, corev1beta1.PausedCondition)
		}).
			Should(HaveField("Status", corev1.ConditionTrue))

		mark(func(c *corev1beta1.Conditions) {
			conditions.MarkFalse(c, capi.HealthCheckSucceededCondition, "UnhealthyNode", corev1beta1.ConditionSeverityWarning,
				"Condition Ready on node is reporting status Unknown for more than 5m0s")
			conditions.MarkFalse(c, capi.OwnerRemediatedCondition, "WaitingForRemediation", corev1beta1.ConditionSeverityWarning, "")
		})
		Eventually(ready).Should(And(HaveField("Status", corev1.ConditionFalse), HaveField("Reason", "UnhealthyNode"),
			HaveField("Severity", corev1beta1.ConditionSeverityWarning)), "the first health-check mark, as v1.7.1 orders them")

		By("its Node going NotReady makes the controller write the Machine's NodeHealthy: the marks stay")
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			n := &corev1.Node{}
			if err := nodes.Get(ctx, client.ObjectKey{Name: name}, n); err != nil { // Nodes are named after the instances, as Machines are
				return err
			}
			for i := range n.Status.Conditions {
				if n.Status.Conditions[i].Type == corev1.NodeReady {
					n.Status.Conditions[i].Status = corev1.ConditionFalse
				}
			}
			return nodes.Status().Update(ctx, n)
		})).To(Succeed())
		falseTypes := func() []corev1beta1.ConditionType {
			m := &capi.Machine{}
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: name}, m)).To(Succeed())
			var types []corev1beta1.ConditionType
			for _, c := range m.Status.Conditions {
				if c.Status == corev1.ConditionFalse {
					types = append(types, c.Type)
				}
			}
			return types
		}
		Eventually(falseTypes).Should(ContainElements(capi.NodeHealthyCondition, capi.HealthCheckSucceededCondition, capi.OwnerRemediatedCondition))
		Expect(ready()).To(HaveField("Reason", "UnhealthyNode"), "a tie of Warnings goes to the health check's mark, first in v1.7.1's order")

		By("the health check clearing its marks")
		mark(func(c *corev1beta1.Conditions) {
			conditions.MarkTrue(c, capi.HealthCheckSucceededCondition)
			conditions.Delete(c, capi.OwnerRemediatedCondition)
		})
		Eventually(ready).Should(HaveField("Status", corev1.ConditionTrue))
	})

	It("removes the instance whose Machine the autoscaler marked, through its Machine, with one drain", func() {
		w := newWorld(3)
		w.running(3)
		ids := w.providerIDs()
		victim := instanceID(ids[1]) // neither the oldest nor the newest

		By("a Pod running on the victim's Node")
		Expect(client.IgnoreAlreadyExists(nodes.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: w.ns}}))).To(Succeed())
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "app"},
			Spec: corev1.PodSpec{NodeName: victim, Containers: []corev1.Container{{Name: "app", Image: "app"}}}}
		Expect(nodes.Create(ctx, pod)).To(Succeed())
		pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		Expect(nodes.Status().Update(ctx, pod)).To(Succeed())

		By("doing what the cluster-autoscaler does: annotate the Machine, then lower replicas through /scale")
		m := &capi.Machine{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: victim}, m)).To(Succeed())
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(m), m); err != nil {
				return err
			}
			before := m.DeepCopy()
			if m.Annotations == nil {
				m.Annotations = map[string]string{}
			}
			m.Annotations["cluster.x-k8s.io/delete-machine"] = time.Now().UTC().Format(time.RFC3339)
			return k8s.Patch(ctx, m, client.MergeFrom(before))
		})).To(Succeed())
		scale := &autoscalingv1.Scale{}
		Expect(k8s.SubResource("scale").Get(ctx, w.pool, scale)).To(Succeed())
		Expect(scale.Spec.Replicas).To(BeEquivalentTo(3))
		Expect(k8s.SubResource("scale").Patch(ctx, w.pool.DeepCopy(), client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"replicas":2}}`)))).To(Succeed())

		By("that instance, its Machine, SimMachinePoolMachine and Node going; the others staying")
		Eventually(w.machineNames).Should(ConsistOf(instanceID(ids[0]), instanceID(ids[2])))
		Eventually(w.infraMachineNames).Should(ConsistOf(instanceID(ids[0]), instanceID(ids[2])))
		Eventually(nodeExists(victim)).Should(BeFalse())
		Eventually(func() bool {
			return apierrors.IsNotFound(nodes.Get(ctx, client.ObjectKeyFromObject(pod), &corev1.Pod{}))
		}).Should(BeTrue(), "the Pod was evicted by the drain")
		w.running(2)
		Expect(w.providerIDs()).To(ConsistOf(ids[0], ids[2]))
		Expect(nodeExists(instanceID(ids[0]))()).To(BeTrue())
		Expect(nodeExists(instanceID(ids[2]))()).To(BeTrue())

		By("one drain, by the Machine controller; the simulated cloud did not drain it again")
		Eventually(drained(w.ns, "Machine")).Should(ConsistOf(victim))
		Consistently(drained(w.ns, "SimMachinePool"), 2*time.Second).Should(BeEmpty())
	})

	It("replaces an instance lost out of band, retiring its Machine and Node", func() {
		w := newWorld(2)
		w.running(2)
		ids := w.providerIDs()
		lost := instanceID(ids[0])
		Expect(simCloud.TerminateOutOfBand(ctx, cloud.GroupRef{Namespace: w.ns, Name: "workers"}, lost)).To(Succeed())

		Eventually(w.machineNames).ShouldNot(ContainElement(lost))
		Eventually(w.infraMachineNames).ShouldNot(ContainElement(lost))
		Eventually(nodeExists(lost)).Should(BeFalse())
		w.running(2)
		Expect(w.providerIDs()).To(ContainElement(ids[1]))
		Expect(w.providerIDs()).NotTo(ContainElement(ids[0]))
	})

	It("rolls a version change through the Machines: old instances go by their Machines, each drained once", func() {
		w := newWorld(2)
		w.running(2)
		old := w.machineNames()
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			p := &corev1beta1.MachinePool{}
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(w.pool), p); err != nil {
				return err
			}
			p.Spec.Template.Spec.Version = ptr.To("v1.31.0")
			return k8s.Update(ctx, p)
		})).To(Succeed())
		Eventually(w.machineNames).Should(And(HaveLen(2), Not(ContainElements(old[0])), Not(ContainElements(old[1]))))
		w.running(2)
		Expect(w.infraMachineNames()).To(ConsistOf(w.machineNames()))
		for _, id := range old {
			Expect(nodeExists(id)()).To(BeFalse(), id)
		}
		Expect(drained(w.ns, "Machine")()).To(ContainElements(old[0], old[1]))
		Expect(drained(w.ns, "SimMachinePool")()).To(BeEmpty())
	})

	It("deletes the pool's Machines, SimMachinePoolMachines and Nodes with the pool", func() {
		w := newWorld(2)
		w.running(2)
		ids := w.providerIDs()
		Expect(k8s.Delete(ctx, w.pool)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(w.pool), &corev1beta1.MachinePool{}))
		}).Should(BeTrue())
		Expect(w.machines()).To(BeEmpty())
		Expect(w.infraMachines()).To(BeEmpty())
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "workers"}, &infrav1beta1.SimMachinePool{}))).To(BeTrue())
		for _, id := range ids {
			Expect(nodeExists(instanceID(id))()).To(BeFalse(), id)
		}
	})
})
