package simmachinepool

import (
	"context"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
	"github.com/machinepool-operator/machinepool-operator/internal/remediation"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

// remediate deletes the Machines of the pool's instances that a MachineHealthCheck marked OwnerRemediated=False,
// within the pool's rollout bounds: what the core machinepool controller does for its pools, done here where
// Cluster API core's MachinePool controller (which does not remediate) owns the MachinePool (Remediate). The
// Machine controller drains the Node and deletes the SimMachinePoolMachine, which terminates the instance; the
// plan then launches its replacement. The SimMachinePool's MachinesHealthy condition and events say what it did.
func (r *Reconciler) remediate(ctx context.Context, smp *infrav1beta1.SimMachinePool, pool *machinePool, wc *workload.Cluster, im *instanceMachines) error {
	if !r.Remediate || !im.served {
		conditions.Delete(&smp.Status.Conditions, corev1beta1.MachinesHealthyCondition)
		return nil
	}
	surge, unavailable := rollingBounds(smp.Spec.Strategy, pool.desiredReplicas())
	p := remediation.Pool{Namespace: smp.Namespace, Name: pool.Name, Budget: int(surge + unavailable)}
	if wc != nil {
		if err := wc.Healthy(); err != nil {
			p.Hold = err.Error()
		}
	}
	machines := make([]capi.Machine, 0, len(im.machines))
	for _, id := range slices.Sorted(maps.Keys(im.machines)) {
		machines = append(machines, *im.machines[id])
	}
	res, err := remediation.Machines(ctx, r.Client, p, machines)
	for _, started := range res.Started {
		r.event(ctx, smp, corev1.EventTypeNormal, remediation.MachineRemediatedReason, "Remediate", "%s", started.Event())
	}
	res.MarkMachinesHealthy(&smp.Status.Conditions, p)
	return err
}
