package machinepool_test

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
)

var (
	infraGVK     = schema.GroupVersionKind{Group: "infrastructure.cluster.x-k8s.io", Version: "v1beta1", Kind: "GenericMachinePool"}
	bootstrapGVK = schema.GroupVersionKind{Group: "bootstrap.cluster.x-k8s.io", Version: "v1beta1", Kind: "GenericBootstrapConfig"}
	clusterGVK   = schema.GroupVersionKind{Group: "cluster.x-k8s.io", Version: "v1beta1", Kind: "Cluster"}
)

// env is one spec's world: a namespace with a Cluster, its kubeconfig Secret and a pool's provider objects.
type env struct {
	ns      string
	cluster string
}

// newEnv creates a namespace, and in it a Cluster whose infrastructure is ready and the kubeconfig Secret of
// the workload cluster.
func newEnv() *env {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "mp-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	e := &env{ns: ns.Name, cluster: "c-" + ns.Name}
	e.createCluster(true)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: e.cluster + "-kubeconfig"},
		Data:       map[string][]byte{"value": workloadKubeconfig},
	}
	Expect(k8s.Create(ctx, secret)).To(Succeed())
	return e
}

func (e *env) createCluster(infraReady bool) *unstructured.Unstructured {
	GinkgoHelper()
	c := &unstructured.Unstructured{}
	c.SetGroupVersionKind(clusterGVK)
	c.SetNamespace(e.ns)
	c.SetName(e.cluster)
	Expect(k8s.Create(ctx, c)).To(Succeed())
	setStatus(c, map[string]any{"infrastructureReady": infraReady})
	return c
}

// object creates a schemaless provider object.
func (e *env) object(gvk schema.GroupVersionKind, name string) *unstructured.Unstructured {
	GinkgoHelper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(e.ns)
	u.SetName(name)
	Expect(k8s.Create(ctx, u)).To(Succeed())
	return u
}

// pool returns (not yet created) a pool referencing the generic infrastructure pool and bootstrap config of
// the same name.
func (e *env) pool(name string, replicas int32) *corev1beta1.MachinePool {
	return &corev1beta1.MachinePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name},
		Spec: corev1beta1.MachinePoolSpec{
			ClusterName:     e.cluster,
			Replicas:        ptr.To(replicas),
			MinReadySeconds: ptr.To[int32](0),
			Template: corev1beta1.MachineTemplateSpec{Spec: corev1beta1.MachineSpec{
				ClusterName: e.cluster,
				Bootstrap: corev1beta1.Bootstrap{ConfigRef: &corev1.ObjectReference{
					APIVersion: bootstrapGVK.GroupVersion().String(), Kind: bootstrapGVK.Kind, Name: name, Namespace: e.ns,
				}},
				InfrastructureRef: corev1.ObjectReference{
					APIVersion: infraGVK.GroupVersion().String(), Kind: infraGVK.Kind, Name: name, Namespace: e.ns,
				},
				Version: ptr.To("v1.30.0"),
			}},
		},
	}
}

// providerIDs returns n provider IDs unique to this pool.
func (e *env) providerIDs(pool string, n int) []any {
	ids := make([]any, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("generic:///%s/%s/i-%d", e.ns, pool, i)
	}
	return ids
}

// setStatus merges fields into an object's status, as a provider would.
func setStatus(u *unstructured.Unstructured, fields map[string]any) {
	GinkgoHelper()
	Eventually(func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(u), u); err != nil {
			return err
		}
		status, _, _ := unstructured.NestedMap(u.Object, "status")
		if status == nil {
			status = map[string]any{}
		}
		for k, v := range fields {
			status[k] = v
		}
		if err := unstructured.SetNestedMap(u.Object, status, "status"); err != nil {
			return err
		}
		return k8s.Status().Update(ctx, u)
	}).Should(Succeed())
}

// setSpec merges fields into an object's spec, as a provider would.
func setSpec(u *unstructured.Unstructured, fields map[string]any) {
	GinkgoHelper()
	Eventually(func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(u), u); err != nil {
			return err
		}
		for k, v := range fields {
			if err := unstructured.SetNestedField(u.Object, v, "spec", k); err != nil {
				return err
			}
		}
		return k8s.Update(ctx, u)
	}).Should(Succeed())
}

