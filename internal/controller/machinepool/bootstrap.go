package machinepool

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
	"github.com/machinepool-operator/machinepool-operator/internal/contract"
)

// reconcileBootstrap copies the bootstrap data Secret's name from the bootstrap config into the pool. A
// dataSecretName set without a configRef is used as it is.
func (r *Reconciler) reconcileBootstrap(ctx context.Context, s *scope) (ctrl.Result, error) {
	pool := s.pool
	b := &pool.Spec.Template.Spec.Bootstrap
	if s.waitingForCluster {
		return ctrl.Result{}, nil
	}
	if b.ConfigRef == nil {
		pool.Status.BootstrapReady = b.DataSecretName != nil
		if pool.Status.BootstrapReady {
			conditions.MarkTrue(&pool.Status.Conditions, corev1beta1.BootstrapReadyCondition)
		}
		return ctrl.Result{}, nil
	}

	ref := b.ConfigRef
	obj, err := r.getExternal(ctx, pool, ref)
	switch {
	case errors.Is(err, errKindNotServed):
		pool.Status.BootstrapReady = b.DataSecretName != nil
		r.markFalse(ctx, pool, corev1beta1.BootstrapReadyCondition, corev1beta1.KindNotServedReason, corev1beta1.ConditionSeverityError,
			"%v; install its bootstrap provider or fix spec.template.spec.bootstrap.configRef", err)
		return ctrl.Result{}, nil
	case err != nil:
		return ctrl.Result{}, err
	case obj == nil:
		pool.Status.BootstrapReady = b.DataSecretName != nil
		r.markFalse(ctx, pool, corev1beta1.BootstrapReadyCondition, corev1beta1.BootstrapConfigNotFoundReason, corev1beta1.ConditionSeverityWarning,
			"%s %s/%s does not exist; create it or fix spec.template.spec.bootstrap.configRef", ref.Kind, pool.Namespace, ref.Name)
		return ctrl.Result{}, nil
	}
	// A ready config's data Secret name is read before the adoption, so that it goes into the pool's first write
	// together with the finalizer instead of a write of its own.
	if name, ok := readyDataSecret(obj); ok {
		b.DataSecretName = &name
	}
	if err := r.adopt(ctx, s, obj); err != nil {
		return ctrl.Result{}, err
	}

	failure, ferr := contract.BootstrapConfig.Failure(obj)
	ready, rerr := contract.BootstrapConfig.Ready(obj)
	name, found, nerr := contract.BootstrapConfig.DataSecretName(obj)
	if err := errors.Join(ferr, rerr, nerr); err != nil {
		r.markFalse(ctx, pool, corev1beta1.BootstrapReadyCondition, corev1beta1.InvalidProviderDataReason, corev1beta1.ConditionSeverityError, "%v", err)
		return ctrl.Result{}, nil
	}
	if !failure.IsZero() {
		s.failures = append(s.failures, failure)
		r.markFalse(ctx, pool, corev1beta1.BootstrapReadyCondition, corev1beta1.BootstrapFailedReason, corev1beta1.ConditionSeverityError,
			"%s %s reports a failure: %s", ref.Kind, ref.Name, describeFailure(failure))
		return ctrl.Result{}, nil
	}
	if ready && found && name != "" {
		b.DataSecretName = &name
		pool.Status.BootstrapReady = true
		conditions.MarkTrue(&pool.Status.Conditions, corev1beta1.BootstrapReadyCondition)
		return ctrl.Result{}, nil
	}
	// A pool that already has its data keeps running while the config regenerates it.
	pool.Status.BootstrapReady = b.DataSecretName != nil
	r.markFalse(ctx, pool, corev1beta1.BootstrapReadyCondition, corev1beta1.WaitingForDataSecretReason, corev1beta1.ConditionSeverityInfo,
		"waiting for %s %s to report status.dataSecretName", ref.Kind, ref.Name)
	return ctrl.Result{}, nil
}

// readyDataSecret returns the data Secret name of a bootstrap config that is ready and reports no failure.
func readyDataSecret(obj *unstructured.Unstructured) (string, bool) {
	failure, ferr := contract.BootstrapConfig.Failure(obj)
	ready, rerr := contract.BootstrapConfig.Ready(obj)
	name, found, nerr := contract.BootstrapConfig.DataSecretName(obj)
	ok := errors.Join(ferr, rerr, nerr) == nil && failure.IsZero() && ready && found && name != ""
	return name, ok
}

func describeFailure(f contract.Failure) string {
	switch {
	case f.Reason != "" && f.Message != "":
		return f.Reason + ": " + f.Message
	case f.Reason != "":
		return f.Reason
	}
	return f.Message
}

// markFalse sets a condition to False and, when its reason changes to one that needs a user (Warning or
// Error), records an event once.
func (r *Reconciler) markFalse(ctx context.Context, pool *corev1beta1.MachinePool, t corev1beta1.ConditionType, reason string, severity corev1beta1.ConditionSeverity, format string, args ...any) {
	prev := conditions.Get(pool.Status.Conditions, t)
	conditions.MarkFalse(&pool.Status.Conditions, t, reason, severity, format, args...)
	if severity == corev1beta1.ConditionSeverityInfo || (prev != nil && prev.Status == corev1.ConditionFalse && prev.Reason == reason) {
		return
	}
	r.event(ctx, pool, corev1.EventTypeWarning, reason, "Reconcile", "%s", conditions.Get(pool.Status.Conditions, t).Message)
}
