package machinepool

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
)

// reconcileDelete deletes the bootstrap config and the infrastructure pool, waits (through their watches) until
// both are gone, deletes the pool's Nodes, then lets the pool go.
func (r *Reconciler) reconcileDelete(ctx context.Context, s *scope) (ctrl.Result, error) {
	pool := s.pool
	if !controllerutil.ContainsFinalizer(pool, corev1beta1.MachinePoolFinalizer) {
		return ctrl.Result{}, nil
	}
	spec := &pool.Spec.Template.Spec
	var waiting []string
	for _, ref := range []*corev1.ObjectReference{spec.Bootstrap.ConfigRef, &spec.InfrastructureRef} {
		if ref == nil || ref.Name == "" {
			continue
		}
		obj, err := r.getExternal(ctx, pool, ref)
		if errors.Is(err, errKindNotServed) || (err == nil && obj == nil) {
			continue // nothing of that kind can exist
		}
		if err != nil {
			return ctrl.Result{}, err
		}
		if obj.GetDeletionTimestamp().IsZero() {
			if err := r.Client.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
				return ctrl.Result{}, fmt.Errorf("deleting %s %s: %w", ref.Kind, klog.KObj(obj), err)
			}
			r.event(ctx, pool, corev1.EventTypeNormal, "Deleting", "Delete", "deleting %s %s", ref.Kind, ref.Name)
		}
		waiting = append(waiting, ref.Kind+" "+ref.Name)
	}
	if len(waiting) > 0 {
		conditions.MarkFalse(&pool.Status.Conditions, corev1beta1.ReadyCondition, corev1beta1.DeletingReason, corev1beta1.ConditionSeverityInfo,
			"waiting for %v to be deleted", waiting)
		return ctrl.Result{}, nil
	}

	// The infrastructure provider deletes the Machines of the instances it terminates; sweep what is left (a
	// provider that does not, an instance lost before its Machine went) and wait for them to go.
	remaining, err := r.deleteMachines(ctx, pool)
	if err != nil {
		return ctrl.Result{}, err
	}
	if remaining > 0 {
		conditions.MarkFalse(&pool.Status.Conditions, corev1beta1.ReadyCondition, corev1beta1.DeletingReason, corev1beta1.ConditionSeverityInfo,
			"waiting for %d Machines to be deleted", remaining)
		return ctrl.Result{}, nil
	}

	if err := r.deleteNodes(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	controllerutil.RemoveFinalizer(pool, corev1beta1.MachinePoolFinalizer)
	r.Workload.Release(workloadUser(client.ObjectKeyFromObject(pool)))
	return ctrl.Result{}, nil
}

// deleteNodes deletes the pool's Nodes from the workload cluster. It skips them when the Cluster itself is
// being deleted or the workload cluster has no kubeconfig any more; an unreachable cluster is retried until
// nodeDeletionTimeout (Cluster API's semantics: default 10s, 0 retries forever) and then given up with a
// warning event.
func (r *Reconciler) deleteNodes(ctx context.Context, s *scope) error {
	pool := s.pool
	if s.cluster != nil && !s.cluster.GetDeletionTimestamp().IsZero() {
		return nil // the whole workload cluster goes
	}
	version, err := r.kubeconfigVersion(ctx, pool)
	if err != nil {
		return err
	}
	if version == "" {
		return nil
	}
	err = r.deleteNodesOnce(ctx, pool, version)
	if err == nil {
		return nil
	}
	timeout := corev1beta1.DefaultNodeDeletionTimeout
	if d := pool.Spec.Template.Spec.NodeDeletionTimeout; d != nil {
		timeout = max(d.Duration, 0)
	}
	if timeout > 0 && time.Since(pool.DeletionTimestamp.Time) > timeout {
		r.event(ctx, pool, corev1.EventTypeWarning, "NodeDeletionFailed", "Delete",
			"gave up deleting the pool's Nodes after nodeDeletionTimeout %s: %v; delete them from the workload cluster by hand", timeout, err)
		return nil
	}
	return err
}

func (r *Reconciler) deleteNodesOnce(ctx context.Context, pool *corev1beta1.MachinePool, version string) error {
	wc, err := r.workloadClusterFor(ctx, pool, version)
	if err == nil {
		err = wc.Healthy()
	}
	if err != nil {
		return err
	}
	// The pool's Nodes: those its status lists and those its owner annotations name (adopted but no longer
	// listed, or listed by a status write that never landed).
	targets := map[string]types.UID{}
	for _, ref := range pool.Status.NodeRefs {
		targets[ref.Name] = ref.UID
	}
	owned, err := wc.NodesOwnedBy(ctx, types.NamespacedName{Namespace: pool.Namespace, Name: pool.Name})
	if err != nil {
		return err
	}
	for _, n := range owned {
		if n.Annotations[corev1beta1.ClusterNameAnnotation] == pool.Spec.ClusterName {
			targets[n.Name] = n.UID
		}
	}
	var errs []error
	for name, uid := range targets {
		node := &corev1.Node{}
		node.Name = name
		if err := wc.Delete(ctx, node, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			errs = append(errs, fmt.Errorf("deleting Node %s: %w", name, err))
		}
	}
	if len(errs) == 0 && len(targets) > 0 {
		r.event(ctx, pool, corev1.EventTypeNormal, "NodesDeleted", "Delete", "deleted %d Nodes from the workload cluster", len(targets))
		pool.Status.NodeRefs = nil
	}
	return errors.Join(errs...)
}