// readyBootstrap makes a bootstrap config report its data Secret, as a bootstrap provider would.
func readyBootstrap(u *unstructured.Unstructured) {
	GinkgoHelper()
	setStatus(u, map[string]any{"ready": true, "dataSecretName": u.GetName() + "-data"})
}

// reportInstances makes an infrastructure pool report instances, as an infrastructure provider would.
func reportInstances(u *unstructured.Unstructured, ids []any) {
	GinkgoHelper()
	setSpec(u, map[string]any{"providerIDList": ids})
	setStatus(u, map[string]any{"ready": true, "replicas": int64(len(ids))})
}

// registerNodes creates Ready Nodes with the given provider IDs in the workload cluster, as kubelets would.
func registerNodes(ids []any) []*corev1.Node {
	GinkgoHelper()
	var out []*corev1.Node
	for _, id := range ids {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{GenerateName: "node-"}, Spec: corev1.NodeSpec{ProviderID: id.(string)}}
		Expect(nodes.Create(ctx, n)).To(Succeed())
		// Like a kubelet, retry the status write when the controller adopted the Node in between.
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := nodes.Get(ctx, client.ObjectKeyFromObject(n), n); err != nil {
				return err
			}
			n.Status.Conditions = []corev1.NodeCondition{{
				Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(),
				Reason: "KubeletReady",
			}}
			return nodes.Status().Update(ctx, n)
		})).To(Succeed())
		out = append(out, n)
	}
	return out
}

// update changes the pool as a user would, retrying when the controller's own writes got in between.
func update(p *corev1beta1.MachinePool, change func(*corev1beta1.MachinePool)) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		got := &corev1beta1.MachinePool{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(p), got); err != nil {
			return err
		}
		change(got)
		return k8s.Update(ctx, got)
	})).To(Succeed())
}

// get returns the pool as stored now.
func get(p *corev1beta1.MachinePool) *corev1beta1.MachinePool {
	GinkgoHelper()
	got := &corev1beta1.MachinePool{}
	Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), got)).To(Succeed())
	return got
}

// phase reads the pool's phase, for Eventually.
// v1beta2Condition reads one of the pool's v1beta2 conditions (a zero condition while it has none).
func v1beta2Condition(p *corev1beta1.MachinePool, t string) func() metav1.Condition {
	return func() metav1.Condition {
		v2 := &corev1beta2.MachinePool{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), v2)).To(Succeed())
		if c := apimeta.FindStatusCondition(v2.Status.Conditions, t); c != nil {
			return *c
		}
		return metav1.Condition{}
	}
}

func phase(p *corev1beta1.MachinePool) func() string {
	return func() string {
		got := &corev1beta1.MachinePool{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(p), got); err != nil {
			return "error: " + err.Error()
		}
		return got.Status.Phase
	}
}

// condition reads one condition of the pool, for Eventually.
func condition(p *corev1beta1.MachinePool, t corev1beta1.ConditionType) func() corev1beta1.Condition {
	return func() corev1beta1.Condition {
		got := &corev1beta1.MachinePool{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(p), got); err != nil {
			return corev1beta1.Condition{Message: err.Error()}
		}
		if c := conditions.Get(got.Status.Conditions, t); c != nil {
			return *c
		}
		return corev1beta1.Condition{}
	}
}

func haveCondition(status corev1.ConditionStatus, reason string) OmegaMatcher {
	return And(HaveField("Status", status), HaveField("Reason", reason))
}

// running creates a pool with its provider objects and plays the providers and kubelets until it is Running.
func (e *env) running(name string, replicas int32) (*corev1beta1.MachinePool, *unstructured.Unstructured) {
	GinkgoHelper()
	bootstrap := e.object(bootstrapGVK, name)
	infra := e.object(infraGVK, name)
	p := e.pool(name, replicas)
	Expect(k8s.Create(ctx, p)).To(Succeed())
	readyBootstrap(bootstrap)
	ids := e.providerIDs(name, int(replicas))
	reportInstances(infra, ids)
	registerNodes(ids)
	Eventually(phase(p)).Should(Equal("Running"))
	return p, infra
}
