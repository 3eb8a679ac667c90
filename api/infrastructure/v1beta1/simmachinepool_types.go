package v1beta1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
)

// SimMachinePoolFinalizer holds a SimMachinePool until its simulated scaling group is deleted.
const SimMachinePoolFinalizer = "simmachinepool.infrastructure.cluster.x-k8s.io"

// StrategyType names how a pool replaces instances whose configuration is out of date.
// +kubebuilder:validation:Enum=RollingUpdate
type StrategyType string

// RollingUpdateStrategyType replaces out-of-date instances a few at a time.
const RollingUpdateStrategyType StrategyType = "RollingUpdate"

// DeletePolicy picks which instances go first when a pool shrinks.
// +kubebuilder:validation:Enum=Oldest;Newest;Random
type DeletePolicy string

const (
	// DeletePolicyOldest removes the longest-running instances first.
	DeletePolicyOldest DeletePolicy = "Oldest"
	// DeletePolicyNewest removes the most recently launched instances first.
	DeletePolicyNewest DeletePolicy = "Newest"
	// DeletePolicyRandom removes instances in no particular order.
	DeletePolicyRandom DeletePolicy = "Random"
)

// Strategy says how the pool rolls out a changed configuration and which instances go first on scale-in.
type Strategy struct {
	// type of the strategy; only RollingUpdate exists. Defaults to RollingUpdate.
	// +optional
	// +kubebuilder:default=RollingUpdate
	Type StrategyType `json:"type,omitempty"`

	// rollingUpdate tunes the RollingUpdate strategy.
	// +optional
	RollingUpdate *RollingUpdate `json:"rollingUpdate,omitempty"`
}

