package webhook

import (
	"fmt"
	"strconv"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
)

// autoscalerBounds are the cluster-autoscaler's node-group size annotations of a pool.
type autoscalerBounds struct {
	min, max int32
	// set is true when both annotations are present.
	set bool
	// problem describes why the annotations cannot be used; empty when they can.
	problem string
}

// parseAutoscalerBounds reads the min/max size annotations. The bounds are usable only when both are
// present, both are integers, 0 <= min and min <= max; otherwise problem says what is wrong (when at least
// one of them is present).
func parseAutoscalerBounds(annotations map[string]string) autoscalerBounds {
	minStr, hasMin := annotations[corev1beta1.AutoscalerMinSizeAnnotation]
	maxStr, hasMax := annotations[corev1beta1.AutoscalerMaxSizeAnnotation]
	b := autoscalerBounds{set: hasMin && hasMax}
	switch {
	case !hasMin && !hasMax:
		return b
	case !hasMin:
		b.problem = fmt.Sprintf("annotation %s is set without %s; the cluster-autoscaler needs both",
			corev1beta1.AutoscalerMaxSizeAnnotation, corev1beta1.AutoscalerMinSizeAnnotation)
		return b
	case !hasMax:
		b.problem = fmt.Sprintf("annotation %s is set without %s; the cluster-autoscaler needs both",
			corev1beta1.AutoscalerMinSizeAnnotation, corev1beta1.AutoscalerMaxSizeAnnotation)
		return b
	}
	minV, err := strconv.ParseInt(minStr, 10, 32)
	if err != nil || minV < 0 {
		b.problem = fmt.Sprintf("annotation %s must be a non-negative integer, not %q; the cluster-autoscaler ignores this pool until it is",
			corev1beta1.AutoscalerMinSizeAnnotation, minStr)
		return b
	}
	maxV, err := strconv.ParseInt(maxStr, 10, 32)
	if err != nil || maxV < 0 {
		b.problem = fmt.Sprintf("annotation %s must be a non-negative integer, not %q; the cluster-autoscaler ignores this pool until it is",
			corev1beta1.AutoscalerMaxSizeAnnotation, maxStr)
		return b
	}
	if minV > maxV {
		b.problem = fmt.Sprintf("annotation %s (%d) is greater than %s (%d); the cluster-autoscaler ignores this pool until min <= max",
			corev1beta1.AutoscalerMinSizeAnnotation, minV, corev1beta1.AutoscalerMaxSizeAnnotation, maxV)
		return b
	}
	b.min, b.max = int32(minV), int32(maxV)
	return b
}

// usable says whether the bounds can default and check replicas.
func (b autoscalerBounds) usable() bool { return b.set && b.problem == "" }

// defaultReplicas is the replica count of a pool whose spec.replicas is unset: with usable autoscaler
// bounds, min on create and the old count clamped into [min, max] on update (handing the pool to the
// autoscaler without a jump); otherwise 1.
func defaultReplicas(b autoscalerBounds, old *corev1beta2.MachinePool) int32 {
	if !b.usable() {
		return 1
	}
	if old == nil || old.Spec.Replicas == nil {
		return b.min
	}
	return min(max(*old.Spec.Replicas, b.min), b.max)
}
