// Package cloudtest holds a fake cloud.Cloud for tests of code that calls a cloud: it keeps groups in memory,
// records every call and fails the calls a test tells it to. Instances it launches run at once; none ever
// has a Node (the fake is no simulator: tests that need kubelets use internal/cloud/sim).
package cloudtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/machinepool-operator/machinepool-operator/internal/cloud"
)

// Methods of cloud.Cloud, as Call.Method names them.
const (
	EnsureGroup  = "EnsureGroup"
	Instances    = "Instances"
	Terminate    = "Terminate"
	DeleteGroup  = "DeleteGroup"
	InstanceType = "InstanceType"
)

// Call is one call the fake received.
type Call struct {
	Method string
	Group  cloud.GroupRef
	// Arg is the instance ID (Terminate), the instance type name (InstanceType) or the desired count
	// (EnsureGroup, as text).
	Arg string
	// Err is what the call returned.
	Err error
}

// Fake is an in-memory cloud.Cloud. Its zero value is ready to use.
type Fake struct {
	mu       sync.Mutex
	groups   map[cloud.GroupRef]*group
	calls    []Call
	failures map[string][]error
}

type group struct {
	spec      cloud.GroupSpec
	counter   int
	instances []cloud.Instance
}

var _ cloud.Cloud = &Fake{}

// Fail makes the next calls of method return errs, one error per call, in order.
func (f *Fake) Fail(method string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failures == nil {
		f.failures = map[string][]error{}
	}
	f.failures[method] = append(f.failures[method], errs...)
}

// Calls returns the calls received so far, in order.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// CallsOf returns the calls of one method received so far.
func (f *Fake) CallsOf(method string) []Call {
	var out []Call
	for _, c := range f.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// record notes a call and returns the error injected for it, if any. The caller holds f.mu.
func (f *Fake) record(method string, ref cloud.GroupRef, arg string) error {
	var err error
	if q := f.failures[method]; len(q) > 0 {
		err, f.failures[method] = q[0], q[1:]
	}
	f.calls = append(f.calls, Call{Method: method, Group: ref, Arg: arg, Err: err})
	return err
}

// EnsureGroup implements cloud.Cloud: missing instances are launched Running.
func (f *Fake) EnsureGroup(_ context.Context, spec cloud.GroupSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(EnsureGroup, spec.Ref, fmt.Sprint(spec.Desired)); err != nil {
		return err
	}
	if f.groups == nil {
		f.groups = map[cloud.GroupRef]*group{}
	}
	g := f.groups[spec.Ref]
	if g == nil {
		g = &group{}
		f.groups[spec.Ref] = g
	}
	g.spec = spec
	live := 0
	for _, in := range g.instances {
		if in.State == cloud.Pending || in.State == cloud.Running {
			live++
		}
	}
	for ; live < int(spec.Desired); live++ {
		g.counter++
		id := fmt.Sprintf("%s-%d", spec.Ref.Name, g.counter)
		g.instances = append(g.instances, cloud.Instance{
			ID: id, ProviderID: "fake:///" + id, State: cloud.Running, SpecHash: spec.Launch.SpecHash,
			BootstrapSecret: spec.Launch.BootstrapSecret, Version: spec.Launch.Version,
			InstanceType: spec.Launch.InstanceType, LaunchedAt: time.Now(),
		})
	}
	return nil
}

// Instances implements cloud.Cloud.
func (f *Fake) Instances(_ context.Context, ref cloud.GroupRef) ([]cloud.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(Instances, ref, ""); err != nil {
		return nil, err
	}
	g := f.groups[ref]
	if g == nil {
		return nil, cloud.ErrGroupNotFound
	}
	return slices.Clone(g.instances), nil
}

// Terminate implements cloud.Cloud: the instance is Terminated at once.
func (f *Fake) Terminate(_ context.Context, ref cloud.GroupRef, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(Terminate, ref, id); err != nil {
		return err
	}
	g := f.groups[ref]
	if g == nil {
		return cloud.ErrGroupNotFound
	}
	for i := range g.instances {
		if g.instances[i].ID == id {
			if g.instances[i].State != cloud.Terminated {
				g.instances[i].State = cloud.Terminated
				g.spec.Desired = max(g.spec.Desired-1, 0)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: %s in scaling group %s", cloud.ErrInstanceNotFound, id, ref)
}

// DeleteGroup implements cloud.Cloud.
func (f *Fake) DeleteGroup(_ context.Context, ref cloud.GroupRef) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(DeleteGroup, ref, ""); err != nil {
		return err
	}
	delete(f.groups, ref)
	return nil
}

// InstanceType implements cloud.Cloud: every name is a 1-CPU, 1 GiB linux/amd64 type; "" is "fake.default".
func (f *Fake) InstanceType(_ context.Context, name string) (cloud.InstanceType, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(InstanceType, cloud.GroupRef{}, name); err != nil {
		return cloud.InstanceType{}, err
	}
	if name == "" {
		name = "fake.default"
	}
	return cloud.InstanceType{Name: name, Architecture: "amd64", OperatingSystem: "linux", Capacity: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi"),
	}}, nil
}

// Group returns the spec the group was last ensured with, and whether it exists.
func (f *Fake) Group(ref cloud.GroupRef) (cloud.GroupSpec, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groups[ref]
	if g == nil {
		return cloud.GroupSpec{}, false
	}
	return g.spec, true
}
