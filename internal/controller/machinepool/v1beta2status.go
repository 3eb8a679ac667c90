package machinepool

import (
	"fmt"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
	"github.com/machinepool-operator/machinepool-operator/internal/ctrlutil"
)

// setV1beta2Conditions derives the stored pool's v1beta2 conditions from the state the reconcile computed on the
// v1beta1 pool (its counts, readiness and v1beta1 conditions, whose reasons and messages say what to do when
// something is not ready). A condition whose status does not change keeps its lastTransitionTime.
func setV1beta2Conditions(pool *corev1beta1.MachinePool, stored *corev1beta2.MachinePool) {
	set := func(t string, ok bool, reason, message string) {
		status := metav1.ConditionFalse
		if ok {
			status = metav1.ConditionTrue
		}
		apimeta.SetStatusCondition(&stored.Status.Conditions, metav1.Condition{Type: t, Status: status, Reason: reason,
			Message: message, ObservedGeneration: pool.Generation})
	}
	st := &pool.Status
	desired := ctrlutil.DesiredReplicas(pool)

	paused := conditions.Get(st.Conditions, corev1beta1.PausedCondition)
	if paused != nil && paused.Status == "True" {
		set(corev1beta2.PausedCondition, true, corev1beta2.PausedReason, paused.Message)
	} else {
		set(corev1beta2.PausedCondition, false, corev1beta2.NotPausedReason, "")
	}

	deleting := !pool.DeletionTimestamp.IsZero()
	if deleting {
		set(corev1beta2.DeletingCondition, true, corev1beta2.DeletingReason, deletingMessage(pool))
	} else {
		set(corev1beta2.DeletingCondition, false, corev1beta2.NotDeletingReason, "")
	}

	switch {
	case st.BootstrapReady && pool.Spec.Template.Spec.Bootstrap.ConfigRef == nil:
		set(corev1beta2.BootstrapConfigReadyCondition, true, corev1beta2.DataSecretProvidedReason, "")
	case st.BootstrapReady:
		set(corev1beta2.BootstrapConfigReadyCondition, true, corev1beta2.ReadyReason, "")
	default:
		reason, message := fromV1beta1(st.Conditions, corev1beta1.BootstrapReadyCondition, "the bootstrap data Secret does not exist yet")
		set(corev1beta2.BootstrapConfigReadyCondition, false, reason, message)
	}
	if st.InfrastructureReady {
		set(corev1beta2.InfrastructureReadyCondition, true, corev1beta2.ReadyReason, "")
	} else {
		reason, message := fromV1beta1(st.Conditions, corev1beta1.InfrastructureReadyCondition, "the infrastructure pool is not provisioned yet")
		set(corev1beta2.InfrastructureReadyCondition, false, reason, message)
	}

	switch {
	case st.Replicas == 0:
		set(corev1beta2.MachinesReadyCondition, true, corev1beta2.NoReplicasReason, "")
	case st.ReadyReplicas >= st.Replicas:
		set(corev1beta2.MachinesReadyCondition, true, corev1beta2.ReadyReason, "")
	default:
		set(corev1beta2.MachinesReadyCondition, false, corev1beta2.NotReadyReason,
			fmt.Sprintf("%d of %d instances have no Ready Node", st.Replicas-st.ReadyReplicas, st.Replicas))
	}

	if st.AvailableReplicas >= desired && st.InfrastructureReady {
		set(corev1beta2.AvailableCondition, true, corev1beta2.AvailableReason, "")
	} else {
		set(corev1beta2.AvailableCondition, false, corev1beta2.NotAvailableReason,
			fmt.Sprintf("%d of %d replicas available (Ready for minReadySeconds)", st.AvailableReplicas, desired))
	}

	switch {
	case deleting:
		set(corev1beta2.ScalingUpCondition, false, corev1beta2.NotScalingUpReason, "")
		set(corev1beta2.ScalingDownCondition, false, corev1beta2.NotScalingDownReason, "")
	case desired > st.Replicas:
		set(corev1beta2.ScalingUpCondition, true, corev1beta2.ScalingUpReason, fmt.Sprintf("scaling up from %d to %d replicas", st.Replicas, desired))
		set(corev1beta2.ScalingDownCondition, false, corev1beta2.NotScalingDownReason, "")
	case desired < st.Replicas:
		set(corev1beta2.ScalingUpCondition, false, corev1beta2.NotScalingUpReason, "")
		set(corev1beta2.ScalingDownCondition, true, corev1beta2.ScalingDownReason, fmt.Sprintf("scaling down from %d to %d replicas", st.Replicas, desired))
	default:
		set(corev1beta2.ScalingUpCondition, false, corev1beta2.NotScalingUpReason, "")
		set(corev1beta2.ScalingDownCondition, false, corev1beta2.NotScalingDownReason, "")
	}
}

