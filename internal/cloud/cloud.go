// Package cloud is the narrow interface the SimMachinePool controller talks to, the way a real provider talks
// to an Auto Scaling Group or scale-set API: ensure a scaling group, describe its instances and instance types,
// terminate a named instance, delete the group. Nothing in it names a particular cloud: internal/cloud/sim
// implements it (and runs its simulated kubelets itself), cloudtest.Fake records calls and injects errors, and
// a real cloud plugs in behind it without touching the controller. WithMetrics wraps any implementation.
//
// It imports the standard library, Prometheus and Kubernetes' core API types (an instance type's capacity).
package cloud

import (
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// GroupRef names a scaling group: the namespace and name of the pool it belongs to.
type GroupRef struct {
	Namespace string
	Name      string
}

func (g GroupRef) String() string { return g.Namespace + "/" + g.Name }

// LaunchConfig is what new instances are launched with.
type LaunchConfig struct {
	// BootstrapSecret names the Secret (in the group's namespace) holding the bootstrap data.
	BootstrapSecret string
	// Version is the Kubernetes version the instances run.
	Version string
	// InstanceType sets the instances' size.
	InstanceType string
	// FailureDomains are the zones instances are spread over, round robin.
	FailureDomains []string
	// SpecHash identifies this configuration; instances launched with another hash are outdated.
	SpecHash string
}

// GroupSpec is the desired state of a scaling group.
type GroupSpec struct {
	Ref    GroupRef
	Region string
	// Desired is the number of instances the group keeps launched (pending or running). The group only grows
	// towards it: scale-in is always an explicit Terminate of a chosen instance.
	Desired int32
	Launch  LaunchConfig
	// Cluster names the workload cluster (in Ref's namespace) the instances join: clouds tag the group with it.
	Cluster string
	// ProviderConfig is the provider's own configuration of the group, as JSON, handed through untouched from
	// the provider's API object (the simulated cloud reads its boot delay and capacity limit from it).
	ProviderConfig []byte
}

// State is where an instance is in its life.
type State string

// Instance states.
const (
	Pending     State = "Pending"
	Running     State = "Running"
	Terminating State = "Terminating"
	Terminated  State = "Terminated"
)

// Instance is one instance of a scaling group.
type Instance struct {
	ID            string
	ProviderID    string
	State         State
	FailureDomain string
	SpecHash      string
	// BootstrapSecret and Version are what the instance was launched with.
	BootstrapSecret string
	Version         string
	InstanceType    string
	LaunchedAt      time.Time
	// Reason says why an instance is pending or terminated (Booting, InsufficientCapacity, LaunchFailed,
	// TerminatedOutOfBand, ...).
	Reason string
	// ChangesAt is when the instance will change state on its own (its boot or shutdown completes), if the
	// cloud knows; zero otherwise. It may already have passed by the time the caller looks.
	ChangesAt time.Time
}

// Cloud is a cloud's scaling-group API.
type Cloud interface {
	// EnsureGroup creates the group or updates its desired capacity and launch config, launching instances
	// until Desired are pending or running.
	EnsureGroup(ctx context.Context, spec GroupSpec) error
	// Instances describes the group's instances, terminated ones included for a while; ErrGroupNotFound when
	// the group does not exist.
	Instances(ctx context.Context, group GroupRef) ([]Instance, error)
	// Terminate terminates one instance and lowers the desired capacity by one.
	Terminate(ctx context.Context, group GroupRef, instanceID string) error
	// DeleteGroup terminates every instance and deletes the group; deleting a missing group succeeds.
	DeleteGroup(ctx context.Context, group GroupRef) error
	// InstanceType describes an instance type by name; an empty or unknown name resolves to the cloud's
	// default type, whose Name says which it is.
	InstanceType(ctx context.Context, name string) (InstanceType, error)
}

// InstanceType is what one instance of a type offers its Node, for scaling from zero.
type InstanceType struct {
	Name            string
	Capacity        corev1.ResourceList
	Architecture    string
	OperatingSystem string
}

// ErrGroupNotFound says that a scaling group does not exist.
var ErrGroupNotFound = errors.New("scaling group not found")

// ErrInstanceNotFound says that an instance is not in the group.
var ErrInstanceNotFound = errors.New("instance not found")
