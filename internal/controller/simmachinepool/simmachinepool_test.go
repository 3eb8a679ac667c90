package simmachinepool_test

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/cloud"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
	"github.com/machinepool-operator/machinepool-operator/internal/controller/simmachinepool"
)

// world is a namespace with a MachinePool and the SimMachinePool it owns, plus the Secrets both need.
type world struct {
	ns   string
	pool *corev1beta1.MachinePool
	smp  *infrav1beta1.SimMachinePool
}

// newWorld creates the objects a core controller and a bootstrap provider would have made: the pool (with
// dataSecretName set), the SimMachinePool owned by it, the bootstrap data Secret and the kubeconfig Secret.
func newWorld(replicas int32) *world {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "sim-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	w := &world{ns: ns.Name}
	Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "demo-kubeconfig"},
		Data: map[string][]byte{"value": workloadKubeconfig}})).To(Succeed())
	Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "workers-data"},
		Data: map[string][]byte{"value": []byte("#cloud-config\n")}})).To(Succeed())
	w.pool = &corev1beta1.MachinePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "workers"},
		Spec: corev1beta1.MachinePoolSpec{ClusterName: "demo", Replicas: ptr.To(replicas),
			Template: corev1beta1.MachineTemplateSpec{Spec: corev1beta1.MachineSpec{
				ClusterName: "demo", Version: ptr.To("v1.30.0"),
				Bootstrap:         corev1beta1.Bootstrap{DataSecretName: ptr.To("workers-data")},
				InfrastructureRef: corev1.ObjectReference{APIVersion: infrav1beta1.GroupVersion.String(), Kind: "SimMachinePool", Name: "workers"},
			}}},
	}
	Expect(k8s.Create(ctx, w.pool)).To(Succeed())
	w.smp = &infrav1beta1.SimMachinePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "workers", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: corev1beta1.GroupVersion.String(), Kind: "MachinePool", Name: "workers", UID: w.pool.UID, Controller: ptr.To(true),
		}}},
		Spec: infrav1beta1.SimMachinePoolSpec{InstanceType: "sim.small", Simulation: &infrav1beta1.Simulation{BootDelay: &metav1.Duration{}}},
	}
	Expect(k8s.Create(ctx, w.smp)).To(Succeed())
	return w
}

func (w *world) get() *infrav1beta1.SimMachinePool {
	GinkgoHelper()
	got := &infrav1beta1.SimMachinePool{}
	Expect(k8s.Get(ctx, client.ObjectKeyFromObject(w.smp), got)).To(Succeed())
	return got
}

func (w *world) providerIDs() []string { return w.get().Spec.ProviderIDList }

func (w *world) readyReplicas() int32 { return w.get().Status.ReadyReplicas }

func (w *world) scale(replicas int32) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(w.pool), w.pool); err != nil {
			return err
		}
		w.pool.Spec.Replicas = ptr.To(replicas)
		return k8s.Update(ctx, w.pool)
	})).To(Succeed())
}

// instanceID is the last segment of a provider ID.
func instanceID(providerID string) string { return providerID[strings.LastIndex(providerID, "/")+1:] }

func node(name string) *corev1.Node {
	GinkgoHelper()
	n := &corev1.Node{}
	Expect(nodes.Get(ctx, client.ObjectKey{Name: name}, n)).To(Succeed())
	return n
}

func readyStatus(name string) func() corev1.ConditionStatus {
	return func() corev1.ConditionStatus {
		n := &corev1.Node{}
		if err := nodes.Get(ctx, client.ObjectKey{Name: name}, n); err != nil {
			return ""
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status
			}
		}
		return ""
	}
}

