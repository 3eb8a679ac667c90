package machinepool

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
	"github.com/machinepool-operator/machinepool-operator/internal/remediation"
)

// remediationState is a remediation pass's outcome, for the pool's conditions.
type remediationState struct {
	pool   remediation.Pool
	result remediation.Result
}

// remediate deletes the pool's Machines that a MachineHealthCheck marked OwnerRemediated=False, within the
// infrastructure pool's rollout bounds, and not while the workload cluster does not answer (the Nodes could
// not be drained, and the marks may rest on stale Nodes). The provider replaces each deleted instance.
func (r *Reconciler) remediate(ctx context.Context, s *scope, machines []capi.Machine) error {
	pool := s.pool
	p := remediation.Pool{Namespace: pool.Namespace, Name: pool.Name, Budget: remediation.Budget(s.infra, pool.Status.Replicas)}
	if wc := r.Workload.Lookup(types.NamespacedName{Namespace: pool.Namespace, Name: pool.Spec.ClusterName}); wc != nil {
		if err := wc.Healthy(); err != nil {
			p.Hold = err.Error()
		}
	}
	if p.Hold == "" {
		for i := range machines {
			if remediation.Marked(&machines[i]) {
				if err := r.persistFinalizer(ctx, s); err != nil {
					return err
				}
				break
			}
		}
	}
	res, err := remediation.Machines(ctx, r.Client, p, machines)
	for _, started := range res.Started {
		r.event(ctx, pool, corev1.EventTypeNormal, remediation.MachineRemediatedReason, "Remediate", "%s", started.Event())
	}
	s.remediation = &remediationState{pool: p, result: res}
	res.MarkMachinesHealthy(&pool.Status.Conditions, p)
	return err
}

// setRemediating writes the v1beta2 Remediating condition from the reconcile's remediation pass; pools without
// Machines have none.
func setRemediating(s *scope, stored *corev1beta2.MachinePool) {
	if conditions.Get(s.pool.Status.Conditions, corev1beta1.MachinesHealthyCondition) == nil {
		apimeta.RemoveStatusCondition(&stored.Status.Conditions, corev1beta2.RemediatingCondition)
		return
	}
	if s.remediation == nil {
		return // not reached this reconcile: as it was
	}
	active, reason, message := s.remediation.result.Condition(s.remediation.pool)
	status := metav1.ConditionFalse
	if active {
		status = metav1.ConditionTrue
	}
	apimeta.SetStatusCondition(&stored.Status.Conditions, metav1.Condition{Type: corev1beta2.RemediatingCondition,
		Status: status, Reason: reason, Message: message, ObservedGeneration: s.pool.Generation})
}
