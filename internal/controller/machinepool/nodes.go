package machinepool

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/ctrlutil"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

// reconcileNodes matches the pool's provider IDs to the workload cluster's Nodes, counts the Ready and
// available ones, adopts them (owner annotations, uninitialized taint removed) and deletes the Nodes of
// instances that left the pool.
func (r *Reconciler) reconcileNodes(ctx context.Context, s *scope) (ctrl.Result, error) {
	pool := s.pool
	if s.waitingForCluster || !pool.Status.InfrastructureReady {
		return ctrl.Result{}, nil
	}
	wc, err := r.workloadCluster(ctx, pool)
	if err != nil || wc == nil {
		s.nodesUnknown = true
		return ctrl.Result{}, err
	}

	minReady := time.Duration(0)
	if pool.Spec.MinReadySeconds != nil && *pool.Spec.MinReadySeconds > 0 {
		minReady = time.Duration(*pool.Spec.MinReadySeconds) * time.Second
	}
	var refs []corev1.ObjectReference
	var matched []*corev1.Node
	var errs []error
	// Only the Nodes that need it are patched: a steady-state reconcile sends nothing.
	var adopt []*corev1.Node
	var patches [][]byte
	for _, id := range pool.Spec.ProviderIDList {
		node, err := wc.NodeFor(ctx, id)
		if err != nil {
			s.nodesUnknown = true
			return ctrl.Result{}, err
		}
		if node == nil {
			continue
		}
		refs = append(refs, corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID})
		matched = append(matched, node)
		raw, err := adoptionPatch(pool, node, s.machines)
		switch {
		case err != nil:
			errs = append(errs, err)
		case raw != nil:
			adopt, patches = append(adopt, node), append(patches, raw)
		}
	}
	if len(adopt) > 0 {
		if err := r.persistFinalizer(ctx, s); err != nil {
			return ctrl.Result{}, err
		}
		ctrl.LoggerFrom(ctx).V(2).Info("adopting Nodes", "count", len(adopt), "first", adopt[0].Name)
	}
	errs = append(errs, wc.Each(len(adopt), func(i int) error {
		err := wc.Patch(ctx, adopt[i].DeepCopy(), client.RawPatch(types.MergePatchType, patches[i]))
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("adopting Node %s: %w", adopt[i].Name, err)
		}
		return nil
	}))
	ready, available, wait := countReplicas(matched, minReady, time.Now())
	if wait > 0 {
		s.requeueAfter = ctrlutil.Sooner(s.requeueAfter, wait)
	}
	pool.Status.NodeRefs = refs
	pool.Status.ReadyReplicas = ready
	pool.Status.AvailableReplicas = available

	if !s.providerIDGlitch {
		errs = append(errs, r.retireNodes(ctx, s, wc))
	}
	return ctrl.Result{}, errors.Join(errs...)
}

// adoptionPatch is the merge patch that gives a pool's Node Cluster API's owner annotations and removes the
// uninitialized taint, or nil when nothing is missing. When the Node's Machine is known, the patch also carries
// what the Machine keeps on its Node (its name, its labels), so that the Node is written once.
func adoptionPatch(pool *corev1beta1.MachinePool, node *corev1.Node, machines nodeMachines) ([]byte, error) {
	adoption := workload.NodeMetadata{
		Annotations: map[string]string{
			corev1beta1.ClusterNameAnnotation:      pool.Spec.ClusterName,
			corev1beta1.ClusterNamespaceAnnotation: pool.Namespace,
			corev1beta1.OwnerKindAnnotation:        "MachinePool",
			corev1beta1.OwnerNameAnnotation:        pool.Name,
		},
		Untaint: true,
	}
	raw, err := adoption.Patch(node)
	if raw == nil || err != nil {
		return raw, err
	}
	if m, ok := machines.forNode(node.Spec.ProviderID); ok {
		m.Annotations = maps.Clone(m.Annotations)
		maps.Copy(m.Annotations, adoption.Annotations)
		return m.Patch(node)
	}
	return raw, nil
}

