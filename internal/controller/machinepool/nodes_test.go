package machinepool_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/test/support"
)

// nodeOf reads a workload Node by name, for Eventually.
func nodeOf(name string) func() *corev1.Node {
	return func() *corev1.Node {
		n := &corev1.Node{}
		if err := nodes.Get(ctx, client.ObjectKey{Name: name}, n); err != nil {
			return nil
		}
		return n
	}
}

func gone(name string) func() bool {
	return func() bool { return apierrors.IsNotFound(nodes.Get(ctx, client.ObjectKey{Name: name}, &corev1.Node{})) }
}

var _ = Describe("MachinePool Nodes", func() {
	var e *env
	BeforeEach(func() { e = newEnv() })

	It("matches Nodes whose provider ID writes the same instance differently", func() {
		bootstrap := e.object(bootstrapGVK, "aws")
		infra := e.object(infraGVK, "aws")
		p := e.pool("aws", 1)
		Expect(k8s.Create(ctx, p)).To(Succeed())
		readyBootstrap(bootstrap)
		instance := "i-" + e.ns
		reportInstances(infra, []any{"aws:////" + instance})
		registered := registerNodes([]any{"AWS:///us-east-1a/" + instance + "/"})
		Eventually(phase(p)).Should(Equal("Running"))
		Expect(get(p).Status.NodeRefs).To(ConsistOf(HaveField("Name", registered[0].Name)))
	})

	It("annotates its Nodes and removes the uninitialized taint, keeping other taints", func() {
		p, _ := e.running("adopted", 1)
		name := get(p).Status.NodeRefs[0].Name
		Eventually(nodeOf(name)).Should(HaveField("ObjectMeta.Annotations", And(
			HaveKeyWithValue(corev1beta1.ClusterNameAnnotation, e.cluster),
			HaveKeyWithValue(corev1beta1.ClusterNamespaceAnnotation, e.ns),
			HaveKeyWithValue(corev1beta1.OwnerKindAnnotation, "MachinePool"),
			HaveKeyWithValue(corev1beta1.OwnerNameAnnotation, "adopted"))))

		By("removing the taint a bootstrap provider puts on a new Node")
		bootstrap := e.object(bootstrapGVK, "tainted")
		infra := e.object(infraGVK, "tainted")
		tp := e.pool("tainted", 1)
		Expect(k8s.Create(ctx, tp)).To(Succeed())
		readyBootstrap(bootstrap)
		ids := e.providerIDs("tainted", 1)
		reportInstances(infra, ids)
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{GenerateName: "tainted-"}, Spec: corev1.NodeSpec{
			ProviderID: ids[0].(string),
			Taints: []corev1.Taint{
				{Key: corev1beta1.NodeUninitializedTaint, Effect: corev1.TaintEffectNoSchedule},
				{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule},
			},
		}}
		Expect(nodes.Create(ctx, n)).To(Succeed())
		Eventually(nodeOf(n.Name)).Should(HaveField("Spec.Taints", And(
			ContainElement(HaveField("Key", "dedicated")),
			Not(ContainElement(HaveField("Key", corev1beta1.NodeUninitializedTaint))))))
		Expect(nodeOf(n.Name)().Annotations).To(HaveKeyWithValue(corev1beta1.OwnerNameAnnotation, "tainted"))
	})

	It("deletes the Node of an instance that left providerIDList, and spares Nodes it does not own", func() {
		p, infra := e.running("shrinking", 2)
		refs := get(p).Status.NodeRefs
		Expect(refs).To(HaveLen(2))
		Eventually(nodeOf(refs[1].Name)).Should(HaveField("ObjectMeta.Annotations", HaveKeyWithValue(corev1beta1.OwnerNameAnnotation, "shrinking")))

		By("placing a foreign Node and another pool's Node next to it")
		foreign := registerNodes([]any{"generic:///elsewhere/i-foreign-" + e.ns})[0]
		other, _ := e.running("neighbour", 1)
		otherNode := get(other).Status.NodeRefs[0].Name

		update(p, func(p *corev1beta1.MachinePool) { p.Spec.Replicas = ptr.To[int32](1) })
		ids := e.providerIDs("shrinking", 2)
		reportInstances(infra, ids[:1])
		Eventually(gone(refs[1].Name)).Should(BeTrue())
		Eventually(phase(p)).Should(Equal("Running"))
		Expect(nodeOf(refs[0].Name)()).NotTo(BeNil())
		Consistently(nodeOf(foreign.Name)).WithTimeout(2 * time.Second).ShouldNot(BeNil())
		Expect(nodeOf(otherNode)()).NotTo(BeNil())
	})

	It("deletes nothing when the infrastructure reports an empty list but still counts instances", func() {
		p, infra := e.running("glitch", 2)
		refs := get(p).Status.NodeRefs
		setSpec(infra, map[string]any{"providerIDList": []any{}})
		Consistently(func() []string { return get(p).Spec.ProviderIDList }).WithTimeout(3 * time.Second).Should(HaveLen(2))
		for _, ref := range refs {
			Expect(nodeOf(ref.Name)()).NotTo(BeNil())
		}

		By("treating an empty list with zero replicas as a real scale to zero")
		update(p, func(p *corev1beta1.MachinePool) { p.Spec.Replicas = ptr.To[int32](0) })
		setStatus(infra, map[string]any{"replicas": int64(0)})
		for _, ref := range refs {
			Eventually(gone(ref.Name)).Should(BeTrue())
		}
	})

	It("leaves the Nodes alone when the Cluster itself is being deleted", func() {
		p, _ := e.running("cluster-going", 1)
		name := get(p).Status.NodeRefs[0].Name
		cluster := &unstructured.Unstructured{}
		cluster.SetGroupVersionKind(clusterGVK)
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: e.cluster}, cluster)).To(Succeed())
		cluster.SetFinalizers([]string{"test.example/hold"})
		Expect(k8s.Update(ctx, cluster)).To(Succeed())
		Expect(k8s.Delete(ctx, cluster)).To(Succeed())
		DeferCleanup(func() {
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			cluster.SetFinalizers(nil)
			Expect(k8s.Update(ctx, cluster)).To(Succeed())
		})

		Expect(k8s.Delete(ctx, p)).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(p), p)) }).Should(BeTrue())
		Expect(nodeOf(name)()).NotTo(BeNil())
	})

	It("rebuilds the workload client when the kubeconfig Secret changes, and recovers", func() {
		p, _ := e.running("rotated", 1)
		secret := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: e.cluster + "-kubeconfig"}, secret)).To(Succeed())
		secret.Data["value"] = []byte("not a kubeconfig")
		Expect(k8s.Update(ctx, secret)).To(Succeed())
		Eventually(condition(p, corev1beta1.ReplicasReadyCondition)).Should(And(
			haveCondition(corev1.ConditionFalse, corev1beta1.WorkloadClusterUnreachableReason),
			HaveField("Message", ContainSubstring("invalid kubeconfig"))))

		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(secret), secret)).To(Succeed())
		secret.Data["value"] = workloadKubeconfig
		Expect(k8s.Update(ctx, secret)).To(Succeed())
		Eventually(condition(p, corev1beta1.ReplicasReadyCondition)).WithTimeout(90 * time.Second).Should(HaveField("Status", corev1.ConditionTrue))
	})
})

