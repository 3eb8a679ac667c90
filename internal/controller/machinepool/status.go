package machinepool

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
	"github.com/machinepool-operator/machinepool-operator/internal/ctrlutil"
)

// phaseInputs are the facts the phase is computed from.
type phaseInputs struct {
	deleting          bool
	failed            bool
	waitingForCluster bool
	bootstrapReady    bool
	infraReady        bool
	externallyScaled  bool
	desired           int32
	replicas          int32 // status.replicas, from the infrastructure provider
	ready             int32
	nodeRefs          int
}

// computePhase turns the pool's facts into its one-word phase (status.phase), in the order a user reads it:
// what is wrong first, then how far provisioning got, then how the replicas compare to the desired count.
func computePhase(in phaseInputs) corev1beta1.MachinePoolPhase {
	switch {
	case in.deleting:
		return corev1beta1.MachinePoolPhaseDeleting
	case in.failed:
		return corev1beta1.MachinePoolPhaseFailed
	case in.waitingForCluster || !in.bootstrapReady:
		return corev1beta1.MachinePoolPhasePending
	case !in.infraReady:
		return corev1beta1.MachinePoolPhaseProvisioning
	case in.desired == in.ready && in.replicas == in.desired:
		return corev1beta1.MachinePoolPhaseRunning
	case in.nodeRefs == 0 && in.desired > 0 && in.replicas <= in.desired:
		return corev1beta1.MachinePoolPhaseProvisioned
	case in.externallyScaled:
		return corev1beta1.MachinePoolPhaseScaling
	case in.replicas > in.desired || in.ready > in.desired:
		return corev1beta1.MachinePoolPhaseScalingDown
	case in.ready < in.desired || in.replicas < in.desired:
		return corev1beta1.MachinePoolPhaseScalingUp
	}
	return corev1beta1.MachinePoolPhaseUnknown
}

// replicasManagedExternally says whether something other than the user (the cluster-autoscaler, a cloud's own
// scaling) owns spec.replicas: the replicas-managed-by annotation with any value but "false".
func replicasManagedExternally(pool *corev1beta1.MachinePool) bool {
	v, ok := pool.Annotations[corev1beta1.ReplicasManagedByAnnotation]
	return ok && v != "false"
}

// computeStatus derives the summary fields of the status from what the phases observed: failure fields,
// unavailable replicas, selector, ReplicasReady and Ready conditions, phase, and observedGeneration when the
// reconcile completed. It runs on every exit path of a reconcile.
func (r *Reconciler) computeStatus(s *scope, completed bool) {
	pool := s.pool
	st := &pool.Status
	desired := ctrlutil.DesiredReplicas(pool)
	deleting := !pool.DeletionTimestamp.IsZero()

	if completed {
		st.ObservedGeneration = pool.Generation
	}
	st.Selector = corev1beta1.MachinePoolSelector(pool.Spec.ClusterName, pool.Name)
	st.UnavailableReplicas = max(desired-st.AvailableReplicas, 0)
	conditions.Delete(&st.Conditions, corev1beta1.PausedCondition)

	st.FailureReason, st.FailureMessage = nil, nil
	if !deleting {
		for _, f := range s.failures {
			if f.Reason != "" && st.FailureReason == nil {
				st.FailureReason = ptr.To(corev1beta1.MachinePoolStatusFailure(f.Reason))
			}
			if f.Message != "" && st.FailureMessage == nil {
				st.FailureMessage = ptr.To(f.Message)
			}
		}
	}

	if st.InfrastructureReady && !s.nodesUnknown && !deleting {
		switch {
		case st.ReadyReplicas == desired && st.Replicas == desired:
			conditions.MarkTrue(&st.Conditions, corev1beta1.ReplicasReadyCondition)
		case st.Replicas > desired || st.ReadyReplicas > desired:
			conditions.MarkFalse(&st.Conditions, corev1beta1.ReplicasReadyCondition, corev1beta1.ScalingDownReason, corev1beta1.ConditionSeverityInfo,
				"scaling down: %d instances, %d desired", st.Replicas, desired)
		default:
			conditions.MarkFalse(&st.Conditions, corev1beta1.ReplicasReadyCondition, corev1beta1.ScalingUpReason, corev1beta1.ConditionSeverityInfo,
				"%d of %d replicas Ready", st.ReadyReplicas, desired)
		}
	}

	switch {
	case deleting:
		if c := conditions.Get(st.Conditions, corev1beta1.ReadyCondition); c == nil || c.Reason != corev1beta1.DeletingReason {
			conditions.MarkFalse(&st.Conditions, corev1beta1.ReadyCondition, corev1beta1.DeletingReason, corev1beta1.ConditionSeverityInfo, "the MachinePool is being deleted")
		}
	case s.waitingForCluster:
		conditions.MarkFalse(&st.Conditions, corev1beta1.ReadyCondition, corev1beta1.WaitingForClusterReason, corev1beta1.ConditionSeverityInfo,
			"waiting for Cluster %s to exist and report its infrastructure ready", pool.Spec.ClusterName)
	default:
		summarize(&st.Conditions)
	}

	st.Phase = string(computePhase(phaseInputs{
		deleting:          deleting,
		failed:            st.FailureReason != nil || st.FailureMessage != nil,
		waitingForCluster: s.waitingForCluster,
		bootstrapReady:    st.BootstrapReady,
		infraReady:        st.InfrastructureReady,
		externallyScaled:  replicasManagedExternally(pool),
		desired:           desired,
		replicas:          st.Replicas,
		ready:             st.ReadyReplicas,
		nodeRefs:          len(st.NodeRefs),
	}))
}

// summarize sets Ready from BootstrapReady, InfrastructureReady and ReplicasReady: True when all are True,
// otherwise the first one that is not, with its reason, severity and message.
func summarize(list *corev1beta1.Conditions) {
	for _, t := range []corev1beta1.ConditionType{
		corev1beta1.BootstrapReadyCondition, corev1beta1.InfrastructureReadyCondition, corev1beta1.ReplicasReadyCondition,
	} {
		c := conditions.Get(*list, t)
		if c == nil {
			conditions.MarkFalse(list, corev1beta1.ReadyCondition, "WaitingFor"+string(t), corev1beta1.ConditionSeverityInfo, "%s is not reported yet", t)
			return
		}
		if c.Status != corev1.ConditionTrue {
			conditions.Set(list, corev1beta1.Condition{
				Type: corev1beta1.ReadyCondition, Status: c.Status, Reason: c.Reason, Severity: c.Severity, Message: c.Message,
			})
			return
		}
	}
	conditions.MarkTrue(list, corev1beta1.ReadyCondition)
}