// retireNodes deletes the Nodes that carry this pool's owner annotations but whose instances left its
// providerIDList (scale-in, replaced instances). Nodes of other pools, or of nothing of ours, are never touched.
func (r *Reconciler) retireNodes(ctx context.Context, s *scope, wc *workload.Cluster) error {
	pool := s.pool
	owned, err := wc.NodesOwnedBy(ctx, types.NamespacedName{Namespace: pool.Namespace, Name: pool.Name})
	if err != nil {
		return err
	}
	var leaving []*corev1.Node
	members := workload.NewInstanceSet(pool.Spec.ProviderIDList)
	for i := range owned {
		node := &owned[i]
		if node.Annotations[corev1beta1.ClusterNameAnnotation] == pool.Spec.ClusterName && !members.Has(node.Spec.ProviderID) {
			leaving = append(leaving, node)
		}
	}
	if len(leaving) > 0 {
		if err := r.persistFinalizer(ctx, s); err != nil {
			return err
		}
	}
	deleted := make([]bool, len(leaving))
	err = wc.Each(len(leaving), func(i int) error {
		node := leaving[i]
		if err := wc.Delete(ctx, node, client.Preconditions{UID: &node.UID}); err != nil {
			if !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return fmt.Errorf("deleting retired Node %s: %w", node.Name, err)
			}
			return nil
		}
		deleted[i] = true
		return nil
	})
	var retired []string
	for i, node := range leaving {
		if deleted[i] {
			retired = append(retired, node.Name)
		}
	}
	// One event per pass, however many Nodes went: a scale-in of hundreds must not cost hundreds of writes.
	if len(retired) > 0 {
		sort.Strings(retired)
		r.event(ctx, pool, corev1.EventTypeNormal, "NodesRetired", "Delete",
			"deleted %d Nodes whose instances left the pool: %s", len(retired), truncateList(retired, 10))
	}
	return err
}

// truncateList joins names, showing at most n of them.
func truncateList(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}

// workloadCluster returns the pool's workload cluster client, or nil with a condition when its kubeconfig
// Secret does not exist yet or its API server does not answer (the health watch requeues the pool when it
// does again).
func (r *Reconciler) workloadCluster(ctx context.Context, pool *corev1beta1.MachinePool) (*workload.Cluster, error) {
	version, err := r.kubeconfigVersion(ctx, pool)
	if err != nil {
		return nil, err
	}
	if version == "" {
		r.Workload.Release(workloadUser(client.ObjectKeyFromObject(pool)))
		r.markFalse(ctx, pool, corev1beta1.ReplicasReadyCondition, corev1beta1.WaitingForKubeconfigReason, corev1beta1.ConditionSeverityInfo,
			"waiting for Secret %s/%s with the workload cluster's kubeconfig", pool.Namespace, workload.KubeconfigSecretName(pool.Spec.ClusterName))
		return nil, nil
	}
	wc, err := r.workloadClusterFor(ctx, pool, version)
	if err == nil {
		err = wc.Healthy()
	}
	if err != nil {
		r.markFalse(ctx, pool, corev1beta1.ReplicasReadyCondition, corev1beta1.WorkloadClusterUnreachableReason, corev1beta1.ConditionSeverityWarning,
			"cannot read the workload cluster's Nodes; replica counts are as last seen: %v", err)
		if wc != nil {
			return nil, nil // the health watch requeues the pool when the cluster answers again
		}
		return nil, err
	}
	return wc, nil
}

// workloadClusterFor returns the client of the pool's workload cluster for the given kubeconfig Secret version.
func (r *Reconciler) workloadClusterFor(ctx context.Context, pool *corev1beta1.MachinePool, secretVersion string) (*workload.Cluster, error) {
	return r.Workload.Get(ctx, types.NamespacedName{Namespace: pool.Namespace, Name: pool.Spec.ClusterName},
		workloadUser(client.ObjectKeyFromObject(pool)), secretVersion)
}

// countReplicas counts the Ready Nodes and those Ready for at least minReady at now; wait is how long until
// the next Ready Node becomes available (0 when none is waiting), the one moment worth a timed requeue.
func countReplicas(nodes []*corev1.Node, minReady time.Duration, now time.Time) (ready, available int32, wait time.Duration) {
	for _, node := range nodes {
		since, isReady := workload.ReadySince(node)
		if !isReady {
			continue
		}
		ready++
		if w := since.Add(minReady).Sub(now); w > 0 {
			wait = ctrlutil.Sooner(wait, w)
		} else {
			available++
		}
	}
	return ready, available, wait
}
