package simmachinepool

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/cloud"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// inst describes one instance of a table case: its ID, state, whether it is outdated, and its facts.
type inst struct {
	id       string
	state    cloud.State
	outdated bool
	facts    Facts
	changes  time.Time
}

func ready(id string) inst    { return inst{id: id, state: cloud.Running, facts: Facts{NodeReady: true}} }
func stale(id string) inst    { i := ready(id); i.outdated = true; return i }
func notReady(id string) inst { return inst{id: id, state: cloud.Running} }
func booting(id string) inst {
	return inst{id: id, state: cloud.Pending, changes: t0.Add(3 * time.Second)}
}
func failed(id string) inst { return inst{id: id, state: cloud.Terminated} }
func marked(i inst) inst    { i.facts.Marked = true; return i }
func going(i inst) inst     { i.facts.Going = true; return i }
func stopping(id string) inst {
	return inst{id: id, state: cloud.Terminating, changes: t0.Add(time.Second)}
}
func pct(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
func num(n int32) *intstr.IntOrString  { v := intstr.FromInt32(n); return &v }

func strategy(surge, unavailable *intstr.IntOrString, policy infrav1beta1.DeletePolicy) *infrav1beta1.Strategy {
	return &infrav1beta1.Strategy{RollingUpdate: &infrav1beta1.RollingUpdate{MaxSurge: surge, MaxUnavailable: unavailable, DeletePolicy: policy}}
}

func observed(desired int32, s *infrav1beta1.Strategy, machines bool, instances ...inst) Observed {
	o := Observed{Desired: desired, SpecHash: "new", Strategy: s, ThroughMachines: machines, Facts: map[string]Facts{}}
	for _, i := range instances {
		hash := "new"
		if i.outdated {
			hash = "old"
		}
		o.Instances = append(o.Instances, cloud.Instance{ID: i.id, State: i.state, SpecHash: hash, ChangesAt: i.changes})
		o.Facts[i.id] = i.facts
	}
	return o
}

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Observed
		want Plan // ReadyNow and Wait are compared too
	}{
		{"steady: nothing to do", observed(3, nil, false, ready("a"), ready("b"), ready("c")),
			Plan{Capacity: 3, ReadyNow: 3}},
		{"scale up launches the difference", observed(3, nil, false, ready("a")),
			Plan{Capacity: 3, Launch: 2, ReadyNow: 1}},
		{"negative replicas mean zero", observed(-1, nil, false, ready("a")),
			Plan{Capacity: 0, Terminate: []string{"a"}, ReadyNow: 1}},
		{"scale in: oldest first by default", observed(2, nil, false, ready("a"), ready("b"), ready("c"), ready("d")),
			Plan{Capacity: 2, Terminate: []string{"a", "b"}, ReadyNow: 4}},
		{"scale in: Newest", observed(2, strategy(nil, nil, infrav1beta1.DeletePolicyNewest), false, ready("a"), ready("b"), ready("c"), ready("d")),
			Plan{Capacity: 2, Terminate: []string{"d", "c"}, ReadyNow: 4}},
		{"scale in order: Machine being deleted, delete-machine, not Ready, outdated, then policy",
			observed(1, nil, false, ready("a"), stale("b"), booting("c"), marked(ready("d")), going(ready("e")), ready("f")),
			// b is outdated, so the rollout's surge of one still applies: capacity 2.
			Plan{Capacity: 2, Terminate: []string{"e", "d", "c", "b"}, Replace: []string{"b"}, ReadyNow: 4, Wait: t0.Add(3 * time.Second)}},
		{"scale in through Machines deletes Machines", observed(1, nil, true, ready("a"), ready("b")),
			Plan{Capacity: 1, DeleteMachines: []string{"a"}, ReadyNow: 2}},
		{"a never-Ready instance goes before older Ready ones", observed(2, nil, false, ready("a"), ready("b"), notReady("c")),
			Plan{Capacity: 2, Terminate: []string{"c"}, ReadyNow: 2}},
		{"failed launches and terminated instances do not count", observed(3, nil, false, ready("a"), failed("b"), ready("c")),
			Plan{Capacity: 3, Launch: 1, ReadyNow: 2}},
		{"wait: the earliest boot or shutdown", observed(2, nil, false, stopping("x"), booting("a"), ready("b")),
			Plan{Capacity: 2, ReadyNow: 1, Wait: t0.Add(time.Second)}},
		{"rollout, default bounds: surge one first, remove nothing while none spare",
			observed(3, nil, false, stale("a"), stale("b"), stale("c")),
			Plan{Capacity: 4, Launch: 1, ReadyNow: 3}},
		{"rollout, default bounds: the surge is Ready, one outdated goes",
			observed(3, nil, false, stale("a"), stale("b"), stale("c"), ready("d")),
			Plan{Capacity: 4, Terminate: []string{"a"}, Replace: []string{"a"}, ReadyNow: 4}},
		{"rollout: a surge instance still booting holds the rollout",
			observed(3, nil, false, stale("a"), stale("b"), stale("c"), booting("d")),
			Plan{Capacity: 4, ReadyNow: 3, Wait: t0.Add(3 * time.Second)}},
		{"rollout, maxSurge 0 maxUnavailable 1: replace in place, one at a time",
			observed(3, strategy(num(0), num(1), ""), false, stale("a"), stale("b"), stale("c")),
			Plan{Capacity: 3, Terminate: []string{"a"}, Replace: []string{"a"}, ReadyNow: 3}},
		{"rollout, both 0: maxSurge becomes 1 so it progresses",
			observed(2, strategy(num(0), num(0), ""), false, stale("a"), stale("b")),
			Plan{Capacity: 3, Launch: 1, ReadyNow: 2}},
		{"rollout, percentages: surge rounds up (25% of 10 = 3), unavailable rounds down (2)",
			observed(10, strategy(pct("25%"), pct("25%"), ""), false,
				stale("a"), stale("b"), stale("c"), stale("d"), stale("e"), stale("f"), stale("g"), stale("h"), stale("i"), stale("j")),
			Plan{Capacity: 13, Launch: 3, Terminate: []string{"a", "b"}, Replace: []string{"a", "b"}, ReadyNow: 10}},
		{"rollout, surge capped by the outdated count",
			observed(3, strategy(num(3), nil, ""), false, stale("a"), ready("b"), ready("c")),
			Plan{Capacity: 4, Launch: 1, ReadyNow: 3}},
		{"rollout: a delete-machine mark goes first among the outdated",
			observed(2, nil, false, stale("a"), marked(stale("b")), ready("c")),
			Plan{Capacity: 3, Terminate: []string{"b"}, Replace: []string{"b"}, ReadyNow: 3}},
		{"rollout: an outdated instance whose Machine is going counts as unavailable, not as outdated",
			observed(2, nil, true, going(stale("a")), stale("b"), ready("c")),
			Plan{Capacity: 3, ReadyNow: 2}},
		{"scaled to zero while outdated: no surge instance is launched",
			observed(0, nil, false, stale("a"), stale("b")),
			Plan{Capacity: 0, Terminate: []string{"a", "b"}, Replace: []string{"a", "b"}, ReadyNow: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := plan(tc.in)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("plan:\n got  %+v\n want %+v", got, tc.want)
			}
		})
	}
}

func TestPlanRandomPolicyRepeats(t *testing.T) {
	o := observed(1, strategy(nil, nil, infrav1beta1.DeletePolicyRandom), false, ready("a"), ready("b"), ready("c"), ready("d"))
	first := plan(o).Terminate
	if len(first) != 3 {
		t.Fatalf("want 3 victims, got %v", first)
	}
	for range 5 {
		if again := plan(o).Terminate; !slices.Equal(again, first) {
			t.Fatalf("Random must pick the same victims for a retried scale-in: %v vs %v", again, first)
		}
	}
}
