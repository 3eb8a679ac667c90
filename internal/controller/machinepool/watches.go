package machinepool

import (
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	"github.com/machinepool-operator/machinepool-operator/internal/ctrlutil"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

const (
	// refIndex indexes pools by what they reference: "<group>/<Kind>/<name>" for the infrastructure and
	// bootstrap objects, and "<group>" for the API groups of both (CRD changes).
	refIndex = "machinepool.refs"
	// providerIDIndex indexes pools by the full key ("f:" prefix) and the instance key ("i:" prefix) of each
	// entry of spec.providerIDList (see workload.FullKey and workload.InstanceKey).
	providerIDIndex = "machinepool.providerIDs"
	// clusterCRDName is the CRD whose presence means Cluster API is installed.
	clusterCRDName = "clusters.cluster.x-k8s.io"
)

// clusterGVK is the version of Cluster API's Cluster the controller reads; v1beta1 is served by every Cluster
// API release that has MachinePools.
var clusterGVK = schema.GroupVersionKind{Group: "cluster.x-k8s.io", Version: "v1beta1", Kind: "Cluster"}

func objectRefKey(o client.Object) string {
	gvk := o.GetObjectKind().GroupVersionKind()
	return gvk.Group + "/" + gvk.Kind + "/" + o.GetName()
}

func indexPools(ctx context.Context, indexer client.FieldIndexer) error {
	if err := indexer.IndexField(ctx, &corev1beta2.MachinePool{}, refIndex, func(o client.Object) []string {
		spec := o.(*corev1beta2.MachinePool).Spec.Template.Spec
		var keys []string
		for _, ref := range []corev1beta2.ContractVersionedObjectReference{spec.Bootstrap.ConfigRef, spec.InfrastructureRef} {
			if ref.Name == "" {
				continue
			}
			keys = append(keys, ref.APIGroup+"/"+ref.Kind+"/"+ref.Name, ref.APIGroup)
		}
		return keys
	}); err != nil {
		return err
	}
	return indexer.IndexField(ctx, &corev1beta2.MachinePool{}, providerIDIndex, func(o client.Object) []string {
		ids := o.(*corev1beta2.MachinePool).Spec.ProviderIDList
		keys := make([]string, 0, 2*len(ids))
		for _, id := range ids {
			if k := workload.FullKey(id); k != "" {
				keys = append(keys, "f:"+k, "i:"+workload.InstanceKey(id))
			}
		}
		return keys
	})
}

// poolRequests lists the pools that match the options, as reconcile requests.
func (r *Reconciler) poolRequests(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	pools := &corev1beta2.MachinePoolList{}
	if err := r.Client.List(ctx, pools, opts...); err != nil {
		logf.FromContext(ctx).Error(err, "listing MachinePools to requeue")
		return nil
	}
	return ctrlutil.Requests(pools.Items)
}

// poolsReferencing maps an infrastructure or bootstrap object to the pools that reference it.
func (r *Reconciler) poolsReferencing(ctx context.Context, o client.Object) []reconcile.Request {
	return r.poolRequests(ctx, client.InNamespace(o.GetNamespace()), client.MatchingFields{refIndex: objectRefKey(o)})
}

// poolsForCluster maps a Cluster to its pools.
func (r *Reconciler) poolsForCluster(ctx context.Context, o client.Object) []reconcile.Request {
	return r.poolRequests(ctx, client.InNamespace(o.GetNamespace()), client.MatchingLabels{corev1beta1.ClusterNameLabel: o.GetName()})
}

// poolsForCRD maps a CRD change: Cluster API's Cluster CRD appearing or going concerns every pool; another
// CRD concerns the pools that reference kinds of its group (a contract label may have changed).
func (r *Reconciler) poolsForCRD(ctx context.Context, o client.Object) []reconcile.Request {
	if o.GetName() == clusterCRDName {
		r.mu.Lock()
		r.standaloneLogged = nil
		r.mu.Unlock()
		return r.poolRequests(ctx)
	}
	_, group, ok := strings.Cut(o.GetName(), ".")
	if !ok {
		return nil
	}
	return r.poolRequests(ctx, client.MatchingFields{refIndex: group})
}

// poolsForKubeconfig maps a "<cluster>-kubeconfig" Secret to the cluster's pools.
func (r *Reconciler) poolsForKubeconfig(ctx context.Context, o client.Object) []reconcile.Request {
	clusterName, ok := workload.ClusterOfKubeconfigSecret(o.GetName())
	if !ok {
		return nil
	}
	return r.poolRequests(ctx, client.InNamespace(o.GetNamespace()), client.MatchingLabels{corev1beta1.ClusterNameLabel: clusterName})
}

// workloadChanged requeues the pools a workload cluster's change concerns: for a Node, the pools whose
// providerIDList names it and the pool its owner annotations name; for a health change (nil Node), every pool
// of the cluster.
func (r *Reconciler) workloadChanged(cluster types.NamespacedName, node *corev1.Node) {
	ctx := context.Background()
	if node == nil {
		for _, req := range r.poolRequests(ctx, client.InNamespace(cluster.Namespace), client.MatchingLabels{corev1beta1.ClusterNameLabel: cluster.Name}) {
			r.enqueue(req.NamespacedName)
		}
		return
	}
	if a := node.Annotations; a[corev1beta1.OwnerKindAnnotation] == "MachinePool" && a[corev1beta1.ClusterNamespaceAnnotation] == cluster.Namespace &&
		a[corev1beta1.ClusterNameAnnotation] == cluster.Name && a[corev1beta1.OwnerNameAnnotation] != "" {
		r.enqueue(types.NamespacedName{Namespace: cluster.Namespace, Name: a[corev1beta1.OwnerNameAnnotation]})
	}
	for _, key := range []string{"f:" + workload.FullKey(node.Spec.ProviderID), "i:" + workload.InstanceKey(node.Spec.ProviderID)} {
		if key == "f:" || key == "i:" {
			return
		}
		pools := &corev1beta2.MachinePoolList{}
		if err := r.Client.List(ctx, pools, client.InNamespace(cluster.Namespace), client.MatchingFields{providerIDIndex: key}); err != nil {
			logf.FromContext(ctx).Error(err, "listing MachinePools for a Node", "node", node.Name)
			return
		}
		found := false
		for i := range pools.Items {
			if pools.Items[i].Spec.ClusterName == cluster.Name {
				r.enqueue(client.ObjectKeyFromObject(&pools.Items[i]))
				found = true
			}
		}
		if found {
			return
		}
	}
}

// enqueue requeues one pool through the controller's channel source.
func (r *Reconciler) enqueue(key types.NamespacedName) {
	pool := &corev1beta2.MachinePool{}
	pool.Namespace, pool.Name = key.Namespace, key.Name
	r.nodeEvents <- event.GenericEvent{Object: pool}
}

// DefaultProviderUpdateBatch is how long the update of a referenced infrastructure or bootstrap object waits
// before its pools are reconciled. Providers write spec and status in separate requests (the infrastructure
// pool its providerIDList, then its replicas and readiness); batching them lets one reconcile, and one status
// write of the pool, follow both.
const DefaultProviderUpdateBatch = 100 * time.Millisecond

// batchUpdates enqueues the mapped pools of created, deleted and generic events at once, and those of updates
// after a delay, so that the updates that follow within it are reconciled together.
func batchUpdates(mapFn handler.MapFunc, delay time.Duration) handler.EventHandler {
	enqueue := func(ctx context.Context, o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request], after time.Duration) {
		for _, req := range mapFn(ctx, o) {
			q.AddAfter(req, after)
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, e.Object, q, 0)
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, e.ObjectNew, q, delay)
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, e.Object, q, 0)
		},
		GenericFunc: func(ctx context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, e.Object, q, 0)
		},
	}
}

