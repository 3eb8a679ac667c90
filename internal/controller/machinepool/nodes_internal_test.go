package machinepool

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestCountReplicas(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	node := func(status corev1.ConditionStatus, readyFor time.Duration) *corev1.Node {
		return &corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
			{Type: corev1.NodeReady, Status: status, LastTransitionTime: metav1.NewTime(now.Add(-readyFor))},
		}}}
	}
	for _, tc := range []struct {
		name             string
		nodes            []*corev1.Node
		minReady         time.Duration
		ready, available int32
		wait             time.Duration
	}{
		{name: "no Nodes"},
		{name: "Ready counts as available without minReadySeconds",
			nodes: []*corev1.Node{node(corev1.ConditionTrue, 0)}, ready: 1, available: 1},
		{name: "not Ready or Unknown counts for nothing",
			nodes: []*corev1.Node{node(corev1.ConditionFalse, time.Hour), node(corev1.ConditionUnknown, time.Hour)}},
		{name: "a Node without a Ready condition counts for nothing", nodes: []*corev1.Node{{}}},
		{name: "Ready for less than minReadySeconds: wait for the rest",
			nodes: []*corev1.Node{node(corev1.ConditionTrue, 10*time.Second)}, minReady: 30 * time.Second,
			ready: 1, wait: 20 * time.Second},
		{name: "the soonest of several waits",
			nodes:    []*corev1.Node{node(corev1.ConditionTrue, 10*time.Second), node(corev1.ConditionTrue, 25*time.Second), node(corev1.ConditionTrue, time.Minute)},
			minReady: 30 * time.Second, ready: 3, available: 1, wait: 5 * time.Second},
		{name: "exactly minReadySeconds is available",
			nodes: []*corev1.Node{node(corev1.ConditionTrue, 30*time.Second)}, minReady: 30 * time.Second, ready: 1, available: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ready, available, wait := countReplicas(tc.nodes, tc.minReady, now)
			if ready != tc.ready || available != tc.available || wait != tc.wait {
				t.Errorf("countReplicas = %d ready, %d available, wait %s; want %d, %d, %s", ready, available, wait, tc.ready, tc.available, tc.wait)
			}
		})
	}
}
