package sim

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/machinepool-operator/machinepool-operator/internal/cloud"
)

// memoryStore keeps groups in memory with versions, for the simulated cloud's unit tests; the ConfigMap store
// it stands in for is tested against a real API server in store_test.go.
type memoryStore struct {
	mu     sync.Mutex
	groups map[cloud.GroupRef]memoryEntry
}

type memoryEntry struct {
	raw     []byte
	version int
}

func newMemoryStore() *memoryStore { return &memoryStore{groups: map[cloud.GroupRef]memoryEntry{}} }

func (m *memoryStore) Load(_ context.Context, g cloud.GroupRef) (*groupState, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.groups[g]
	if !ok {
		return nil, "", cloud.ErrGroupNotFound
	}
	s := &groupState{}
	if err := json.Unmarshal(e.raw, s); err != nil {
		return nil, "", err
	}
	return s, strconv.Itoa(e.version), nil
}

func (m *memoryStore) Save(_ context.Context, g cloud.GroupRef, s *groupState, version string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.groups[g]
	if (version == "" && ok) || (version != "" && (!ok || strconv.Itoa(e.version) != version)) {
		return errors.New("conflict")
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	m.groups[g] = memoryEntry{raw: raw, version: e.version + 1}
	return nil
}

func (m *memoryStore) Delete(_ context.Context, g cloud.GroupRef) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.groups, g)
	return nil
}

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)} }

var group = cloud.GroupRef{Namespace: "team-a", Name: "workers"}

// spec is a group spec; config is the pool's spec.simulation as JSON ("" for none).
func spec(desired int32, config string) cloud.GroupSpec {
	return cloud.GroupSpec{Ref: group, Region: "local", Desired: desired, ProviderConfig: []byte(config),
		Launch: cloud.LaunchConfig{BootstrapSecret: "data", Version: "v1.30.0", InstanceType: "sim.small", SpecHash: "h1", FailureDomains: []string{"a", "b"}}}
}

// withRef moves a spec to another group.
func withRef(s cloud.GroupSpec, ref cloud.GroupRef) cloud.GroupSpec { s.Ref = ref; return s }

