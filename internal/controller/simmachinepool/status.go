package simmachinepool

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/cloud"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
)

// publishCapacity writes what one instance offers, for the cluster-autoscaler to scale the pool from zero.
func publishCapacity(smp *infrav1beta1.SimMachinePool, t cloud.InstanceType) {
	smp.Status.Capacity = t.Capacity
	smp.Status.NodeInfo = &infrav1beta1.NodeInfo{Architecture: t.Architecture, OperatingSystem: t.OperatingSystem}
}

// writeStatus reports the group through the InfraMachinePool contract: running instances in
// spec.providerIDList (launch order), status.replicas = their number, readiness in both contract forms.
func writeStatus(smp *infrav1beta1.SimMachinePool, desired int32, specHash string, instances []cloud.Instance, nodes map[string]*corev1.Node, blocked *corev1beta1.Condition) {
	ids := []string{}
	var ready, upToDate int32
	var view []infrav1beta1.Instance
	for _, in := range instances {
		nodeIsReady := nodeReady(nodes[in.ID])
		if in.State == cloud.Running {
			ids = append(ids, in.ProviderID)
			if nodeIsReady {
				ready++
			}
			if in.SpecHash == specHash {
				upToDate++
			}
		}
		view = append(view, infrav1beta1.Instance{
			ID: in.ID, ProviderID: in.ProviderID, State: infrav1beta1.InstanceState(in.State), Ready: in.State == cloud.Running && nodeIsReady,
			SpecHash: in.SpecHash, FailureDomain: in.FailureDomain, Reason: in.Reason,
		})
	}
	smp.Spec.ProviderIDList = ids
	smp.Status.Replicas = int32(len(ids)) //nolint:gosec // a group holds far fewer than 2^31 instances
	smp.Status.ReadyReplicas = ready
	smp.Status.UpToDateReplicas = &upToDate
	smp.Status.Instances = view
	smp.Status.Ready = true
	smp.Status.Initialization = &infrav1beta1.Initialization{Provisioned: &smp.Status.Ready}

	switch {
	case blocked != nil:
		conditions.MarkFalse(&smp.Status.Conditions, InstancesReadyCondition, blocked.Reason, blocked.Severity, "%s", blocked.Message)
	default:
		if ready == desired && smp.Status.Replicas == desired {
			conditions.MarkTrue(&smp.Status.Conditions, InstancesReadyCondition)
		} else {
			conditions.MarkFalse(&smp.Status.Conditions, InstancesReadyCondition, InstancesNotReadyReason, corev1beta1.ConditionSeverityInfo,
				"%d of %d instances running with a Ready Node", ready, desired)
		}
	}
	summary := conditions.Get(smp.Status.Conditions, InstancesReadyCondition)
	if summary.Status == corev1.ConditionTrue {
		conditions.MarkTrue(&smp.Status.Conditions, corev1beta1.ReadyCondition)
	} else {
		conditions.Set(&smp.Status.Conditions, corev1beta1.Condition{Type: corev1beta1.ReadyCondition, Status: summary.Status,
			Reason: summary.Reason, Severity: summary.Severity, Message: fmt.Sprint(summary.Message)})
	}
}
