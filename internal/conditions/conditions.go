// Package conditions sets and reads Cluster API v1beta1 conditions (with severity) on a condition list. A
// condition's lastTransitionTime moves only when its status changes, and the list is kept in a stable order
// (Ready first, then by type) so that re-writing the same state changes nothing.
//
// It imports only the core API package and Kubernetes API machinery.
package conditions

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
)

// Get returns the condition of the given type, or nil.
func Get(list corev1beta1.Conditions, t corev1beta1.ConditionType) *corev1beta1.Condition {
	for i := range list {
		if list[i].Type == t {
			return &list[i]
		}
	}
	return nil
}

// IsTrue says whether the condition of the given type exists with status True.
func IsTrue(list corev1beta1.Conditions, t corev1beta1.ConditionType) bool {
	c := Get(list, t)
	return c != nil && c.Status == corev1.ConditionTrue
}

// Set adds or replaces the condition of c.Type. The existing lastTransitionTime is kept when the status does
// not change; otherwise c.LastTransitionTime is used, or now when it is zero.
func Set(list *corev1beta1.Conditions, c corev1beta1.Condition) {
	if c.Status != corev1.ConditionFalse {
		c.Severity = corev1beta1.ConditionSeverityNone
	}
	if existing := Get(*list, c.Type); existing != nil {
		if existing.Status == c.Status {
			c.LastTransitionTime = existing.LastTransitionTime
		}
		if c.LastTransitionTime.IsZero() {
			c.LastTransitionTime = metav1.Now()
		}
		*existing = c
	} else {
		if c.LastTransitionTime.IsZero() {
			c.LastTransitionTime = metav1.Now()
		}
		*list = append(*list, c)
	}
	sort.SliceStable(*list, func(i, j int) bool { return Less((*list)[i].Type, (*list)[j].Type) })
}

// Less orders condition types as Cluster API lists them: Ready first, then by type.
func Less(a, b corev1beta1.ConditionType) bool {
	if a == corev1beta1.ReadyCondition || b == corev1beta1.ReadyCondition {
		return a == corev1beta1.ReadyCondition && b != corev1beta1.ReadyCondition
	}
	return a < b
}

// MarkTrue sets the condition to True.
func MarkTrue(list *corev1beta1.Conditions, t corev1beta1.ConditionType) {
	Set(list, corev1beta1.Condition{Type: t, Status: corev1.ConditionTrue})
}

// MarkFalse sets the condition to False with a reason, a severity and a message for people.
func MarkFalse(list *corev1beta1.Conditions, t corev1beta1.ConditionType, reason string, severity corev1beta1.ConditionSeverity, format string, args ...any) {
	Set(list, corev1beta1.Condition{Type: t, Status: corev1.ConditionFalse, Reason: reason, Severity: severity, Message: fmt.Sprintf(format, args...)})
}

// MarkUnknown sets the condition to Unknown with a reason and a message.
func MarkUnknown(list *corev1beta1.Conditions, t corev1beta1.ConditionType, reason, format string, args ...any) {
	Set(list, corev1beta1.Condition{Type: t, Status: corev1.ConditionUnknown, Reason: reason, Message: fmt.Sprintf(format, args...)})
}

// Delete removes the condition of the given type.
func Delete(list *corev1beta1.Conditions, t corev1beta1.ConditionType) {
	out := (*list)[:0]
	for _, c := range *list {
		if c.Type != t {
			out = append(out, c)
		}
	}
	*list = out
}
