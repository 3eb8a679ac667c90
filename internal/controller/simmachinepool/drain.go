package simmachinepool

import (
	"context"

	corev1 "k8s.io/api/core/v1"

	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/drain"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

// drainRetry is how soon a drain that is still waiting is looked at again.
const drainRetry = drain.Retry

// drain drains an instance's Node before the cloud terminates the instance (where no Machine controller does
// it). It says whether the Node is drained, or the drain gave up after the pool's nodeDrainTimeout.
func (r *Reconciler) drain(ctx context.Context, smp *infrav1beta1.SimMachinePool, pool *machinePool, wc *workload.Cluster, node *corev1.Node) (bool, error) {
	if wc == nil || node == nil {
		return true, nil // nothing registered: nothing to drain
	}
	timeout := pool.NodeDrainTimeout
	res, err := drain.Node(ctx, wc, node, drain.Options{Timeout: timeout})
	switch {
	case res.TimedOut:
		r.event(ctx, smp, corev1.EventTypeWarning, "DrainTimeout", "Drain",
			"gave up draining Node %s after nodeDrainTimeout %s: %d Pods left, %d held back by a PodDisruptionBudget", node.Name, timeout, res.Waiting, res.Blocked)
	case res.Done:
		r.event(ctx, smp, corev1.EventTypeNormal, "NodeDrained", "Drain", "drained Node %s", node.Name)
	case res.Blocked > 0:
		r.event(ctx, smp, corev1.EventTypeNormal, "DrainBlocked", "Drain",
			"draining Node %s: %d Pods held back by a PodDisruptionBudget", node.Name, res.Blocked)
	}
	return res.Done, err
}
