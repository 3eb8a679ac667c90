package v1beta1

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestFormatLabelValue(t *testing.T) {
	long := strings.Repeat("a", 70)
	for in, want := range map[string]string{
		"pool-1": "pool-1",
		"":       "",
		// fnv32a("a"*70) = 0x5904740b, base64url without padding: WQR0Cw (computed independently).
		long:       "hash_WQR0Cw_z",
		"-leading": "", // checked for validity below
	} {
		got := FormatLabelValue(in)
		if want != "" && got != want {
			t.Errorf("FormatLabelValue(%q) = %q, want %q", in, got, want)
		}
		if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
			t.Errorf("FormatLabelValue(%q) = %q is not a label value: %v", in, got, errs)
		}
	}
	if got := MachinePoolSelector("demo", long); got != "cluster.x-k8s.io/cluster-name=demo,cluster.x-k8s.io/pool-name=hash_WQR0Cw_z" {
		t.Errorf("MachinePoolSelector = %q", got)
	}
}