func states(t *testing.T, c *Cloud) map[cloud.State]int {
	t.Helper()
	instances, err := c.Instances(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	out := map[cloud.State]int{}
	for _, in := range instances {
		out[in.State]++
	}
	return out
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	c := New(newMemoryStore(), WithClock(clk.now))
	if _, err := c.Instances(ctx, group); !errors.Is(err, cloud.ErrGroupNotFound) {
		t.Fatalf("Instances of a missing group = %v, want ErrGroupNotFound", err)
	}
	if err := c.EnsureGroup(ctx, spec(2, "")); err != nil {
		t.Fatal(err)
	}
	if got := states(t, c); got[cloud.Pending] != 2 {
		t.Fatalf("after launch: %v, want 2 pending", got)
	}
	if booting, _ := c.Instances(ctx, group); !booting[0].ChangesAt.Equal(clk.now().Add(defaultBootDelay)) {
		t.Errorf("ChangesAt = %s, want the end of the boot delay", booting[0].ChangesAt)
	}
	clk.advance(defaultBootDelay)
	instances, _ := c.Instances(ctx, group)
	if got := states(t, c); got[cloud.Running] != 2 {
		t.Fatalf("after the boot delay: %v, want 2 running", got)
	}
	if instances[0].ProviderID != "sim://local/workers/"+instances[0].ID || instances[0].FailureDomain != "a" || instances[1].FailureDomain != "b" {
		t.Errorf("instances = %+v", instances)
	}

	if err := c.Terminate(ctx, group, instances[0].ID); err != nil {
		t.Fatal(err)
	}
	if got := states(t, c); got[cloud.Terminating] != 1 || got[cloud.Running] != 1 {
		t.Fatalf("after Terminate: %v", got)
	}
	clk.advance(terminationDelay)
	if got := states(t, c); got[cloud.Terminated] != 1 {
		t.Fatalf("after the shutdown: %v, want 1 terminated", got)
	}
	// Terminate lowered the desired capacity: ensuring the group with it launches nothing.
	if err := c.EnsureGroup(ctx, spec(1, "")); err != nil {
		t.Fatal(err)
	}
	if got := states(t, c); got[cloud.Running] != 1 || got[cloud.Pending] != 0 {
		t.Fatalf("after EnsureGroup(1): %v", got)
	}
	if err := c.Terminate(ctx, group, "nope"); !errors.Is(err, cloud.ErrInstanceNotFound) {
		t.Errorf("Terminate of an unknown instance = %v", err)
	}
	if err := c.DeleteGroup(ctx, group); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Instances(ctx, group); !errors.Is(err, cloud.ErrGroupNotFound) {
		t.Errorf("after DeleteGroup: %v", err)
	}
}

func TestCapacityLimit(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	c := New(newMemoryStore(), WithClock(clk.now))
	if err := c.EnsureGroup(ctx, spec(3, `{"capacityLimit": 1}`)); err != nil {
		t.Fatal(err)
	}
	clk.advance(time.Minute)
	instances, _ := c.Instances(ctx, group)
	got := states(t, c)
	if got[cloud.Running] != 1 || got[cloud.Pending] != 2 || instances[2].Reason != ReasonInsufficientCapacity {
		t.Fatalf("states %v, last instance %+v; want 1 running and 2 pending for capacity", got, instances[2])
	}
	// Freeing capacity lets the next pending instance run.
	if err := c.Terminate(ctx, group, instances[0].ID); err != nil {
		t.Fatal(err)
	}
	if got := states(t, c); got[cloud.Running] != 1 || got[cloud.Terminating] != 1 {
		t.Fatalf("after freeing capacity: %v", got)
	}
}

func TestFaultInjection(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	c := New(newMemoryStore(), WithClock(clk.now))

	c.FailAPICalls(2)
	for i := range 2 {
		if err := c.EnsureGroup(ctx, spec(2, "")); !errors.Is(err, ErrInjected) {
			t.Fatalf("call %d = %v, want the injected error", i, err)
		}
	}
	c.FailLaunches(1)
	if err := c.EnsureGroup(ctx, spec(2, "")); err != nil {
		t.Fatal(err)
	}
	instances, _ := c.Instances(ctx, group)
	if len(instances) != 1 || instances[0].State != cloud.Terminated || instances[0].Reason != ReasonLaunchFailed {
		t.Fatalf("a failed launch shows as Terminated/LaunchFailed and stops the pass: %+v", instances)
	}
	if err := c.EnsureGroup(ctx, spec(2, "")); err != nil {
		t.Fatal(err)
	}
	clk.advance(time.Minute)
	if got := states(t, c); got[cloud.Running] != 2 {
		t.Fatalf("the next pass launches the rest: %v", got)
	}

	instances, _ = c.Instances(ctx, group)
	if err := c.TerminateOutOfBand(ctx, group, instances[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureGroup(ctx, spec(2, "")); err != nil {
		t.Fatal(err)
	}
	got := states(t, c)
	if got[cloud.Pending] != 1 || got[cloud.Terminating] != 1 || got[cloud.Running] != 1 {
		t.Fatalf("an out-of-band termination keeps the desired capacity, so a replacement launches: %v", got)
	}
}

func TestDeterminismAndUniqueIDs(t *testing.T) {
	ctx := context.Background()
	settings := `{"bootJitter": "10s"}`
	boots := func(seed int64) []time.Time {
		clk := newClock()
		store := newMemoryStore()
		c := New(store, WithClock(clk.now), WithSeed(seed))
		if err := c.EnsureGroup(ctx, spec(3, settings)); err != nil {
			t.Fatal(err)
		}
		state, _, _ := store.Load(ctx, group)
		var out []time.Time
		for _, r := range state.Instances {
			out = append(out, r.BootAt)
		}
		return out
	}
	a, b, other := boots(7), boots(7), boots(8)
	for i := range a {
		if !a[i].Equal(b[i]) {
			t.Fatalf("same seed, different boot times: %v vs %v", a, b)
		}
	}
	if a[0].Equal(other[0]) && a[1].Equal(other[1]) && a[2].Equal(other[2]) {
		t.Errorf("another seed gave the same jitter: %v", a)
	}

	if groupPrefix(group) == groupPrefix(cloud.GroupRef{Namespace: "team-b", Name: "workers"}) {
		t.Errorf("groups of the same name in two namespaces share an ID prefix")
	}
}

func TestRestartKeepsInstances(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	store := newMemoryStore()
	first := New(store, WithClock(clk.now))
	if err := first.EnsureGroup(ctx, spec(2, "")); err != nil {
		t.Fatal(err)
	}
	before, _ := first.Instances(ctx, group)

	// A new process: same store, nothing in memory.
	second := New(store, WithClock(clk.now))
	if err := second.EnsureGroup(ctx, spec(3, "")); err != nil {
		t.Fatal(err)
	}
	after, _ := second.Instances(ctx, group)
	if len(after) != 3 || after[0].ID != before[0].ID || after[1].ID != before[1].ID {
		t.Fatalf("after a restart: %+v, want the 2 old instances and 1 new", after)
	}
	if after[2].ID == before[0].ID || after[2].ID == before[1].ID {
		t.Fatalf("an ID was reused: %s", after[2].ID)
	}
	// Ensuring the same spec again writes nothing and launches nothing.
	if err := second.EnsureGroup(ctx, spec(3, "")); err != nil {
		t.Fatal(err)
	}
	if again, _ := second.Instances(ctx, group); len(again) != 3 {
		t.Fatalf("a repeated EnsureGroup launched more: %d instances", len(again))
	}
}

func TestProviderConfig(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	c := New(newMemoryStore(), WithClock(clk.now))
	err := c.EnsureGroup(ctx, spec(1, `{"bootDelay": 5}`))
	if err == nil || !strings.Contains(err.Error(), "simulation settings are not valid") {
		t.Fatalf("EnsureGroup with a malformed spec.simulation = %v, want an error naming it", err)
	}
	if _, err := c.Instances(ctx, group); !errors.Is(err, cloud.ErrGroupNotFound) {
		t.Fatalf("a refused EnsureGroup must launch nothing, got %v", err)
	}
	if err := c.EnsureGroup(ctx, spec(1, `{"bootDelay": "4s"}`)); err != nil {
		t.Fatal(err)
	}
	booting, _ := c.Instances(ctx, group)
	if len(booting) != 1 || !booting[0].ChangesAt.Equal(clk.now().Add(4*time.Second)) {
		t.Fatalf("instances %+v, want one booting for the configured 4s", booting)
	}
	it, err := c.InstanceType(ctx, "no-such-type")
	if err != nil || it.Name != DefaultInstanceType || it.Capacity.Cpu().String() != "4" {
		t.Fatalf("InstanceType(unknown) = %+v, %v; want the default type", it, err)
	}
}