var _ = Describe("SimMachinePool controller", func() {
	It("launches instances whose Nodes join the workload cluster, and reports them through the contract", func() {
		w := newWorld(3)
		Eventually(w.readyReplicas).Should(Equal(int32(3)))
		got := w.get()
		Expect(got.Spec.ProviderIDList).To(HaveLen(3))
		Expect(got.Status.Replicas).To(Equal(int32(3)))
		Expect(got.Status.Ready).To(BeTrue())
		Expect(got.Status.Initialization.Provisioned).To(Equal(ptr.To(true)))
		Expect(got.Status.Instances).To(HaveLen(3))
		Expect(got.Finalizers).To(ContainElement(infrav1beta1.SimMachinePoolFinalizer))
		Expect(conditions.IsTrue(got.Status.Conditions, corev1beta1.ReadyCondition)).To(BeTrue())
		Expect(got.Status.Capacity.Cpu().Equal(resource.MustParse("2"))).To(BeTrue())
		Expect(got.Status.NodeInfo).To(Equal(&infrav1beta1.NodeInfo{Architecture: "amd64", OperatingSystem: "linux"}))

		for _, id := range got.Spec.ProviderIDList {
			Expect(id).To(HavePrefix("sim://local/workers/"))
			n := node(instanceID(id))
			Expect(n.Spec.ProviderID).To(Equal(id))
			Expect(n.Spec.Taints).To(ContainElement(HaveField("Key", corev1beta1.NodeUninitializedTaint)))
			Expect(n.Status.Capacity.Memory().Equal(resource.MustParse("4Gi"))).To(BeTrue())
		}
		cm := &corev1.ConfigMap{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "sim-cloud-workers"}, cm)).To(Succeed())
	})

	It("scales in the instance whose Node is marked for deletion first, then the oldest, and leaves the Node to the core controller", func() {
		w := newWorld(3)
		Eventually(w.readyReplicas).Should(Equal(int32(3)))
		ids := w.providerIDs()
		marked := instanceID(ids[2])
		n := node(marked)
		n.Annotations = map[string]string{"cluster.x-k8s.io/delete-machine": ""}
		Expect(nodes.Update(ctx, n)).To(Succeed())

		w.scale(1)
		Eventually(w.providerIDs).Should(Equal([]string{ids[1]}), "the marked instance and then the oldest go")
		Eventually(readyStatus(marked)).Should(Equal(corev1.ConditionUnknown), "a terminated instance stops posting status")
		Expect(node(instanceID(ids[0]))).NotTo(BeNil(), "the Node stays: retiring it is the core controller's job")
	})

	It("replaces an instance terminated out of band", func() {
		w := newWorld(2)
		Eventually(w.readyReplicas).Should(Equal(int32(2)))
		ids := w.providerIDs()
		Expect(simCloud.TerminateOutOfBand(ctx, cloud.GroupRef{Namespace: w.ns, Name: "workers"}, instanceID(ids[0]))).To(Succeed())
		// Nothing in the API changed: the controller's timed requeue (boot and heartbeat) notices.
		Eventually(w.providerIDs).WithTimeout(60 * time.Second).Should(And(HaveLen(2), Not(ContainElement(ids[0])), ContainElement(ids[1])))
		Eventually(w.readyReplicas).Should(Equal(int32(2)))
	})

	It("replaces nothing when the bootstrap Secret's contents rotate", func() {
		w := newWorld(2)
		Eventually(w.readyReplicas).Should(Equal(int32(2)))
		before := w.providerIDs()
		secret := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "workers-data"}, secret)).To(Succeed())
		secret.Data["value"] = []byte("#cloud-config\n# new join token\n")
		Expect(k8s.Update(ctx, secret)).To(Succeed())
		w.scale(2) // any change that makes the controller look again
		Consistently(w.providerIDs).WithTimeout(3 * time.Second).Should(Equal(before))
	})

	It("launches instances that cannot join while the bootstrap data Secret is missing, and says so", func() {
		w := newWorld(1)
		Expect(k8s.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "workers-data"}})).To(Succeed())
		w.scale(2)
		Eventually(func() corev1beta1.Condition {
			c := conditions.Get(w.get().Status.Conditions, simmachinepool.InstancesReadyCondition)
			if c == nil {
				return corev1beta1.Condition{}
			}
			return *c
		}).Should(And(HaveField("Reason", "BootstrapDataMissing"), HaveField("Message", ContainSubstring("workers-data"))))
	})

	It("waits for its owning MachinePool", func() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "sim-"}}
		Expect(k8s.Create(ctx, ns)).To(Succeed())
		smp := &infrav1beta1.SimMachinePool{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "orphan"}}
		Expect(k8s.Create(ctx, smp)).To(Succeed())
		Eventually(func() string {
			got := &infrav1beta1.SimMachinePool{}
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(smp), got)).To(Succeed())
			if c := conditions.Get(got.Status.Conditions, corev1beta1.ReadyCondition); c != nil {
				return c.Reason
			}
			return ""
		}).Should(Equal("WaitingForOwner"))
	})

	It("reads its MachinePool in v1beta2, unconverted: a pool whose bootstrap kind no CRD serves still gets its instances", func() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "sim-"}}
		Expect(k8s.Create(ctx, ns)).To(Succeed())
		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "demo-kubeconfig"},
			Data: map[string][]byte{"value": workloadKubeconfig}})).To(Succeed())
		pool := &corev1beta2.MachinePool{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "odd"},
			Spec: corev1beta2.MachinePoolSpec{ClusterName: "demo", Replicas: ptr.To(int32(2)),
				Template: corev1beta2.MachineTemplateSpec{Spec: corev1beta2.MachineSpec{
					ClusterName: "demo", Version: "v1.30.0",
					Bootstrap: corev1beta2.Bootstrap{DataSecretName: ptr.To("odd-data"),
						ConfigRef: corev1beta2.ContractVersionedObjectReference{APIGroup: "bootstrap.example.com", Kind: "MissingConfig", Name: "odd"}},
					InfrastructureRef: corev1beta2.ContractVersionedObjectReference{APIGroup: infrav1beta1.GroupVersion.Group, Kind: "SimMachinePool", Name: "odd"},
				}}},
		}
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		smp := &infrav1beta1.SimMachinePool{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "odd", OwnerReferences: []metav1.OwnerReference{{
				APIVersion: corev1beta2.GroupVersion.String(), Kind: "MachinePool", Name: "odd", UID: pool.UID, Controller: ptr.To(true),
			}}},
			Spec: infrav1beta1.SimMachinePoolSpec{InstanceType: "sim.small", Simulation: &infrav1beta1.Simulation{BootDelay: &metav1.Duration{}}},
		}
		Expect(k8s.Create(ctx, smp)).To(Succeed())
		DeferCleanup(func() {
			Expect(k8s.Delete(ctx, smp)).To(Succeed())
			Expect(k8s.Delete(ctx, pool)).To(Succeed())
		})
		// The pool cannot be read as v1beta1 (nothing names the bootstrap kind's version), so a v1beta1 list of
		// every pool fails while it exists: a provider reading v1beta1 would see none of them.
		err := k8s.List(ctx, &corev1beta1.MachinePoolList{})
		Expect(err).To(MatchError(ContainSubstring("MissingConfig")))
		Eventually(func() int32 {
			got := &infrav1beta1.SimMachinePool{}
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(smp), got)).To(Succeed())
			return got.Status.Replicas
		}).Should(Equal(int32(2)))
	})

	It("terminates its instances and deletes its scaling group when deleted", func() {
		w := newWorld(1)
		Eventually(w.readyReplicas).Should(Equal(int32(1)))
		Expect(k8s.Delete(ctx, w.get())).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(w.smp), &infrav1beta1.SimMachinePool{}))
		}).Should(BeTrue())
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "sim-cloud-workers"}, &corev1.ConfigMap{}))).To(BeTrue())
	})
})
