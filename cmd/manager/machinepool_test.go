package main_test

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
)

func newObject(apiVersion, kind, ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// mergeStatus writes status fields the way a provider's controller would.
func mergeStatus(u *unstructured.Unstructured, fields map[string]any) {
	GinkgoHelper()
	Eventually(func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(u), u); err != nil {
			return err
		}
		for k, v := range fields {
			if err := unstructured.SetNestedField(u.Object, v, "status", k); err != nil {
				return err
			}
		}
		return k8s.Status().Update(ctx, u)
	}).Should(Succeed())
}

// reportInstances plays the infrastructure provider: providerIDList in spec, replicas and ready in status.
func reportInstances(infra *unstructured.Unstructured, ids []any) {
	GinkgoHelper()
	Eventually(func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(infra), infra); err != nil {
			return err
		}
		if err := unstructured.SetNestedSlice(infra.Object, ids, "spec", "providerIDList"); err != nil {
			return err
		}
		return k8s.Update(ctx, infra)
	}).Should(Succeed())
	mergeStatus(infra, map[string]any{"ready": true, "replicas": int64(len(ids))})
}

// registerNodes plays the kubelets: one Ready Node per provider ID not registered yet.
func registerNodes(ids []any) {
	GinkgoHelper()
	for _, id := range ids {
		list := &corev1.NodeList{}
		Expect(nodes.List(ctx, list)).To(Succeed())
		known := false
		for _, n := range list.Items {
			known = known || n.Spec.ProviderID == id
		}
		if known {
			continue
		}
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{GenerateName: "node-"}, Spec: corev1.NodeSpec{ProviderID: id.(string)}}
		Expect(nodes.Create(ctx, n)).To(Succeed())
		// Like a kubelet, retry the status write when the controller adopted the Node in between.
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := nodes.Get(ctx, client.ObjectKeyFromObject(n), n); err != nil {
				return err
			}
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now(), LastHeartbeatTime: metav1.Now()}}
			return nodes.Status().Update(ctx, n)
		})).To(Succeed())
	}
}

// world is one namespace with a Cluster API v1.7.1 Cluster, its kubeconfig Secret, provider objects and a pool.
type world struct {
	ns               string
	bootstrap, infra *unstructured.Unstructured
	pool             *corev1beta1.MachinePool
}

func newWorld(replicas int32) *world {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	w := &world{ns: ns.Name}
	cluster := newObject("cluster.x-k8s.io/v1beta1", "Cluster", ns.Name, "demo")
	Expect(k8s.Create(ctx, cluster)).To(Succeed())
	mergeStatus(cluster, map[string]any{"infrastructureReady": true})
	Expect(k8s.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "demo-kubeconfig"},
		Data:       map[string][]byte{"value": workloadKubeconfig},
	})).To(Succeed())
	w.bootstrap = newObject("bootstrap.cluster.x-k8s.io/v1beta1", "GenericBootstrapConfig", ns.Name, "workers")
	w.infra = newObject("infrastructure.cluster.x-k8s.io/v1beta1", "GenericMachinePool", ns.Name, "workers")
	Expect(k8s.Create(ctx, w.bootstrap)).To(Succeed())
	Expect(k8s.Create(ctx, w.infra)).To(Succeed())
	w.pool = &corev1beta1.MachinePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "workers"},
		Spec: corev1beta1.MachinePoolSpec{
			ClusterName: "demo",
			Replicas:    ptr.To(replicas),
			Template: corev1beta1.MachineTemplateSpec{Spec: corev1beta1.MachineSpec{
				ClusterName: "demo",
				Bootstrap: corev1beta1.Bootstrap{ConfigRef: &corev1.ObjectReference{
					APIVersion: "bootstrap.cluster.x-k8s.io/v1beta1", Kind: "GenericBootstrapConfig", Name: "workers", Namespace: ns.Name,
				}},
				InfrastructureRef: corev1.ObjectReference{
					APIVersion: "infrastructure.cluster.x-k8s.io/v1beta1", Kind: "GenericMachinePool", Name: "workers", Namespace: ns.Name,
				},
			}},
		},
	}
	Expect(k8s.Create(ctx, w.pool)).To(Succeed())
	return w
}

