package conditions

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
)

func TestSetKeepsTransitionTimeWhileStatusHolds(t *testing.T) {
	var list corev1beta1.Conditions
	past := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	Set(&list, corev1beta1.Condition{Type: corev1beta1.BootstrapReadyCondition, Status: corev1.ConditionFalse, LastTransitionTime: past})

	MarkFalse(&list, corev1beta1.BootstrapReadyCondition, "Waiting", corev1beta1.ConditionSeverityInfo, "still %s", "waiting")
	c := Get(list, corev1beta1.BootstrapReadyCondition)
	if !c.LastTransitionTime.Equal(&past) || c.Message != "still waiting" || c.Severity != corev1beta1.ConditionSeverityInfo {
		t.Fatalf("same status must keep the transition time and update the rest: %+v", c)
	}

	MarkTrue(&list, corev1beta1.BootstrapReadyCondition)
	c = Get(list, corev1beta1.BootstrapReadyCondition)
	if c.LastTransitionTime.Equal(&past) || c.Severity != "" || !IsTrue(list, corev1beta1.BootstrapReadyCondition) {
		t.Fatalf("a status change must move the transition time and clear the severity: %+v", c)
	}
}

func TestOrderIsReadyFirstThenByType(t *testing.T) {
	var list corev1beta1.Conditions
	for _, ct := range []corev1beta1.ConditionType{"ReplicasReady", "BootstrapReady", "Ready", "InfrastructureReady"} {
		MarkTrue(&list, ct)
	}
	var got []corev1beta1.ConditionType
	for _, c := range list {
		got = append(got, c.Type)
	}
	want := []corev1beta1.ConditionType{"Ready", "BootstrapReady", "InfrastructureReady", "ReplicasReady"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order = %v, want %v", got, want)
		}
	}
	Delete(&list, "BootstrapReady")
	if Get(list, "BootstrapReady") != nil || len(list) != 3 {
		t.Fatalf("Delete left %v", list)
	}
}
