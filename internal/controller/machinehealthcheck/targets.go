package machinehealthcheck

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
)

// clusterState is what a health check knows of its Cluster and workload cluster when it judges targets.
type clusterState struct {
	// standalone: no Cluster object (Cluster API is not installed, or the health check names no existing
	// Cluster); the cluster counts as initialised once its workload cluster is reachable.
	standalone bool
	// controlPlaneInitialized and infrastructureReady are the Cluster's conditions (nil when not True).
	controlPlaneInitialized, infrastructureReady *metav1.Time
	// reachable: the workload cluster's client is built and its API server answers, so its Nodes are current.
	reachable bool
	// recoveredAt is when the workload cluster last answered again after an outage (zero: no outage seen).
	recoveredAt time.Time
}

// initialized says whether Nodes are judged at all (v1.7.1: the control plane is initialised).
func (c clusterState) initialized() bool { return c.standalone || c.controlPlaneInitialized != nil }

// target is one Machine a health check selects, with its Node (nil when it has none or it is not known).
type target struct {
	machine *capi.Machine
	node    *corev1.Node
	// nodeMissing: the Machine had a Node (status.nodeRef) and the workload cluster no longer has it.
	nodeMissing bool
}

// verdict is needsRemediation's answer for one target.
type verdict struct {
	unhealthy bool
	// judged is false when the target's health could not be told (its cluster is not initialised or not
	// reachable, or it is being deleted): it counts as neither healthy nor unhealthy, and keeps its marks.
	judged bool
	// reason and message explain an unhealthy verdict (HealthCheckSucceeded=False).
	reason, message string
	// next is when the target should be judged again (0: only on a change).
	next time.Duration
}

// needsRemediation judges a target in Cluster API v1.7.1's order: the remediate-machine annotation, a failure
// reason or message, a Node that is gone, no Node after nodeStartupTimeout, then the unhealthy conditions. Only
// the first three are judged while the workload cluster is unreachable. Two rules are ours: without a Cluster
// the cluster counts as initialised once it is reachable, and after an outage of the workload cluster (the
// tracker's health probe failed) a Node's condition and a missing Node's startup are timed from no earlier than
// the recovery, because what was cached meanwhile may be stale.
func needsRemediation(t target, hc *capi.MachineHealthCheck, cluster clusterState, now time.Time) verdict {
	m := t.machine
	if _, ok := m.Annotations[capi.RemediateMachineAnnotation]; ok {
		return verdict{unhealthy: true, judged: true, reason: capi.HasRemediateMachineAnnotationReason,
			message: "Marked for remediation via remediate-machine annotation"}
	}
	if r := m.Status.FailureReason; r != nil {
		return verdict{unhealthy: true, judged: true, reason: capi.MachineHasFailureReason, message: "FailureReason: " + *r}
	}
	if msg := m.Status.FailureMessage; msg != nil {
		return verdict{unhealthy: true, judged: true, reason: capi.MachineHasFailureReason, message: "FailureMessage: " + *msg}
	}
	if !cluster.initialized() || !cluster.reachable {
		return verdict{}
	}
	if t.nodeMissing {
		return verdict{unhealthy: true, judged: true, reason: capi.NodeNotFoundReason,
			message: fmt.Sprintf("Node %s is gone from the workload cluster", m.Status.NodeRef.Name)}
	}
	if !cluster.standalone && cluster.infrastructureReady == nil {
		return verdict{}
	}
	if t.node == nil {
		timeout := nodeStartupTimeout(hc)
		if timeout == 0 {
			return verdict{} // disabled: a Machine without a Node is neither healthy nor unhealthy
		}
		since := latest(m.CreationTimestamp.Time, cluster.recoveredAt)
		for _, c := range []*metav1.Time{cluster.controlPlaneInitialized, cluster.infrastructureReady} {
			if c != nil {
				since = latest(since, c.Time)
			}
		}
		if elapsed := now.Sub(since); elapsed > timeout {
			return verdict{unhealthy: true, judged: true, reason: capi.NodeStartupTimeoutReason,
				message: fmt.Sprintf("Node failed to report startup in %s", timeout)}
		} else {
			return verdict{judged: false, next: timeout - elapsed + time.Second}
		}
	}
	var next time.Duration
	for _, uc := range hc.Spec.UnhealthyConditions {
		nc := nodeCondition(t.node, uc.Type)
		if nc == nil || nc.Status != uc.Status {
			continue
		}
		elapsed := now.Sub(latest(nc.LastTransitionTime.Time, cluster.recoveredAt))
		if elapsed > uc.Timeout.Duration {
			return verdict{unhealthy: true, judged: true, reason: capi.UnhealthyNodeConditionReason,
				message: fmt.Sprintf("Condition %s on node is reporting status %s for more than %s", uc.Type, uc.Status, uc.Timeout.Duration)}
		}
		if d := uc.Timeout.Duration - elapsed + time.Second; next == 0 || d < next {
			next = d
		}
	}
	if next > 0 {
		// Pending on a condition: not healthy yet, as in v1.7.1 (it counts against maxUnhealthy).
		return verdict{judged: false, next: next}
	}
	return verdict{judged: true}
}

func nodeStartupTimeout(hc *capi.MachineHealthCheck) time.Duration {
	if d := hc.Spec.NodeStartupTimeout; d != nil {
		return max(d.Duration, 0)
	}
	return capi.DefaultNodeStartupTimeout
}

func nodeCondition(n *corev1.Node, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == t {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// remediationAllowed applies maxUnhealthy, or unhealthyRange when set, to the number of targets that are not
// healthy; it returns whether remediation may go on and how many more targets could become unhealthy first.
func remediationAllowed(hc *capi.MachineHealthCheck, expected, unhealthy int) (bool, int32, error) {
	if r := hc.Spec.UnhealthyRange; r != nil {
		lo, hi, err := capi.ParseUnhealthyRange(*r)
		if err != nil {
			return false, 0, fmt.Errorf("spec.unhealthyRange %q: %w", *r, err)
		}
		return unhealthy >= lo && unhealthy <= hi, int32(max(hi-unhealthy, 0)), nil //nolint:gosec // bounded by capi.ParseUnhealthyRange
	}
	limit, err := capi.MaxUnhealthy(hc.Spec.MaxUnhealthy, expected)
	if err != nil {
		return false, 0, err
	}
	return unhealthy <= limit, int32(max(limit-unhealthy, 0)), nil //nolint:gosec // a count of Machines
}

// skipped says whether a Machine opts out of health checks (paused or skip-remediation annotations).
func skipped(m *capi.Machine) bool {
	_, paused := m.Annotations[corev1beta1.PausedAnnotation]
	_, skip := m.Annotations[capi.SkipRemediationAnnotation]
	return paused || skip
}
