package sim

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
)

// loadState reads the group's persisted state and its version from the store.
func loadState(t *testing.T, store Store) (*groupState, string) {
	t.Helper()
	state, version, err := store.Load(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	return state, version
}

func TestFaultFirstSeenIsRecordedAndKept(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	store := newMemoryStore()
	c := New(store, WithClock(clk.now))
	if err := c.EnsureGroup(ctx, spec(2, "")); err != nil {
		t.Fatal(err)
	}
	if state, _ := loadState(t, store); state.FaultStarts != nil {
		t.Fatalf("no faults, yet starts were recorded: %v", state.FaultStarts)
	}

	clk.advance(time.Minute)
	seen := clk.now()
	stopped := `{"faults": [{"type": "KubeletStopped", "instances": ["b-2", "a-1"]}, {"type": "NotReady", "startTime": "2026-11-26T13:00:00Z"}]}`
	if err := c.EnsureGroup(ctx, spec(2, stopped)); err != nil {
		t.Fatal(err)
	}
	state, version := loadState(t, store)
	want := map[string]time.Time{"KubeletStopped:a-1,b-2": seen}
	if len(state.FaultStarts) != 1 || !state.FaultStarts["KubeletStopped:a-1,b-2"].Equal(seen) {
		t.Fatalf("FaultStarts = %v, want %v (a fault with a startTime records none)", state.FaultStarts, want)
	}

	// Later calls, and a restarted cloud on the same store, keep the first-seen time and write nothing.
	clk.advance(time.Minute)
	if err := c.EnsureGroup(ctx, spec(2, stopped)); err != nil {
		t.Fatal(err)
	}
	if err := New(store, WithClock(clk.now)).EnsureGroup(ctx, spec(2, stopped)); err != nil {
		t.Fatal(err)
	}
	if again, v := loadState(t, store); v != version || !again.FaultStarts["KubeletStopped:a-1,b-2"].Equal(seen) {
		t.Fatalf("after more EnsureGroup calls: version %s (was %s), starts %v; want the first-seen time kept and no write", v, version, again.FaultStarts)
	}
	// The instances' order does not make it another fault.
	reordered := `{"faults": [{"type": "KubeletStopped", "instances": ["a-1", "b-2"]}, {"type": "NotReady", "startTime": "2026-11-26T13:00:00Z"}]}`
	if err := c.EnsureGroup(ctx, spec(2, reordered)); err != nil {
		t.Fatal(err)
	}
	if again, _ := loadState(t, store); !again.FaultStarts["KubeletStopped:a-1,b-2"].Equal(seen) {
		t.Fatalf("reordering the instances restarted the fault: %v", again.FaultStarts)
	}

	// Removing the fault forgets it; adding it again starts it anew.
	if err := c.EnsureGroup(ctx, spec(2, `{"bootDelay": "1s"}`)); err != nil {
		t.Fatal(err)
	}
	if state, _ := loadState(t, store); state.FaultStarts != nil {
		t.Fatalf("a removed fault is still recorded: %v", state.FaultStarts)
	}
	clk.advance(time.Minute)
	if err := c.EnsureGroup(ctx, spec(2, stopped)); err != nil {
		t.Fatal(err)
	}
	if state, _ := loadState(t, store); !state.FaultStarts["KubeletStopped:a-1,b-2"].Equal(clk.now()) {
		t.Fatalf("a fault added again starts when it is seen again: %v, want %s", state.FaultStarts, clk.now())
	}
}

func TestFaultsOf(t *testing.T) {
	clk := newClock()
	start := clk.now()
	s := &groupState{FaultStarts: map[string]time.Time{"KubeletStopped:i-1,i-2": start, "NeverRegisters:*": start.Add(time.Hour)}}
	s.Config.Faults = []infrav1beta1.SimulatedFault{
		{Type: infrav1beta1.SimulatedFaultKubeletStopped, Instances: []string{"i-2", "i-1"}},
		{Type: infrav1beta1.SimulatedFaultNotReady, Instances: []string{"i-3"}, StartTime: &metav1.Time{Time: start.Add(time.Minute)}},
		{Type: infrav1beta1.SimulatedFaultNeverRegisters},
		// Recorded by no EnsureGroup: ignored.
		{Type: infrav1beta1.SimulatedFaultNotReady, Instances: []string{"i-1"}},
	}

	// Before the start nothing hits; the next change is the start.
	got, next := s.faultsOf("i-1", start.Add(-time.Second))
	if got != (InstanceFaults{}) || !next.Equal(start) {
		t.Fatalf("before the start: %+v, next %s; want none, next at the start", got, next)
	}
	// From the start the kubelet is stopped; with the default grace its Node turns Unknown 40s later.
	got, next = s.faultsOf("i-1", start)
	if !got.KubeletStoppedAt.Equal(start) || !got.UnknownAt.Equal(start.Add(40*time.Second)) || got.NotReady || got.NeverRegisters {
		t.Fatalf("at the start: %+v", got)
	}
	if !next.Equal(start.Add(40 * time.Second)) {
		t.Fatalf("next change %s, want the end of the default 40s grace", next)
	}
	if other, _ := s.faultsOf("i-2", start.Add(time.Second)); !other.UnknownAt.Equal(got.UnknownAt) {
		t.Fatalf("two instances of one fault turn Unknown at different times: %s and %s", other.UnknownAt, got.UnknownAt)
	}
	// After the grace: nothing ahead until the pool-wide NeverRegisters starts.
	if _, next = s.faultsOf("i-1", start.Add(time.Minute)); !next.Equal(start.Add(time.Hour)) {
		t.Fatalf("next change %s, want the NeverRegisters start", next)
	}
	// An instance not listed is hit only by the pool-wide fault.
	got, next = s.faultsOf("i-3", start)
	if got != (InstanceFaults{}) || !next.Equal(start.Add(time.Minute)) {
		t.Fatalf("i-3 at the start: %+v, next %s; want none yet, next at its NotReady start", got, next)
	}
	if got, _ = s.faultsOf("i-3", start.Add(2*time.Hour)); !got.NotReady || !got.NeverRegisters || !got.KubeletStoppedAt.IsZero() {
		t.Fatalf("i-3 later: %+v, want NotReady and NeverRegisters only", got)
	}
	if got, _ = s.faultsOf("i-9", start.Add(2*time.Hour)); !got.NeverRegisters || got.NotReady {
		t.Fatalf("a future instance: %+v, want the pool-wide NeverRegisters only", got)
	}

	// A custom grace period.
	s.Config.NodeMonitorGracePeriod = &metav1.Duration{Duration: 2 * time.Second}
	if got, _ = s.faultsOf("i-1", start); !got.UnknownAt.Equal(start.Add(2 * time.Second)) {
		t.Fatalf("UnknownAt = %s, want the start plus the configured 2s", got.UnknownAt)
	}
}

func TestFaultKey(t *testing.T) {
	for _, tc := range []struct {
		fault infrav1beta1.SimulatedFault
		want  string
	}{
		{infrav1beta1.SimulatedFault{Type: infrav1beta1.SimulatedFaultNotReady}, "NotReady:*"},
		{infrav1beta1.SimulatedFault{Type: infrav1beta1.SimulatedFaultKubeletStopped, Instances: []string{"b-1", "a-2", "b-1"}}, "KubeletStopped:a-2,b-1"},
	} {
		if got := faultKey(tc.fault); got != tc.want {
			t.Errorf("faultKey(%+v) = %q, want %q", tc.fault, got, tc.want)
		}
	}
}
