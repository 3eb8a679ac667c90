package workload

import "testing"

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
