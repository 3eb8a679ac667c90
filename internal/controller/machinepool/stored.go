package machinepool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	"github.com/machinepool-operator/machinepool-operator/internal/conversion"
	"github.com/machinepool-operator/machinepool-operator/internal/patch"
)

// The pool is stored as v1beta2, which the cache holds and the controller writes, and worked on as v1beta1,
// Cluster API v1.7's shape that the controller's logic follows. Both conversions run in the controller
// (internal/conversion, lossless), so the API server's conversion webhook is not on its path, and a pool
// unchanged by a reconcile is not written.

// working converts the stored pool into the v1beta1 pool the reconcile works on.
func (r *Reconciler) working(ctx context.Context, stored *corev1beta2.MachinePool) (*corev1beta1.MachinePool, error) {
	pool := &corev1beta1.MachinePool{}
	if err := r.converter.ToV1beta1(ctx, stored, pool); err != nil {
		return nil, err
	}
	return pool, nil
}

// toStored converts the worked-on pool back into what is stored.
func (r *Reconciler) toStored(ctx context.Context, pool *corev1beta1.MachinePool) (*corev1beta2.MachinePool, error) {
	stored := &corev1beta2.MachinePool{}
	if err := r.converter.ToV1beta2(ctx, pool, stored); err != nil {
		return nil, err
	}
	return stored, nil
}

// write patches the stored pool with what the reconcile changed on the working one. withStatus also writes the
// status (completed: observedGeneration follows the reconcile's own spec write). The working pool takes the
// stored one's new metadata (resourceVersion, generation, managed fields), keeping its conversion data.
func (r *Reconciler) write(ctx context.Context, s *scope, withStatus, completed bool) error {
	modified, err := r.toStored(ctx, s.pool)
	if err != nil {
		return err
	}
	if withStatus {
		setV1beta2Conditions(s.pool, modified)
		setUpToDate(s, modified)
		setRemediating(s, modified)
	}
	opts := []patch.Option{patch.OnWrite(s.wrote)}
	switch {
	case !withStatus:
		opts = append(opts, patch.WithoutStatus())
	case completed:
		generation := modified.Generation
		opts = append(opts, patch.FollowOwnSpecWrite(&modified.Status.ObservedGeneration),
			patch.AlsoFollowOwnSpecWrite(func(next int64) {
				for i := range modified.Status.Conditions {
					if modified.Status.Conditions[i].ObservedGeneration == generation {
						modified.Status.Conditions[i].ObservedGeneration = next
					}
				}
			}))
	}
	if err := patch.Apply(ctx, r.Client, s.stored, modified, opts...); err != nil {
		return err
	}
	if !withStatus {
		modified.Status = *s.stored.Status.DeepCopy()
	}
	s.stored = modified
	data, kept := s.pool.Annotations[conversion.DataAnnotation]
	modified.ObjectMeta.DeepCopyInto(&s.pool.ObjectMeta)
	if kept {
		if s.pool.Annotations == nil {
			s.pool.Annotations = map[string]string{}
		}
		s.pool.Annotations[conversion.DataAnnotation] = data
	}
	return nil
}

// reportUnconvertible records on the stored pool why it cannot be worked on: a reference whose kind has no API
// version for the contract (its CRD is missing or carries no contract label). The v1beta2 condition of that
// reference (BootstrapConfigReady, InfrastructureReady) and Available, and the v1beta1 Ready condition under
// status.deprecated, say KindNotServed; the CRD watch brings the pool back once the kind is served.
func (r *Reconciler) reportUnconvertible(ctx context.Context, stored *corev1beta2.MachinePool, cause error) error {
	if !errors.Is(cause, conversion.ErrNoAPIVersion) {
		return cause
	}
	modified := stored.DeepCopy()
	set := func(t string, err error) {
		apimeta.SetStatusCondition(&modified.Status.Conditions, metav1.Condition{Type: t, Status: metav1.ConditionFalse,
			Reason: string(corev1beta1.KindNotServedReason), ObservedGeneration: stored.Generation,
			Message: fmt.Sprintf("%v; install the provider whose CRD serves the kind, with its cluster.x-k8s.io/<contract> label, or fix the reference", err)})
	}
	spec := stored.Spec.Template.Spec
	for t, ref := range map[string]corev1beta2.ContractVersionedObjectReference{
		corev1beta2.BootstrapConfigReadyCondition: spec.Bootstrap.ConfigRef, corev1beta2.InfrastructureReadyCondition: spec.InfrastructureRef} {
		if ref.Kind == "" {
			continue
		}
		if _, err := r.converter.APIVersion(ctx, schema.GroupKind{Group: ref.APIGroup, Kind: ref.Kind}); err != nil {
			set(t, err)
		}
	}
	set(corev1beta2.AvailableCondition, cause)
	message := apimeta.FindStatusCondition(modified.Status.Conditions, corev1beta2.AvailableCondition).Message

	if modified.Status.Deprecated == nil {
		modified.Status.Deprecated = &corev1beta2.MachinePoolDeprecatedStatus{}
	}
	if modified.Status.Deprecated.V1Beta1 == nil {
		modified.Status.Deprecated.V1Beta1 = &corev1beta2.MachinePoolV1Beta1DeprecatedStatus{}
	}
	old := modified.Status.Deprecated.V1Beta1
	ready := corev1beta2.V1Beta1Condition{Type: string(corev1beta1.ReadyCondition), Status: corev1.ConditionFalse,
		Severity: string(corev1beta1.ConditionSeverityError), Reason: string(corev1beta1.KindNotServedReason), Message: message}
	ready.LastTransitionTime = metav1.NewTime(time.Now().Truncate(time.Second))
	i := slices.IndexFunc(old.Conditions, func(c corev1beta2.V1Beta1Condition) bool { return c.Type == ready.Type })
	switch {
	case i < 0:
		old.Conditions = append(old.Conditions, ready)
	default:
		if old.Conditions[i].Status == ready.Status {
			ready.LastTransitionTime = old.Conditions[i].LastTransitionTime
		}
		old.Conditions[i] = ready
	}
	return patch.Apply(ctx, r.Client, stored, modified)
}
