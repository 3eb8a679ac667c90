package main_test

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now(), LastHeartbeatTime: metav1.Now()}}
		Expect(nodes.Status().Update(ctx, n)).To(Succeed())
	}
}

var _ = Describe("the manager binary with Cluster API's CRDs", func() {
	It("drives a pool, whose infrastructure and Nodes something else writes, from Pending to Running and through scaling", func() {
		startManager("--controllers=machinepool")
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-"}}
		Expect(k8s.Create(ctx, ns)).To(Succeed())

		By("creating a Cluster API v1.7.1 Cluster, its kubeconfig Secret and the provider objects")
		cluster := newObject("cluster.x-k8s.io/v1beta1", "Cluster", ns.Name, "demo")
		Expect(k8s.Create(ctx, cluster)).To(Succeed())
		mergeStatus(cluster, map[string]any{"infrastructureReady": true})
		Expect(k8s.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "demo-kubeconfig"},
			Data:       map[string][]byte{"value": workloadKubeconfig},
		})).To(Succeed())
		bootstrap := newObject("bootstrap.cluster.x-k8s.io/v1beta1", "GenericBootstrapConfig", ns.Name, "workers")
		infra := newObject("infrastructure.cluster.x-k8s.io/v1beta1", "GenericMachinePool", ns.Name, "workers")
		Expect(k8s.Create(ctx, bootstrap)).To(Succeed())
		Expect(k8s.Create(ctx, infra)).To(Succeed())

		pool := &corev1beta1.MachinePool{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "workers"},
			Spec: corev1beta1.MachinePoolSpec{
				ClusterName: "demo",
				Replicas:    ptr.To[int32](2),
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
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		phase := func() string {
			got := &corev1beta1.MachinePool{}
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pool), got)).To(Succeed())
			return got.Status.Phase
		}
		Eventually(phase).WithTimeout(30 * time.Second).Should(Equal("Pending"))

		By("playing the bootstrap provider, the infrastructure provider and the kubelets")
		mergeStatus(bootstrap, map[string]any{"ready": true, "dataSecretName": "workers-data"})
		Eventually(phase).WithTimeout(30 * time.Second).Should(Equal("Provisioning"))
		ids := []any{}
		for i := range 4 {
			ids = append(ids, fmt.Sprintf("generic:///%s/i-%d", ns.Name, i))
		}
		reportInstances(infra, ids[:2])
		Eventually(phase).WithTimeout(30 * time.Second).Should(Equal("Provisioned"))
		registerNodes(ids[:2])
		Eventually(phase).WithTimeout(30 * time.Second).Should(Equal("Running"))

		By("scaling up with the scale subresource")
		Expect(k8s.SubResource("scale").Update(ctx, pool, client.WithSubResourceBody(&autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 4}}))).To(Succeed())
		Eventually(phase).WithTimeout(30 * time.Second).Should(Equal("ScalingUp"))
		reportInstances(infra, ids)
		registerNodes(ids)
		Eventually(phase).WithTimeout(30 * time.Second).Should(Equal("Running"))

		By("scaling down")
		Expect(k8s.SubResource("scale").Update(ctx, pool, client.WithSubResourceBody(&autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 1}}))).To(Succeed())
		Eventually(phase).WithTimeout(30 * time.Second).Should(Equal("ScalingDown"))
		reportInstances(infra, ids[:1])
		Eventually(phase).WithTimeout(30 * time.Second).Should(Equal("Running"))

		got := &corev1beta1.MachinePool{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pool), got)).To(Succeed())
		Expect(got.Status.Replicas).To(Equal(int32(1)))
		Expect(got.Status.ReadyReplicas).To(Equal(int32(1)))
		Expect(got.Status.NodeRefs).To(HaveLen(1))
		Expect(got.OwnerReferences).To(ContainElement(HaveField("Kind", "Cluster")))
		Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
	})
})