// ensureWatch starts watching a kind the first time a pool references it, requeueing the pools mapFn names:
// at once, or for updates after updateDelay when it is set (batchUpdates). Call it only once the kind is known
// to be served (a Get did not fail with "no matches for kind"), so that the watch can start.
func (r *Reconciler) ensureWatch(gvk schema.GroupVersionKind, mapFn handler.MapFunc, updateDelay time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watching[gvk.GroupKind()] {
		return nil
	}
	h := handler.EnqueueRequestsFromMapFunc(mapFn)
	if updateDelay > 0 {
		h = batchUpdates(mapFn, updateDelay)
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := r.controller.Watch(source.Kind[client.Object](r.cache, u, h)); err != nil {
		return err
	}
	r.watching[gvk.GroupKind()] = true
	return nil
}

// kubeconfigVersion returns the resourceVersion of a cluster's kubeconfig Secret from the watch, or "" when
// the Secret does not exist.
func (r *Reconciler) kubeconfigVersion(ctx context.Context, pool *corev1beta1.MachinePool) (string, error) {
	meta := secretMetadata()
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: pool.Namespace, Name: workload.KubeconfigSecretName(pool.Spec.ClusterName)}, meta)
	if err != nil {
		return "", client.IgnoreNotFound(err)
	}
	return meta.GetResourceVersion(), nil
}
