package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/cloud"
)

// Cloud is the simulated cloud. Its zero value is not usable; build it with New.
type Cloud struct {
	store Store
	seed  int64
	now   func() time.Time

	mu     sync.Mutex
	faults faults

	// kubelets, when set, run the instances' kubelets (WithKubelets).
	kubelets *kubelets
}

// faults are the failures a test or demo injected and that have not fired yet.
type faults struct {
	apiErrors      int
	launchFailures int
	neverReady     int
}

// Option configures a Cloud.
type Option func(*Cloud)

// WithSeed makes boot jitter deterministic for a seed.
func WithSeed(seed int64) Option { return func(c *Cloud) { c.seed = seed } }

// WithClock replaces the wall clock (tests).
func WithClock(now func() time.Time) Option { return func(c *Cloud) { c.now = now } }

// New returns a simulated cloud that keeps its state in store.
func New(store Store, opts ...Option) *Cloud {
	c := &Cloud{store: store, now: time.Now}
	for _, o := range opts {
		o(c)
	}
	return c
}

var _ cloud.Cloud = &Cloud{}

// ErrInjected is returned by calls that fail because a test injected API errors.
var ErrInjected = errors.New("simulated cloud API error (injected)")

// FailAPICalls makes the next n calls fail with ErrInjected.
func (c *Cloud) FailAPICalls(n int) { c.mu.Lock(); c.faults.apiErrors += n; c.mu.Unlock() }

// FailLaunches makes the next n instance launches fail (the instances show as Terminated, LaunchFailed).
func (c *Cloud) FailLaunches(n int) { c.mu.Lock(); c.faults.launchFailures += n; c.mu.Unlock() }

// NeverReady makes the next n launched instances run without their Node ever becoming Ready.
func (c *Cloud) NeverReady(n int) { c.mu.Lock(); c.faults.neverReady += n; c.mu.Unlock() }

func (c *Cloud) injectedError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.faults.apiErrors > 0 {
		c.faults.apiErrors--
		return ErrInjected
	}
	return nil
}

// EnsureGroup implements cloud.Cloud: the new instances are written to the store before they "launch".
func (c *Cloud) EnsureGroup(ctx context.Context, spec cloud.GroupSpec) error {
	if err := c.injectedError(); err != nil {
		return err
	}
	state, version, err := c.store.Load(ctx, spec.Ref)
	if errors.Is(err, cloud.ErrGroupNotFound) {
		state, version, err = &groupState{}, "", nil
	}
	if err != nil {
		return err
	}
	now := c.now()
	loaded, err := json.Marshal(state)
	if err != nil {
		return err
	}
	var config infrav1beta1.Simulation
	if len(spec.ProviderConfig) > 0 {
		if err := json.Unmarshal(spec.ProviderConfig, &config); err != nil {
			return fmt.Errorf("scaling group %s: the simulation settings are not valid: %w", spec.Ref, err)
		}
	}
	state.Region, state.Desired, state.Launch, state.Cluster, state.Config = spec.Region, max(spec.Desired, 0), spec.Launch, spec.Cluster, config
	state.recordFaultStarts(now)
	state.prune(now)

	live := 0
	for i := range state.Instances {
		if state.Instances[i].live() {
			live++
		}
	}
	delay, maxJitter := state.bootDelay()
	for ; live < int(state.Desired); live++ {
		state.Counter++
		id := fmt.Sprintf("%s-%d", groupPrefix(spec.Ref), state.Counter)
		r := instanceRecord{
			ID: id, Seq: state.Counter, SpecHash: spec.Launch.SpecHash, BootstrapSecret: spec.Launch.BootstrapSecret,
			Version: spec.Launch.Version, InstanceType: spec.Launch.InstanceType, LaunchedAt: now,
			BootAt: now.Add(delay + jitter(c.seed, id, maxJitter)),
		}
		if fds := spec.Launch.FailureDomains; len(fds) > 0 {
			r.FailureDomain = fds[int(state.Counter-1)%len(fds)]
		} else {
			r.FailureDomain = spec.Region
		}
		c.mu.Lock()
		if c.faults.launchFailures > 0 {
			c.faults.launchFailures--
			r.Reason = ReasonLaunchFailed
			live-- // a failed launch does not count; the next pass launches another
		} else if c.faults.neverReady > 0 {
			c.faults.neverReady--
			r.NeverReady = true
		}
		c.mu.Unlock()
		state.Instances = append(state.Instances, r)
		if r.Reason == ReasonLaunchFailed {
			break // like a real scaling group, retry on the next call rather than loop on a failing launch
		}
	}
	if version != "" {
		if current, err := json.Marshal(state); err == nil && bytes.Equal(loaded, current) {
			c.seen(spec.Ref)
			return nil // nothing changed: no write
		}
	}
	return c.save(ctx, spec.Ref, state, version)
}

// save stores a group's state and tells its kubelets.
func (c *Cloud) save(ctx context.Context, group cloud.GroupRef, state *groupState, version string) error {
	if err := c.store.Save(ctx, group, state, version); err != nil {
		return err
	}
	c.changed(group)
	return nil
}

// Instances implements cloud.Cloud.
func (c *Cloud) Instances(ctx context.Context, group cloud.GroupRef) ([]cloud.Instance, error) {
	if err := c.injectedError(); err != nil {
		return nil, err
	}
	state, _, err := c.store.Load(ctx, group)
	if err != nil {
		return nil, err
	}
	return state.view(group, c.now()), nil
}

// Terminate implements cloud.Cloud.
func (c *Cloud) Terminate(ctx context.Context, group cloud.GroupRef, id string) error {
	if err := c.injectedError(); err != nil {
		return err
	}
	return c.terminate(ctx, group, id, true, "")
}

// TerminateOutOfBand terminates an instance as if someone did it in the cloud's console: the desired
// capacity stays, so the group launches a replacement.
func (c *Cloud) TerminateOutOfBand(ctx context.Context, group cloud.GroupRef, id string) error {
	return c.terminate(ctx, group, id, false, ReasonTerminatedOutOfBand)
}

func (c *Cloud) terminate(ctx context.Context, group cloud.GroupRef, id string, decrement bool, reason string) error {
	state, version, err := c.store.Load(ctx, group)
	if err != nil {
		return err
	}
	for i := range state.Instances {
		r := &state.Instances[i]
		if r.ID != id {
			continue
		}
		if !r.live() {
			return nil // already on its way out
		}
		now := c.now()
		r.TerminatingAt = &now
		r.Reason = reason
		if decrement && state.Desired > 0 {
			state.Desired--
		}
		return c.save(ctx, group, state, version)
	}
	return fmt.Errorf("%w: %s in scaling group %s", cloud.ErrInstanceNotFound, id, group)
}

// DeleteGroup implements cloud.Cloud.
func (c *Cloud) DeleteGroup(ctx context.Context, group cloud.GroupRef) error {
	if err := c.injectedError(); err != nil {
		return err
	}
	if err := c.store.Delete(ctx, group); err != nil {
		return err
	}
	c.changed(group)
	return nil
}

// InstanceType implements cloud.Cloud from InstanceTypes; unknown names resolve to DefaultInstanceType.
func (c *Cloud) InstanceType(_ context.Context, name string) (cloud.InstanceType, error) {
	t, ok := InstanceTypes[name]
	if !ok {
		name, t = DefaultInstanceType, InstanceTypes[DefaultInstanceType]
	}
	return cloud.InstanceType{Name: name, Capacity: t.ResourceList(), Architecture: Architecture, OperatingSystem: OperatingSystem}, nil
}
