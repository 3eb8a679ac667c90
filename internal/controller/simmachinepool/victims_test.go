package simmachinepool

import (
	"testing"

	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/cloud"
)

func TestPickVictims(t *testing.T) {
	c := func(id string, seq int, marked, ready, outdated bool) candidate {
		return candidate{instance: cloud.Instance{ID: id}, seq: seq, marked: marked, ready: ready, outdated: outdated}
	}
	pool := []candidate{
		c("old", 1, false, true, false),
		c("mid", 2, false, true, false),
		c("new", 3, false, true, false),
		c("stale", 4, false, true, true),
		c("booting", 5, false, false, false),
		c("marked", 6, true, true, false),
	}
	ids := func(in []cloud.Instance) []string {
		var out []string
		for _, i := range in {
			out = append(out, i.ID)
		}
		return out
	}
	for _, tc := range []struct {
		policy infrav1beta1.DeletePolicy
		n      int
		want   []string
	}{
		{infrav1beta1.DeletePolicyOldest, 4, []string{"marked", "booting", "stale", "old"}},
		{infrav1beta1.DeletePolicyNewest, 4, []string{"marked", "booting", "stale", "new"}},
		{"", 6, []string{"marked", "booting", "stale", "old", "mid", "new"}},
		{infrav1beta1.DeletePolicyOldest, 1, []string{"marked"}},
	} {
		got := ids(pickVictims(pool, tc.n, tc.policy))
		if len(got) != len(tc.want) {
			t.Fatalf("%s/%d: %v, want %v", tc.policy, tc.n, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s/%d: %v, want %v", tc.policy, tc.n, got, tc.want)
				break
			}
		}
	}
	random1 := ids(pickVictims(pool[:3], 2, infrav1beta1.DeletePolicyRandom))
	random2 := ids(pickVictims(pool[:3], 2, infrav1beta1.DeletePolicyRandom))
	if random1[0] != random2[0] || random1[1] != random2[1] {
		t.Errorf("Random must repeat its choice for a retried scale-in: %v vs %v", random1, random2)
	}
}