var _ = Describe("MachinePool observedGeneration", func() {
	It("moves only when a reconcile completed: a failing one does not claim it acted on the new spec", func() {
		e := newEnv()
		p, _ := e.running("observed", 1)
		secret := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: e.cluster + "-kubeconfig"}, secret)).To(Succeed())
		secret.Data["value"] = []byte("not a kubeconfig")
		Expect(k8s.Update(ctx, secret)).To(Succeed())
		Eventually(condition(p, corev1beta1.ReplicasReadyCondition)).Should(HaveField("Message", ContainSubstring("invalid kubeconfig")))

		update(p, func(p *corev1beta1.MachinePool) { p.Spec.Replicas = ptr.To[int32](2) })
		generation := get(p).Generation
		Eventually(func() int32 { return get(p).Status.UnavailableReplicas }).Should(Equal(int32(1)), "the failing reconciles still write what they saw")
		Consistently(func() int64 { return get(p).Status.ObservedGeneration }, 2*time.Second).Should(BeNumerically("<", generation))

		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(secret), secret)).To(Succeed())
		secret.Data["value"] = workloadKubeconfig
		Expect(k8s.Update(ctx, secret)).To(Succeed())
		Eventually(func() int64 { return get(p).Status.ObservedGeneration }).WithTimeout(60 * time.Second).Should(Equal(generation))
	})
})

var _ = Describe("MachinePool with an unreachable workload cluster", func() {
	It("shows the outage in a condition while the workload API server cannot be reached, and recovers by itself", func() {
		// The outage is made by a TCP proxy in front of the real workload API server that stops forwarding and
		// drops its connections: to the controller that is exactly an API server going away and coming back, and
		// unlike stopping the shared envtest API server it cannot hang on graceful shutdown.
		proxy := support.StartProxy(workloadHost())
		DeferCleanup(proxy.Cut)
		e := newEnv()
		secret := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: e.cluster + "-kubeconfig"}, secret)).To(Succeed())
		secret.Data["value"] = kubeconfigVia(proxy.Addr)
		Expect(k8s.Update(ctx, secret)).To(Succeed())
		p, infra := e.running("outage", 1)

		proxy.Cut()
		Eventually(condition(p, corev1beta1.ReplicasReadyCondition)).WithTimeout(30 * time.Second).Should(And(
			haveCondition(corev1.ConditionFalse, corev1beta1.WorkloadClusterUnreachableReason),
			HaveField("Severity", corev1beta1.ConditionSeverityWarning),
			HaveField("Message", ContainSubstring("does not answer"))))
		Expect(get(p).Status.ReadyReplicas).To(Equal(int32(1)), "counts stay as last seen")

		proxy.Restore()
		Eventually(condition(p, corev1beta1.ReplicasReadyCondition)).WithTimeout(60 * time.Second).Should(HaveField("Status", corev1.ConditionTrue))

		By("following Node changes again after the outage")
		update(p, func(p *corev1beta1.MachinePool) { p.Spec.Replicas = ptr.To[int32](2) })
		ids := e.providerIDs("outage", 2)
		reportInstances(infra, ids)
		registerNodes(ids[1:])
		Eventually(phase(p)).WithTimeout(60 * time.Second).Should(Equal("Running"))
	})
})
