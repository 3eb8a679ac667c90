package workload

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
)

func TestProviderIDKeys(t *testing.T) {
	for _, tc := range []struct {
		id, full, instance string
	}{
		{"aws:///us-east-1a/i-123", "aws://us-east-1a/i-123", "aws://i-123"},
		{"aws:////i-123", "aws://i-123", "aws://i-123"},
		{"AWS:///us-east-1a/i-123/", "aws://us-east-1a/i-123", "aws://i-123"},
		{"sim://local/pool-a/abc123-1", "sim://local/pool-a/abc123-1", "sim://abc123-1"},
		{"azure:///subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachineScaleSets/vmss/virtualMachines/0",
			"azure://subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachineScaleSets/vmss/virtualMachines/0", "azure://0"},
		{"docker:////my-cluster-worker-abc", "docker://my-cluster-worker-abc", "docker://my-cluster-worker-abc"},
		{"", "", ""},
		{"aws://", "", ""},
		{"i-123", "://i-123", "://i-123"},
	} {
		if got := FullKey(tc.id); got != tc.full {
			t.Errorf("FullKey(%q) = %q, want %q", tc.id, got, tc.full)
		}
		if got := InstanceKey(tc.id); got != tc.instance {
			t.Errorf("InstanceKey(%q) = %q, want %q", tc.id, got, tc.instance)
		}
	}
}

func TestSameInstance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"aws:///us-east-1a/i-123", "aws:////i-123", true},
		{"aws:///us-east-1a/i-123", "AWS:///us-east-1a/i-123/", true},
		{"aws:///us-east-1a/i-123", "aws:///us-east-1a/i-124", false},
		{"aws:///us-east-1a/i-123", "gce:///us-east-1a/i-123", false},
		{"aws:///us-east-1a/i-123", "aws:///us-east-1a/I-123", false},
		{"aws:///us-east-1a/i-123", "aws:///us-east-1b/i-123", false},
		{"azure:///subscriptions/s/vmss/a/virtualMachines/0", "azure:///subscriptions/s/vmss/b/virtualMachines/0", false},
		{"azure:///subscriptions/s/vmss/a/virtualMachines/0", "azure:///subscriptions/s/vmss/a/virtualMachines/0/", true},
		{"generic:///ns-1/pool/i-0", "generic:///ns-2/pool/i-0", false},
		{"", "", false},
	} {
		if got := SameInstance(tc.a, tc.b); got != tc.want {
			t.Errorf("SameInstance(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestChangedForPools(t *testing.T) {
	base := func() *corev1.Node {
		return &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "n", Annotations: map[string]string{corev1beta1.OwnerNameAnnotation: "pool"}},
			Spec:       corev1.NodeSpec{ProviderID: "sim://r/g/i-1"},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{
				Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Unix(100, 0), LastHeartbeatTime: metav1.Unix(100, 0),
			}}},
		}
	}
	for _, tc := range []struct {
		name   string
		change func(*corev1.Node)
		want   bool
	}{
		{"heartbeat only", func(n *corev1.Node) { n.Status.Conditions[0].LastHeartbeatTime = metav1.Unix(200, 0) }, false},
		{"unrelated label", func(n *corev1.Node) { n.Labels = map[string]string{"x": "y"} }, false},
		{"became NotReady", func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }, true},
		{"Ready again, later", func(n *corev1.Node) { n.Status.Conditions[0].LastTransitionTime = metav1.Unix(300, 0) }, true},
		{"reason and message only", func(n *corev1.Node) { n.Status.Conditions[0].Reason, n.Status.Conditions[0].Message = "R", "M" }, false},
		{"memory pressure appeared", func(n *corev1.Node) {
			n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue})
		}, true},
		{"provider ID set", func(n *corev1.Node) { n.Spec.ProviderID = "sim://r/g/i-2" }, true},
		{"taint removed", func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}} }, true},
		{"owner annotation changed", func(n *corev1.Node) { n.Annotations[corev1beta1.OwnerNameAnnotation] = "other" }, true},
		{"being deleted", func(n *corev1.Node) { now := metav1.Now(); n.DeletionTimestamp = &now }, true},
	} {
		n := base()
		tc.change(n)
		if got := changedForPools(base(), n); got != tc.want {
			t.Errorf("%s: changedForPools = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestInstanceSetAgreesWithSameInstance(t *testing.T) {
	ids := []string{
		"aws:///us-east-1a/i-123", "aws:////i-456", "AWS:///us-east-1b/i-789/", "sim://local/pool-a/abc-1",
		"azure:///subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachineScaleSets/a/virtualMachines/0",
		"aws://", "", "i-123",
	}
	probes := append([]string{
		"aws:////i-123", "aws:///us-east-1b/i-123", "aws:///us-east-1a/i-456", "aws:///x/i-789", "gce:///i-123",
		"azure:///subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachineScaleSets/b/virtualMachines/0",
		"sim://abc-1", "sim://local/pool-b/abc-1", "aws://", "",
	}, ids...)
	set := NewInstanceSet(ids)
	for _, p := range probes {
		want := false
		for _, id := range ids {
			want = want || SameInstance(id, p)
		}
		if got := set.Has(p); got != want {
			t.Errorf("Has(%q) = %v, SameInstance over the list says %v", p, got, want)
		}
	}
}
