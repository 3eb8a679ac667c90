package webhook

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
)

func bounds(minSize, maxSize *string) map[string]string {
	a := map[string]string{}
	if minSize != nil {
		a[corev1beta1.AutoscalerMinSizeAnnotation] = *minSize
	}
	if maxSize != nil {
		a[corev1beta1.AutoscalerMaxSizeAnnotation] = *maxSize
	}
	return a
}

func TestDefaultReplicas(t *testing.T) {
	pool := func(r *int32) *corev1beta2.MachinePool {
		return &corev1beta2.MachinePool{Spec: corev1beta2.MachinePoolSpec{Replicas: r}}
	}
	for _, tc := range []struct {
		name     string
		min, max *string
		old      *corev1beta2.MachinePool
		want     int32
	}{
		{name: "no annotations", want: 1},
		{name: "create takes min", min: ptr.To("3"), max: ptr.To("8"), want: 3},
		{name: "create with min 0", min: ptr.To("0"), max: ptr.To("8"), want: 0},
		{name: "update below min", min: ptr.To("3"), max: ptr.To("8"), old: pool(ptr.To[int32](1)), want: 3},
		{name: "update in range", min: ptr.To("3"), max: ptr.To("8"), old: pool(ptr.To[int32](5)), want: 5},
		{name: "update above max", min: ptr.To("3"), max: ptr.To("8"), old: pool(ptr.To[int32](20)), want: 8},
		{name: "update of a pool without replicas", min: ptr.To("3"), max: ptr.To("8"), old: pool(nil), want: 3},
		{name: "only min", min: ptr.To("3"), want: 1},
		{name: "only max", max: ptr.To("3"), want: 1},
		{name: "not an integer", min: ptr.To("three"), max: ptr.To("8"), want: 1},
		{name: "negative", min: ptr.To("-1"), max: ptr.To("8"), want: 1},
		{name: "min above max", min: ptr.To("9"), max: ptr.To("8"), old: pool(ptr.To[int32](5)), want: 1},
		{name: "overflows int32", min: ptr.To("1"), max: ptr.To("99999999999"), want: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := defaultReplicas(parseAutoscalerBounds(bounds(tc.min, tc.max)), tc.old); got != tc.want {
				t.Errorf("defaultReplicas = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestAutoscalerBoundsProblem(t *testing.T) {
	for _, tc := range []struct {
		name     string
		min, max *string
		problem  bool
	}{
		{name: "none"},
		{name: "both valid", min: ptr.To("1"), max: ptr.To("1")},
		{name: "only one", min: ptr.To("1"), problem: true},
		{name: "not integers", min: ptr.To("1"), max: ptr.To("1.5"), problem: true},
		{name: "min above max", min: ptr.To("2"), max: ptr.To("1"), problem: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseAutoscalerBounds(bounds(tc.min, tc.max)).problem != ""; got != tc.problem {
				t.Errorf("problem reported = %v, want %v", got, tc.problem)
			}
		})
	}
}

func TestValidateIntOrPercent(t *testing.T) {
	for _, tc := range []struct {
		in     intstr.IntOrString
		capped bool
		want   int
		bad    bool
	}{
		{in: intstr.FromInt32(3), want: 3},
		{in: intstr.FromString("25%"), want: 25},
		{in: intstr.FromString("200%"), want: 200},
		{in: intstr.FromString("200%"), capped: true, bad: true},
		{in: intstr.FromString("25"), bad: true},
		{in: intstr.FromString("-5%"), bad: true},
		{in: intstr.FromInt32(-1), bad: true},
	} {
		got, errs := validateIntOrPercent(&tc.in, field.NewPath("x"), tc.capped)
		if (len(errs) > 0) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("validateIntOrPercent(%s, capped=%v) = %d, %v; want %d, bad=%v", tc.in.String(), tc.capped, got, errs, tc.want, tc.bad)
		}
	}
}