func (w *world) phase() string {
	got := &corev1beta1.MachinePool{}
	Expect(k8s.Get(ctx, client.ObjectKeyFromObject(w.pool), got)).To(Succeed())
	return got.Status.Phase
}

func (w *world) ids(n int) []any {
	ids := []any{}
	for i := range n {
		ids = append(ids, fmt.Sprintf("generic:///%s/i-%d", w.ns, i))
	}
	return ids
}

// nodesOf lists the workload Nodes of this world's instances, by provider ID.
func (w *world) nodesOf() []string {
	list := &corev1.NodeList{}
	Expect(nodes.List(ctx, list)).To(Succeed())
	var out []string
	for _, n := range list.Items {
		if strings.HasPrefix(n.Spec.ProviderID, "generic:///"+w.ns+"/") {
			out = append(out, n.Spec.ProviderID)
		}
	}
	return out
}

func scale(pool *corev1beta1.MachinePool, replicas int32) {
	GinkgoHelper()
	Expect(k8s.SubResource("scale").Update(ctx, pool, client.WithSubResourceBody(&autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: replicas}}))).To(Succeed())
}

var _ = Describe("the manager binary with Cluster API's CRDs", func() {
	It("drives a pool, whose infrastructure and Nodes something else writes, from Pending to Running and through scaling", func() {
		startManager("--controllers=machinepool")
		w := newWorld(2)
		Eventually(w.phase).WithTimeout(30 * time.Second).Should(Equal("Pending"))

		By("playing the bootstrap provider, the infrastructure provider and the kubelets")
		mergeStatus(w.bootstrap, map[string]any{"ready": true, "dataSecretName": "workers-data"})
		Eventually(w.phase).WithTimeout(30 * time.Second).Should(Equal("Provisioning"))
		ids := w.ids(4)
		reportInstances(w.infra, ids[:2])
		Eventually(w.phase).WithTimeout(30 * time.Second).Should(Equal("Provisioned"))
		registerNodes(ids[:2])
		Eventually(w.phase).WithTimeout(30 * time.Second).Should(Equal("Running"))

		By("scaling up with the scale subresource")
		scale(w.pool, 4)
		Eventually(w.phase).WithTimeout(30 * time.Second).Should(Equal("ScalingUp"))
		reportInstances(w.infra, ids)
		registerNodes(ids)
		Eventually(w.phase).WithTimeout(30 * time.Second).Should(Equal("Running"))

		By("scaling down: the Nodes of the instances that left are deleted")
		scale(w.pool, 1)
		Eventually(w.phase).WithTimeout(30 * time.Second).Should(Equal("ScalingDown"))
		reportInstances(w.infra, ids[:1])
		Eventually(w.phase).WithTimeout(30 * time.Second).Should(Equal("Running"))
		Eventually(w.nodesOf).WithTimeout(30 * time.Second).Should(ConsistOf(ids[0]))

		got := &corev1beta1.MachinePool{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(w.pool), got)).To(Succeed())
		Expect(got.Status.Replicas).To(Equal(int32(1)))
		Expect(got.Status.ReadyReplicas).To(Equal(int32(1)))
		Expect(got.Status.NodeRefs).To(HaveLen(1))
		Expect(got.OwnerReferences).To(ContainElement(HaveField("Kind", "Cluster")))
		Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
	})

	It("converges after being killed mid scale-down: exactly the kept Nodes remain", func() {
		session, _ := startManager("--controllers=machinepool")
		w := newWorld(4)
		mergeStatus(w.bootstrap, map[string]any{"ready": true, "dataSecretName": "workers-data"})
		ids := w.ids(4)
		reportInstances(w.infra, ids)
		registerNodes(ids)
		Eventually(w.phase).WithTimeout(30 * time.Second).Should(Equal("Running"))

		scale(w.pool, 2)
		reportInstances(w.infra, ids[:2])
		session.Kill() // SIGKILL, mid scale-down
		Eventually(session).WithTimeout(10 * time.Second).Should(gexec.Exit())

		startManager("--controllers=machinepool")
		Eventually(w.nodesOf).WithTimeout(60 * time.Second).Should(ConsistOf(ids[0], ids[1]))
		Eventually(w.phase).WithTimeout(30 * time.Second).Should(Equal("Running"))
		Consistently(w.nodesOf).WithTimeout(2 * time.Second).Should(ConsistOf(ids[0], ids[1]))
	})
})
