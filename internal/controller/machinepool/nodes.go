package machinepool

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

// reconcileNodes matches the pool's provider IDs to the workload cluster's Nodes and counts the Ready and
// available ones.
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
	now := time.Now()
	var refs []corev1.ObjectReference
	var ready, available int32
	for _, id := range pool.Spec.ProviderIDList {
		nodes, err := wc.NodesByProviderID(ctx, id)
		if err != nil {
			s.nodesUnknown = true
			return ctrl.Result{}, err
		}
		if len(nodes) == 0 {
			continue
		}
		node := &nodes[0]
		refs = append(refs, corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID})
		since, isReady := readySince(node)
		if !isReady {
			continue
		}
		ready++
		if wait := since.Add(minReady).Sub(now); wait > 0 {
			s.requeueAfter = shortest(s.requeueAfter, wait)
		} else {
			available++
		}
	}
	pool.Status.NodeRefs = refs
	pool.Status.ReadyReplicas = ready
	pool.Status.AvailableReplicas = available
	return ctrl.Result{}, nil
}

// workloadCluster returns the pool's workload cluster client, or nil (and a condition) when its kubeconfig
// Secret does not exist yet.
func (r *Reconciler) workloadCluster(ctx context.Context, pool *corev1beta1.MachinePool) (*workload.Cluster, error) {
	key := types.NamespacedName{Namespace: pool.Namespace, Name: pool.Spec.ClusterName}
	version, err := r.kubeconfigVersion(ctx, pool)
	if err != nil {
		return nil, err
	}
	if version == "" {
		r.Workload.Forget(key)
		r.markFalse(pool, corev1beta1.ReplicasReadyCondition, corev1beta1.WaitingForKubeconfigReason, corev1beta1.ConditionSeverityInfo,
			"waiting for Secret %s/%s with the workload cluster's kubeconfig", pool.Namespace, workload.KubeconfigSecretName(pool.Spec.ClusterName))
		return nil, nil
	}
	wc, err := r.workloadClusterFor(ctx, pool, version)
	if err != nil {
		r.markFalse(pool, corev1beta1.ReplicasReadyCondition, corev1beta1.WorkloadClusterUnreachableReason, corev1beta1.ConditionSeverityWarning,
			"cannot read the workload cluster's Nodes: %v", err)
		return nil, err
	}
	return wc, nil
}

// readySince returns when a Node became Ready, and whether it is Ready now.
func readySince(node *corev1.Node) (time.Time, bool) {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.LastTransitionTime.Time, c.Status == corev1.ConditionTrue
		}
	}
	return time.Time{}, false
}

func shortest(a, b time.Duration) time.Duration {
	if a == 0 || b < a {
		return b
	}
	return a
}

// workloadClusterFor returns the client of the pool's workload cluster for the given kubeconfig Secret version.
func (r *Reconciler) workloadClusterFor(ctx context.Context, pool *corev1beta1.MachinePool, secretVersion string) (*workload.Cluster, error) {
	return r.Workload.Get(ctx, types.NamespacedName{Namespace: pool.Namespace, Name: pool.Spec.ClusterName}, secretVersion)
}