// setUpToDate writes upToDateReplicas and MachinesUpToDate from what the infrastructure pool reports as
// status.upToDateReplicas (capped at the instances it counts). A provider that does not report it leaves both
// unknown: upToDateReplicas unset and MachinesUpToDate Unknown, saying so. Until the infrastructure pool has
// been read, both stay as they were.
func setUpToDate(s *scope, stored *corev1beta2.MachinePool) {
	set := func(status metav1.ConditionStatus, reason, message string) {
		apimeta.SetStatusCondition(&stored.Status.Conditions, metav1.Condition{Type: corev1beta2.MachinesUpToDateCondition,
			Status: status, Reason: reason, Message: message, ObservedGeneration: s.pool.Generation})
	}
	replicas := s.pool.Status.Replicas
	ref := s.pool.Spec.Template.Spec.InfrastructureRef
	switch {
	case !s.infraRead:
		if apimeta.FindStatusCondition(stored.Status.Conditions, corev1beta2.MachinesUpToDateCondition) == nil {
			set(metav1.ConditionUnknown, corev1beta2.UpToDateUnknownReason, "the infrastructure pool has not been read yet")
		}
	case s.upToDate == nil:
		stored.Status.UpToDateReplicas = nil
		set(metav1.ConditionUnknown, corev1beta2.UpToDateUnknownReason, fmt.Sprintf(
			"%s does not report status.upToDateReplicas; whether its instances run the current spec is for its own status to say", ref.Kind))
	case replicas == 0:
		stored.Status.UpToDateReplicas = ptr.To[int32](0)
		set(metav1.ConditionTrue, corev1beta2.NoReplicasReason, "")
	default:
		upToDate := min(max(*s.upToDate, 0), replicas)
		stored.Status.UpToDateReplicas = &upToDate
		if upToDate == replicas {
			set(metav1.ConditionTrue, corev1beta2.UpToDateReason, "")
		} else {
			set(metav1.ConditionFalse, corev1beta2.NotUpToDateReason, fmt.Sprintf(
				"%d of %d instances run an outdated spec (version, bootstrap data or instance type); %s %s replaces them within the pool's rollout bounds",
				replicas-upToDate, replicas, ref.Kind, ref.Name))
		}
	}
}

// fromV1beta1 is the reason and message of a False v1beta1 condition, or NotReady and a default message.
func fromV1beta1(list corev1beta1.Conditions, t corev1beta1.ConditionType, fallback string) (string, string) {
	if c := conditions.Get(list, t); c != nil && c.Status == "False" && c.Reason != "" {
		return c.Reason, c.Message
	}
	return corev1beta2.NotReadyReason, fallback
}

// deletingMessage says what a deletion waits for, from the v1beta1 Ready condition the delete path keeps.
func deletingMessage(pool *corev1beta1.MachinePool) string {
	if c := conditions.Get(pool.Status.Conditions, corev1beta1.ReadyCondition); c != nil && c.Status == "False" && c.Message != "" {
		return c.Message
	}
	return "removing the pool's instances, Nodes and Machines"
}
