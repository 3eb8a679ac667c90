package machinepool

import (
	"testing"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
)

func TestComputePhase(t *testing.T) {
	ready := phaseInputs{bootstrapReady: true, infraReady: true}
	with := func(f func(*phaseInputs)) phaseInputs { in := ready; f(&in); return in }
	for _, tc := range []struct {
		name string
		in   phaseInputs
		want corev1beta1.MachinePoolPhase
	}{
		{"new pool", phaseInputs{desired: 3}, corev1beta1.MachinePoolPhasePending},
		{"waiting for the Cluster", phaseInputs{waitingForCluster: true, bootstrapReady: true}, corev1beta1.MachinePoolPhasePending},
		{"bootstrap ready, infrastructure not", phaseInputs{bootstrapReady: true, desired: 3}, corev1beta1.MachinePoolPhaseProvisioning},
		{"infrastructure ready, no Node yet", with(func(in *phaseInputs) { in.desired, in.replicas = 3, 3 }), corev1beta1.MachinePoolPhaseProvisioned},
		{"all Ready", with(func(in *phaseInputs) { in.desired, in.replicas, in.ready, in.nodeRefs = 3, 3, 3, 3 }), corev1beta1.MachinePoolPhaseRunning},
		{"zero replicas", with(func(in *phaseInputs) {}), corev1beta1.MachinePoolPhaseRunning},
		{"scaling up", with(func(in *phaseInputs) { in.desired, in.replicas, in.ready, in.nodeRefs = 5, 3, 3, 3 }), corev1beta1.MachinePoolPhaseScalingUp},
		{"instances launched, Nodes not Ready", with(func(in *phaseInputs) { in.desired, in.replicas, in.ready, in.nodeRefs = 5, 5, 3, 5 }), corev1beta1.MachinePoolPhaseScalingUp},
		{"scaling down", with(func(in *phaseInputs) { in.desired, in.replicas, in.ready, in.nodeRefs = 2, 5, 5, 5 }), corev1beta1.MachinePoolPhaseScalingDown},
		{"scaled to zero, instances terminating", with(func(in *phaseInputs) { in.replicas, in.ready, in.nodeRefs = 2, 2, 2 }), corev1beta1.MachinePoolPhaseScalingDown},
		{"autoscaler owns replicas", with(func(in *phaseInputs) {
			in.desired, in.replicas, in.ready, in.nodeRefs, in.externallyScaled = 5, 3, 3, 3, true
		}), corev1beta1.MachinePoolPhaseScaling},
		{"autoscaler owns replicas, converged", with(func(in *phaseInputs) {
			in.desired, in.replicas, in.ready, in.nodeRefs, in.externallyScaled = 3, 3, 3, 3, true
		}), corev1beta1.MachinePoolPhaseRunning},
		{"failed", with(func(in *phaseInputs) { in.failed = true }), corev1beta1.MachinePoolPhaseFailed},
		{"deleting wins over failed", with(func(in *phaseInputs) { in.failed, in.deleting = true, true }), corev1beta1.MachinePoolPhaseDeleting},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := computePhase(tc.in); got != tc.want {
				t.Errorf("computePhase(%+v) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}
