package machinepool

import (
	"context"
	"errors"
	"slices"

	ctrl "sigs.k8s.io/controller-runtime"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
	"github.com/machinepool-operator/machinepool-operator/internal/contract"
)

// reconcileInfrastructure copies what the infrastructure pool reports (providerIDList, replicas, readiness,
// failures) onto the MachinePool. The provider reads the pool's spec.replicas itself; it is never written here.
func (r *Reconciler) reconcileInfrastructure(ctx context.Context, s *scope) (ctrl.Result, error) {
	pool := s.pool
	if s.waitingForCluster {
		return ctrl.Result{}, nil
	}
	ref := &pool.Spec.Template.Spec.InfrastructureRef
	obj, err := r.getExternal(ctx, pool, ref)
	switch {
	case errors.Is(err, errKindNotServed):
		pool.Status.InfrastructureReady = false
		r.markFalse(ctx, pool, corev1beta1.InfrastructureReadyCondition, corev1beta1.KindNotServedReason, corev1beta1.ConditionSeverityError,
			"%v; install its infrastructure provider or fix spec.template.spec.infrastructureRef", err)
		return ctrl.Result{}, nil
	case err != nil:
		return ctrl.Result{}, err
	case obj == nil:
		pool.Status.InfrastructureReady = false
		r.markFalse(ctx, pool, corev1beta1.InfrastructureReadyCondition, corev1beta1.InfrastructureNotFoundReason, corev1beta1.ConditionSeverityWarning,
			"%s %s/%s does not exist; create it or fix spec.template.spec.infrastructureRef", ref.Kind, pool.Namespace, ref.Name)
		return ctrl.Result{}, nil
	}
	s.infra = obj
	if err := r.adopt(ctx, s, obj); err != nil {
		return ctrl.Result{}, err
	}

	failure, ferr := contract.InfraMachinePool.Failure(obj)
	ids, idsFound, ierr := contract.InfraMachinePool.ProviderIDList(obj)
	replicas, replicasFound, rerr := contract.InfraMachinePool.Replicas(obj)
	provisioned, perr := contract.InfraMachinePool.Provisioned(obj)
	upToDate, upToDateFound, uerr := contract.InfraMachinePool.UpToDateReplicas(obj)
	if err := errors.Join(ferr, ierr, rerr, perr, uerr); err != nil {
		r.markFalse(ctx, pool, corev1beta1.InfrastructureReadyCondition, corev1beta1.InvalidProviderDataReason, corev1beta1.ConditionSeverityError, "%v", err)
		return ctrl.Result{}, nil
	}

	// An absent list means "not reported yet" and leaves the pool's list alone; an empty one means no instances,
	// unless the provider still counts instances: then it is a glitch and the pool keeps its list.
	s.providerIDGlitch = idsFound && len(ids) == 0 && replicasFound && replicas != 0
	if idsFound && !s.providerIDGlitch && !slices.Equal(ids, pool.Spec.ProviderIDList) {
		pool.Spec.ProviderIDList = ids
	}
	if replicasFound {
		pool.Status.Replicas = replicas
	}
	pool.Status.InfrastructureReady = provisioned
	s.infraRead = true
	if upToDateFound {
		s.upToDate = &upToDate
	}

	switch {
	case !failure.IsZero():
		s.failures = append(s.failures, failure)
		r.markFalse(ctx, pool, corev1beta1.InfrastructureReadyCondition, corev1beta1.InfrastructureFailedReason, corev1beta1.ConditionSeverityError,
			"%s %s reports a failure: %s", ref.Kind, ref.Name, describeFailure(failure))
	case provisioned:
		conditions.MarkTrue(&pool.Status.Conditions, corev1beta1.InfrastructureReadyCondition)
	default:
		r.markFalse(ctx, pool, corev1beta1.InfrastructureReadyCondition, corev1beta1.WaitingForInfrastructureReason, corev1beta1.ConditionSeverityInfo,
			"waiting for %s %s to report status.ready", ref.Kind, ref.Name)
	}
	return ctrl.Result{}, nil
}
