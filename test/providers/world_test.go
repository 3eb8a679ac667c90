package providers_test

import (
	"fmt"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
)

var (
	clusterGVK   = schema.GroupVersionKind{Group: "cluster.x-k8s.io", Version: "v1beta1", Kind: "Cluster"}
	bootstrapGVK = schema.GroupVersionKind{Group: "bootstrap.cluster.x-k8s.io", Version: "v1beta1", Kind: "GenericBootstrapConfig"}
)

// world is one spec's namespace: a Cluster API Cluster, the kubeconfig Secret of the shared workload cluster,
// and the objects the spec applies there.
type world struct {
	ns      string
	cluster string
}

// newWorld creates a namespace and in it the kubeconfig Secret of cluster, as Cluster API's control plane
// provider would. On failure it reports what the namespace holds.
func newWorld(cluster string) *world {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "providers-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	w := &world{ns: ns.Name, cluster: cluster}
	Expect(k8s.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: cluster + "-kubeconfig", Labels: map[string]string{corev1beta1.ClusterNameLabel: cluster}},
		Data:       map[string][]byte{"value": workloadKubeconfig},
	})).To(Succeed())
	DeferCleanup(func() {
		if CurrentSpecReport().Failed() {
			AddReportEntry("objects in "+w.ns, w.dump())
		}
	})
	return w
}

// dump renders the namespace's pools, provider objects and Machines, for a failed spec's report.
func (w *world) dump() string {
	out := ""
	for _, gvk := range []schema.GroupVersionKind{
		{Group: "cluster.x-k8s.io", Version: "v1beta1", Kind: "MachinePool"},
		awsMachinePoolGVK, awsManagedMachinePoolGVK, awsMachineGVK, gcpMachinePoolGVK, gcpManagedMachinePoolGVK, capi.MachineGVK,
	} {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := k8s.List(ctx, list, client.InNamespace(w.ns)); err != nil {
			out += fmt.Sprintf("%s: %v\n", gvk.Kind, err)
			continue
		}
		for i := range list.Items {
			b, _ := yaml.Marshal(list.Items[i].Object)
			out += "---\n" + string(b)
		}
	}
	return out
}

// key names an object of the spec's namespace.
func (w *world) key(name string) client.ObjectKey {
	return client.ObjectKey{Namespace: w.ns, Name: name}
}

// create creates objects in the spec's namespace.
func (w *world) create(objs ...*unstructured.Unstructured) {
	GinkgoHelper()
	for _, o := range objs {
		o.SetNamespace(w.ns)
		Expect(k8s.Create(ctx, o)).To(Succeed(), "%s %s", o.GetKind(), o.GetName())
	}
}

// createInfra creates a provider's pool object of kind gvk with the given spec, as a user applies it.
func (w *world) createInfra(gvk schema.GroupVersionKind, name string, spec map[string]any) {
	GinkgoHelper()
	infra := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	infra.SetGroupVersionKind(gvk)
	infra.SetName(name)
	w.create(infra)
}

// createCluster creates the Cluster (the template's own, or a bare one when c is nil) and marks its
// infrastructure ready, as Cluster API's cluster controller does once the provider's infra cluster is.
func (w *world) createCluster(c *unstructured.Unstructured) {
	GinkgoHelper()
	if c == nil {
		c = &unstructured.Unstructured{}
		c.SetGroupVersionKind(clusterGVK)
		c.SetName(w.cluster)
	}
	Expect(c.GetName()).To(Equal(w.cluster))
	w.create(c)
	writeStatus(c, func(status map[string]any) { status["infrastructureReady"] = true })
}

// readyBootstrapConfig creates a GenericBootstrapConfig (the stand-in for the template's KubeadmConfig or
// NodeadmConfig) and its data Secret, and reports it ready, as a bootstrap provider would.
func (w *world) readyBootstrapConfig(name string) {
	GinkgoHelper()
	Expect(k8s.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name + "-data", Labels: map[string]string{corev1beta1.ClusterNameLabel: w.cluster}},
		StringData: map[string]string{"value": "#cloud-config\n"},
	})).To(Succeed())
	c := &unstructured.Unstructured{}
	c.SetGroupVersionKind(bootstrapGVK)
	c.SetName(name)
	w.create(c)
	writeStatus(c, func(status map[string]any) {
		status["ready"] = true
		status["dataSecretName"] = name + "-data"
	})
}