// RollingUpdate tunes how many instances a rolling update may add or take away at once.
type RollingUpdate struct {
	// maxSurge is how many instances above the desired count may exist during an update: a number or a
	// percentage of the desired count (rounded up). Defaults to 1.
	// +optional
	// +kubebuilder:validation:XIntOrString
	MaxSurge *intstr.IntOrString `json:"maxSurge,omitempty"`

	// maxUnavailable is how many instances may be unavailable during an update: a number or a percentage of
	// the desired count (rounded down). Defaults to 0. maxSurge and maxUnavailable may not both be 0.
	// +optional
	// +kubebuilder:validation:XIntOrString
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`

	// deletePolicy picks which instances go first when the pool shrinks: Oldest, Newest or Random.
	// Defaults to Oldest. Instances the cluster-autoscaler marked for deletion always go first.
	// +optional
	DeletePolicy DeletePolicy `json:"deletePolicy,omitempty"`
}

// Simulation holds the knobs of the simulated cloud that a demo or a test turns.
type Simulation struct {
	// bootDelay is how long an instance stays pending before it runs and registers its Node (a duration such as
	// "2s"). Defaults to 1s.
	// +optional
	BootDelay *metav1.Duration `json:"bootDelay,omitempty"`

	// bootJitter adds up to this much random time to each instance's boot delay. Defaults to 0.
	// +optional
	BootJitter *metav1.Duration `json:"bootJitter,omitempty"`

	// capacityLimit is how many instances the simulated region can run for this pool; launches beyond it stay
	// pending with reason InsufficientCapacity, like an out-of-capacity zone. Unset means no limit.
	// +optional
	// +kubebuilder:validation:Minimum=0
	CapacityLimit *int32 `json:"capacityLimit,omitempty"`

	// faults inject failures into the pool's running instances, for trying health checks and remediation:
	// KubeletStopped, NotReady or NeverRegisters, each for the listed instances or for the whole pool, from a
	// start time on. A fault lasts while it is listed here; removing it ends it and the instances' kubelets
	// carry on as before. At most 16.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Faults []SimulatedFault `json:"faults,omitempty"`

	// nodeMonitorGracePeriod is how long after its kubelet stopped posting status a Node turns Ready=Unknown
	// (a duration such as "40s"), which is what the node lifecycle controller does in a real cluster; envtest
	// has none, so the simulated cloud does it for the KubeletStopped fault. Defaults to 40s.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="nodeMonitorGracePeriod must be a duration that is not negative, such as \"40s\" or \"2m\""
	NodeMonitorGracePeriod *metav1.Duration `json:"nodeMonitorGracePeriod,omitempty"`
}

// SimulatedFaultType names a failure the simulated cloud injects into running instances.
// +kubebuilder:validation:Enum=KubeletStopped;NotReady;NeverRegisters
type SimulatedFaultType string

const (
	// SimulatedFaultKubeletStopped keeps the instance running while its kubelet stops posting status: no more
	// heartbeats, and nodeMonitorGracePeriod after the fault's start its Node turns Ready=Unknown (reason
	// NodeStatusUnknown), as the node lifecycle controller marks an unreachable Node.
	SimulatedFaultKubeletStopped SimulatedFaultType = "KubeletStopped"
	// SimulatedFaultNotReady makes the kubelet report its Node Ready=False (reason KubeletNotReady).
	SimulatedFaultNotReady SimulatedFaultType = "NotReady"
	// SimulatedFaultNeverRegisters keeps an instance that has not registered its Node by the fault's start from
	// ever registering it, while the instance runs.
	SimulatedFaultNeverRegisters SimulatedFaultType = "NeverRegisters"
)

// SimulatedFault is one failure injected into some or all of a pool's instances from a start time on, until it is
// removed from spec.simulation.faults.
type SimulatedFault struct {
	// type of the fault:
	// KubeletStopped: the instance keeps running but its kubelet stops posting status at the start time (no
	// heartbeat), and nodeMonitorGracePeriod after the start its Node turns Ready=Unknown (reason
	// NodeStatusUnknown), at the same moment for every instance the fault hits.
	// NotReady: the kubelet reports the Node Ready=False (reason KubeletNotReady) from the start time.
	// NeverRegisters: an instance that has not registered its Node by the start time never does, instances
	// launched later included.
	// +required
	Type SimulatedFaultType `json:"type"`

	// instances are the IDs of the instances the fault hits (status.instances[].id, which is also the name of
	// the instance's Node), such as "mzxw6y-3". Empty means every instance of the pool, present and future.
	// At most 1000.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=1000
	// +kubebuilder:validation:items:MaxLength=32
	// +kubebuilder:validation:items:XValidation:rule="self.matches('^[a-z2-7]{6}-[1-9][0-9]{0,18}$')",message="must be an instance ID of the simulated cloud, such as \"mzxw6y-3\" (see status.instances[].id; it is also the Node's name), not a provider ID"
	Instances []string `json:"instances,omitempty"`

	// startTime is when the fault begins (RFC 3339, such as "2026-01-02T15:04:05Z"); a time in the past applies
	// the fault as if it had begun then. Unset means from when the simulated cloud first sees the fault: the
	// cloud records that moment once, so every instance the fault hits shares it and a restarted manager keeps
	// it. Changing the type or the instances of a fault without startTime makes it a new fault, seen anew.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
}

// SimMachinePoolSpec is the desired state of a simulated scaling group.
type SimMachinePoolSpec struct {
	// providerIDList holds the provider IDs (sim://<region>/<group>/<instance-id>) of the pool's instances.
	// Written by the controller; the MachinePool copies it.
	// +optional
	// +listType=atomic
	ProviderIDList []string `json:"providerIDList,omitempty"`

	// region of the simulated cloud the scaling group lives in. Defaults to "local". It cannot change: the
	// region is part of every instance's provider ID.
	// +optional
	// +kubebuilder:default=local
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="region cannot change, because it is part of every instance's provider ID; create a new SimMachinePool in the other region"
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Region string `json:"region,omitempty"`

	// instanceType sets what each instance offers (cpu, memory, pods): sim.small (2 CPU, 4Gi), sim.medium
	// (4 CPU, 16Gi) or sim.large (8 CPU, 32Gi). Defaults to sim.medium.
	// +optional
	// +kubebuilder:default=sim.medium
	// +kubebuilder:validation:Enum=sim.small;sim.medium;sim.large
	InstanceType string `json:"instanceType,omitempty"`

	// failureDomains are the zones instances are spread over, round robin. Empty means one zone named after
	// the region.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=63
	FailureDomains []string `json:"failureDomains,omitempty"`

	// strategy says how changed configuration rolls out and which instances go first on scale-in.
	// +optional
	Strategy *Strategy `json:"strategy,omitempty"`

	// simulation holds the simulated cloud's knobs: boot delay, jitter, capacity limit, node monitor grace
	// period and injected faults.
	// +optional
	Simulation *Simulation `json:"simulation,omitempty"`
}

// InstanceState is where a simulated instance is in its life.
type InstanceState string

const (
	// InstanceStatePending is an instance launched but not yet running (booting, or waiting for capacity).
	InstanceStatePending InstanceState = "Pending"
	// InstanceStateRunning is a running instance; its Node registers with the workload cluster.
	InstanceStateRunning InstanceState = "Running"
	// InstanceStateTerminating is an instance being shut down.
	InstanceStateTerminating InstanceState = "Terminating"
	// InstanceStateTerminated is an instance that is gone.
	InstanceStateTerminated InstanceState = "Terminated"
)

// Instance is one instance of the simulated scaling group, as the cloud reports it.
type Instance struct {
	// id is the instance ID, unique across the whole simulated cloud.
	// +required
	// +kubebuilder:validation:MaxLength=128
	ID string `json:"id"`

	// providerID is the instance's provider ID, sim://<region>/<group>/<id>; its Node carries the same.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	ProviderID string `json:"providerID,omitempty"`

	// state is Pending, Running, Terminating or Terminated.
	// +optional
	// +kubebuilder:validation:Enum=Pending;Running;Terminating;Terminated
	State InstanceState `json:"state,omitempty"`

	// ready is true when the instance runs and its Node has registered.
	// +optional
	Ready bool `json:"ready,omitempty"`

	// specHash identifies the configuration the instance was launched with (version, instance type, bootstrap
	// Secret name); instances whose hash differs from the pool's are replaced by a rolling update.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	SpecHash string `json:"specHash,omitempty"`

	// failureDomain is the zone the instance runs in.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	FailureDomain string `json:"failureDomain,omitempty"`

	// reason says why a pending instance is not running yet (InsufficientCapacity, Booting, ...).
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Reason string `json:"reason,omitempty"`
}

// Initialization reports provisioning in the form of Cluster API's v1beta2 contract.
type Initialization struct {
	// provisioned is true once the scaling group exists and reports its instances.
	// +optional
	Provisioned *bool `json:"provisioned,omitempty"`
}

// NodeInfo describes the Nodes an instance registers, for the cluster-autoscaler to scale from zero.
type NodeInfo struct {
	// architecture of the Nodes, as in Node.status.nodeInfo (amd64, arm64).
	// +optional
	// +kubebuilder:validation:MaxLength=32
	Architecture string `json:"architecture,omitempty"`

	// operatingSystem of the Nodes, as in Node.status.nodeInfo (linux, windows).
	// +optional
	// +kubebuilder:validation:MaxLength=32
	OperatingSystem string `json:"operatingSystem,omitempty"`
}

// SimMachinePoolStatus is the observed state of a simulated scaling group.
type SimMachinePoolStatus struct {
	// ready is true once the scaling group exists (Cluster API's v1beta1 readiness contract).
	// +optional
	Ready bool `json:"ready"`

	// initialization reports provisioning in the v1beta2 contract's form.
	// +optional
	Initialization *Initialization `json:"initialization,omitempty"`

	// replicas is the number of instances in providerIDList.
	// +optional
	Replicas int32 `json:"replicas"`

	// readyReplicas is the number of instances that run and whose Node has registered.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// upToDateReplicas is the number of instances in providerIDList launched with the current launch
	// configuration (version, instance type, bootstrap Secret name): an extension of the InfraMachinePool
	// contract that the core controller copies into the MachinePool's v1beta2 status.upToDateReplicas.
	// +optional
	UpToDateReplicas *int32 `json:"upToDateReplicas,omitempty"`

	// instances are the scaling group's instances as the simulated cloud reports them.
	// +optional
	// +listType=map
	// +listMapKey=id
	Instances []Instance `json:"instances,omitempty"`

	// failureReason is a token for a terminal problem that needs a user's fix.
	// +optional
	FailureReason *string `json:"failureReason,omitempty"`

	// failureMessage explains a terminal problem to a person.
	// +optional
	FailureMessage *string `json:"failureMessage,omitempty"`

	// conditions say how each aspect of the scaling group is doing.
	// +optional
	// +listType=atomic
	Conditions corev1beta1.Conditions `json:"conditions,omitempty"`

	// capacity is what one instance offers (cpu, memory, pods); the cluster-autoscaler reads it to scale the
	// pool up from zero.
	// +optional
	Capacity corev1.ResourceList `json:"capacity,omitempty"`

	// nodeInfo describes the Nodes the instances register (architecture, operating system).
	// +optional
	NodeInfo *NodeInfo `json:"nodeInfo,omitempty"`

	// infrastructureMachineKind is the kind of the per-instance objects the pool keeps
	// (SimMachinePoolMachine): Cluster API's MachinePool controller then keeps one Machine per instance
	// ("MachinePool Machines").
	// +optional
	// +kubebuilder:validation:MaxLength=256
	InfrastructureMachineKind string `json:"infrastructureMachineKind,omitempty"`

	// observedGeneration is the metadata.generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:path=simmachinepools,shortName=smp,scope=Namespaced,categories=cluster-api
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:metadata:labels="cluster.x-k8s.io/v1beta1=v1beta1"
// +kubebuilder:printcolumn:name="Cluster",type="string",JSONPath=".metadata.labels['cluster\\.x-k8s\\.io/cluster-name']",description="Cluster the pool belongs to"
// +kubebuilder:printcolumn:name="Replicas",type="integer",JSONPath=".status.replicas",description="Instances in the scaling group"
// +kubebuilder:printcolumn:name="Ready",type="integer",JSONPath=".status.readyReplicas",description="Instances running with a registered Node"
// +kubebuilder:printcolumn:name="Provisioned",type="boolean",JSONPath=".status.ready",description="Scaling group exists"
// +kubebuilder:printcolumn:name="Type",type="string",JSONPath=".spec.instanceType",description="Instance type"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description="Time since creation"

// SimMachinePool is a scaling group in the simulated cloud: the InfraMachinePool of the reference provider.
type SimMachinePool struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the scaling group.
	// +optional
	Spec SimMachinePoolSpec `json:"spec,omitempty"`

	// status is the observed state of the scaling group.
	// +optional
	Status SimMachinePoolStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// SimMachinePoolList is a list of SimMachinePools.
type SimMachinePoolList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the SimMachinePools.
	Items []SimMachinePool `json:"items"`
}

func init() {
	objectTypes = append(objectTypes, &SimMachinePool{}, &SimMachinePoolList{})
}