// writeStatus changes an object's status through its status subresource, retrying conflicts.
func writeStatus(u *unstructured.Unstructured, change func(status map[string]any)) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(conflicts, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(u), u); err != nil {
			return err
		}
		status, _, _ := unstructured.NestedMap(u.Object, "status")
		if status == nil {
			status = map[string]any{}
		}
		change(status)
		u.Object["status"] = status
		return k8s.Status().Update(ctx, u)
	})).To(Succeed())
}

// instance is one cloud instance: its provider ID and the name its kubelet registers its Node under.
type instance struct {
	providerID string
	node       string
}

func providerIDs(instances []instance) []string {
	ids := make([]string, len(instances))
	for i, in := range instances {
		ids[i] = in.providerID
	}
	return ids
}

func nodeNames(instances []instance) []string {
	names := make([]string, len(instances))
	for i, in := range instances {
		names[i] = in.node
	}
	return names
}

// registerNodes creates the instances' Nodes in the workload cluster and reports them Ready, as their kubelets
// would.
func registerNodes(instances []instance) {
	GinkgoHelper()
	for _, in := range instances {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: in.node}, Spec: corev1.NodeSpec{ProviderID: in.providerID}}
		Expect(nodes.Create(ctx, n)).To(Succeed())
		// Like a kubelet, retry the status write when the controller adopted the Node in between.
		Expect(retry.RetryOnConflict(conflicts, func() error {
			if err := nodes.Get(ctx, client.ObjectKeyFromObject(n), n); err != nil {
				return err
			}
			now := metav1.Now()
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
				LastHeartbeatTime: now, LastTransitionTime: now, Reason: "KubeletReady"}}
			return nodes.Status().Update(ctx, n)
		})).To(Succeed())
	}
}

// expectNodesGone waits until the instances' Nodes are deleted from the workload cluster.
func expectNodesGone(instances []instance) {
	GinkgoHelper()
	for _, in := range instances {
		Eventually(func() error {
			return nodes.Get(ctx, client.ObjectKey{Name: in.node}, &corev1.Node{})
		}).Should(Satisfy(apierrors.IsNotFound), "Node %s of a retired instance", in.node)
	}
}

// poolRef is a MachinePool and the API version its user writes it through.
type poolRef struct {
	client.ObjectKey
	version string
}

func (p poolRef) object() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: "cluster.x-k8s.io", Version: p.version, Kind: "MachinePool"})
	u.SetNamespace(p.Namespace)
	u.SetName(p.Name)
	return u
}

// setReplicas changes the pool's spec.replicas as its user would (kubectl patch, in the version it was written in).
func (p poolRef) setReplicas(n int) {
	GinkgoHelper()
	patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n)
	Expect(k8s.Patch(ctx, p.object(), client.RawPatch(types.MergePatchType, patch))).To(Succeed())
}

// v1beta1 reads the pool as v1beta1 (through the conversion webhook), as Cluster API v1.7 clients do.
func (p poolRef) v1beta1(g Gomega) *corev1beta1.MachinePool {
	mp := &corev1beta1.MachinePool{}
	g.Expect(k8s.Get(ctx, p.ObjectKey, mp)).To(Succeed())
	return mp
}

// expectRunning waits until the pool is Running with exactly these instances: their provider IDs in
// spec.providerIDList, their Nodes in status.nodeRefs, every one ready.
func (p poolRef) expectRunning(instances []instance) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		mp := p.v1beta1(g)
		g.Expect(mp.Status.Phase).To(Equal("Running"))
		g.Expect(mp.Spec.ProviderIDList).To(ConsistOf(providerIDs(instances)))
		g.Expect(mp.Status.Replicas).To(BeEquivalentTo(len(instances)))
		g.Expect(mp.Status.ReadyReplicas).To(BeEquivalentTo(len(instances)))
		g.Expect(mp.Status.AvailableReplicas).To(BeEquivalentTo(len(instances)))
		refs := make([]string, 0, len(mp.Status.NodeRefs))
		for _, r := range mp.Status.NodeRefs {
			refs = append(refs, r.Name)
		}
		g.Expect(refs).To(ConsistOf(nodeNames(instances)))
	}).Should(Succeed(), "MachinePool %s Running with %v", p.Name, nodeNames(instances))
}

// expectGone waits until an object is deleted for good.
func expectGone(obj client.Object) {
	GinkgoHelper()
	Eventually(func() error {
		return k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj)
	}).WithTimeout(30*time.Second).Should(Satisfy(apierrors.IsNotFound), "%T %s", obj, obj.GetName())
}

// machines lists the Cluster API Machines of a namespace.
func (w *world) machines(g Gomega) []capi.Machine {
	list := &capi.MachineList{}
	g.Expect(k8s.List(ctx, list, client.InNamespace(w.ns))).To(Succeed())
	return list.Items
}

// controllerOf returns an object's controller owner reference's kind and name ("" when it has none).
func controllerOf(u metav1.Object) string {
	if ref := metav1.GetControllerOf(u); ref != nil {
		return ref.Kind + " " + ref.Name
	}
	return ""
}

// ownerKinds lists the kinds of an object's owners, for assertions on ownership.
func ownerKinds(u metav1.Object) []string {
	var kinds []string
	for _, ref := range u.GetOwnerReferences() {
		kinds = append(kinds, ref.Kind)
	}
	slices.Sort(kinds)
	return kinds
}

// conflicts is how long a spec retries a write that met a concurrent one (our controllers adopt and label
// the same objects the specs play providers and kubelets on).
var conflicts = wait.Backoff{Steps: 30, Duration: 10 * time.Millisecond, Factor: 1.5, Jitter: 0.1, Cap: 300 * time.Millisecond}

// v1beta1Pool creates, as a user of Cluster API v1.7 would write it, a MachinePool whose infrastructureRef names
// the infra kind's object of the same name and whose bootstrap config is a ready GenericBootstrapConfig of the
// same name (created here).
func (w *world) v1beta1Pool(name string, infra schema.GroupVersionKind, replicas int) poolRef {
	GinkgoHelper()
	w.readyBootstrapConfig(name)
	p := &corev1beta1.MachinePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name},
		Spec: corev1beta1.MachinePoolSpec{ClusterName: w.cluster, Replicas: ptr.To(int32(replicas)),
			Template: corev1beta1.MachineTemplateSpec{Spec: corev1beta1.MachineSpec{ClusterName: w.cluster,
				Bootstrap: corev1beta1.Bootstrap{ConfigRef: &corev1.ObjectReference{
					APIVersion: bootstrapGVK.GroupVersion().String(), Kind: bootstrapGVK.Kind, Name: name}},
				InfrastructureRef: corev1.ObjectReference{APIVersion: infra.GroupVersion().String(), Kind: infra.Kind, Name: name},
				Version:           ptr.To("v1.30.0")}}},
	}
	Expect(k8s.Create(ctx, p)).To(Succeed())
	return poolRef{ObjectKey: w.key(name), version: "v1beta1"}
}

// v1beta2Pool creates the same pool as v1beta1Pool as a user of Cluster API v1.11+ writes it: references by
// apiGroup and kind, their version left to the CRDs' contract labels.
func (w *world) v1beta2Pool(name string, infra schema.GroupVersionKind, replicas int) poolRef {
	GinkgoHelper()
	w.readyBootstrapConfig(name)
	p := &corev1beta2.MachinePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name},
		Spec: corev1beta2.MachinePoolSpec{ClusterName: w.cluster, Replicas: ptr.To(int32(replicas)),
			Template: corev1beta2.MachineTemplateSpec{Spec: corev1beta2.MachineSpec{ClusterName: w.cluster,
				Bootstrap: corev1beta2.Bootstrap{ConfigRef: corev1beta2.ContractVersionedObjectReference{
					APIGroup: bootstrapGVK.Group, Kind: bootstrapGVK.Kind, Name: name}},
				InfrastructureRef: corev1beta2.ContractVersionedObjectReference{APIGroup: infra.Group, Kind: infra.Kind, Name: name},
				Version:           "v1.30.0"}}},
	}
	Expect(k8s.Create(ctx, p)).To(Succeed())
	return poolRef{ObjectKey: w.key(name), version: "v1beta2"}
}
