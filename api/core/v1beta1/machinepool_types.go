package v1beta1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MachinePoolFinalizer holds a MachinePool until its infrastructure, bootstrap config and Nodes are gone.
const MachinePoolFinalizer = "machinepool.cluster.x-k8s.io"

// MachinePoolSpec is the desired state of a MachinePool.
type MachinePoolSpec struct {
	// clusterName is the name of the Cluster the pool belongs to. It cannot change after creation and must be
	// a valid label value (it becomes the cluster.x-k8s.io/cluster-name label).
	// +kubebuilder:validation:MinLength=1
	// +required
	ClusterName string `json:"clusterName"`

	// replicas is the number of machines wanted. Unset means 1, or the autoscaler's minimum size when both
	// cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size and -max-size annotations are set.
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// template describes the machines of the pool: bootstrap, infrastructure and Kubernetes version.
	// +required
	Template MachineTemplateSpec `json:"template"`

	// minReadySeconds is how many seconds a machine's Node must have been Ready before it counts as
	// available. Defaults to 0: available as soon as it is Ready.
	// +optional
	MinReadySeconds *int32 `json:"minReadySeconds,omitempty"`

	// providerIDList holds the provider IDs of the pool's instances, as the infrastructure provider reports
	// them; each matches spec.providerID of the instance's Node. Written by the controller.
	// +optional
	// +listType=atomic
	ProviderIDList []string `json:"providerIDList,omitempty"`

	// failureDomains lists the failure domains (zones) the pool's instances may be placed in.
	// +optional
	// +listType=atomic
	FailureDomains []string `json:"failureDomains,omitempty"`
}

// MachinePoolStatusFailure is a token for a terminal problem of a MachinePool.
type MachinePoolStatusFailure string

// InvalidConfigurationMachinePoolError says the pool's configuration cannot work and needs a user's fix.
const InvalidConfigurationMachinePoolError MachinePoolStatusFailure = "InvalidConfiguration"

// MachinePoolStatus is the observed state of a MachinePool.
type MachinePoolStatus struct {
	// nodeRefs point to the workload cluster's Nodes of the pool's instances, in providerIDList order.
	// +optional
	// +listType=atomic
	NodeRefs []corev1.ObjectReference `json:"nodeRefs,omitempty"`

	// replicas is the number of instances the infrastructure provider reports (its status.replicas).
	// +optional
	Replicas int32 `json:"replicas"`

	// readyReplicas is the number of instances whose Node is Ready.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// availableReplicas is the number of instances whose Node has been Ready for at least
	// spec.minReadySeconds.
	// +optional
	AvailableReplicas int32 `json:"availableReplicas,omitempty"`

	// unavailableReplicas is how many more instances must become available for the pool to have its full
	// capacity: replicas not yet available, including those not created yet. Never negative.
	// +optional
	UnavailableReplicas int32 `json:"unavailableReplicas,omitempty"`

	// failureReason is a token for a terminal problem that needs a user's fix, for programs.
	// +optional
	FailureReason *MachinePoolStatusFailure `json:"failureReason,omitempty"`

	// failureMessage explains a terminal problem to a person.
	// +optional
	FailureMessage *string `json:"failureMessage,omitempty"`

	// phase is a one-word summary of the pool: Pending, Provisioning, Provisioned, Running, ScalingUp,
	// ScalingDown, Scaling, Deleting, Failed or Unknown. For people; programs should read conditions.
	// +optional
	Phase string `json:"phase,omitempty"`

	// bootstrapReady is true once the bootstrap data Secret is known.
	// +optional
	BootstrapReady bool `json:"bootstrapReady"`

	// infrastructureReady is true once the infrastructure provider reports the pool provisioned.
	// +optional
	InfrastructureReady bool `json:"infrastructureReady"`

	// observedGeneration is the metadata.generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions say how each aspect of the pool is doing: Ready, BootstrapReady, InfrastructureReady,
	// ReplicasReady, Paused.
	// +optional
	// +listType=atomic
	Conditions Conditions `json:"conditions,omitempty"`

	// selector is the label selector, in string form, of the pool's Machines
	// (cluster.x-k8s.io/cluster-name=<cluster>,cluster.x-k8s.io/pool-name=<pool>). The scale subresource reports
	// it. An addition to Cluster API's v1beta1 MachinePool.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Selector string `json:"selector,omitempty"`
}

// MachinePoolPhase is a one-word summary of a MachinePool's state, for people.
type MachinePoolPhase string

const (
	// MachinePoolPhasePending is the phase of a new pool before its infrastructure is being created.
	MachinePoolPhasePending MachinePoolPhase = "Pending"
	// MachinePoolPhaseProvisioning is the phase while bootstrap data or infrastructure are not ready.
	MachinePoolPhaseProvisioning MachinePoolPhase = "Provisioning"
	// MachinePoolPhaseProvisioned is the phase once the infrastructure is ready but no Node is.
	MachinePoolPhaseProvisioned MachinePoolPhase = "Provisioned"
	// MachinePoolPhaseRunning is the phase when the pool's Nodes are Ready and replicas match the desired count.
	MachinePoolPhaseRunning MachinePoolPhase = "Running"
	// MachinePoolPhaseScalingUp is the phase while the pool has fewer replicas than desired.
	MachinePoolPhaseScalingUp MachinePoolPhase = "ScalingUp"
	// MachinePoolPhaseScalingDown is the phase while the pool has more replicas than desired.
	MachinePoolPhaseScalingDown MachinePoolPhase = "ScalingDown"
	// MachinePoolPhaseScaling is the phase while an external autoscaler owns the replica count and is changing it.
	MachinePoolPhaseScaling MachinePoolPhase = "Scaling"
	// MachinePoolPhaseDeleting is the phase of a pool being deleted.
	MachinePoolPhaseDeleting MachinePoolPhase = "Deleting"
	// MachinePoolPhaseFailed is the phase of a pool with a terminal problem that needs a user.
	MachinePoolPhaseFailed MachinePoolPhase = "Failed"
	// MachinePoolPhaseUnknown is the phase when the state cannot be determined.
	MachinePoolPhaseUnknown MachinePoolPhase = "Unknown"
)

// +kubebuilder:object:root=true
// +kubebuilder:resource:path=machinepools,shortName=mp,scope=Namespaced,categories=cluster-api
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:metadata:labels="cluster.x-k8s.io/v1beta1=v1beta1"
// +kubebuilder:printcolumn:name="Cluster",type="string",JSONPath=".spec.clusterName",description="Cluster the pool belongs to"
// +kubebuilder:printcolumn:name="Desired",type="integer",JSONPath=".spec.replicas",description="Replicas wanted"
// +kubebuilder:printcolumn:name="Replicas",type="integer",JSONPath=".status.replicas",description="Instances the infrastructure reports"
// +kubebuilder:printcolumn:name="Ready",type="integer",JSONPath=".status.readyReplicas",description="Instances whose Node is Ready"
// +kubebuilder:printcolumn:name="Available",type="integer",JSONPath=".status.availableReplicas",description="Instances Ready for at least minReadySeconds"
// +kubebuilder:printcolumn:name="Phase",type="string",JSONPath=".status.phase",description="Pending, Provisioning, Provisioned, Running, Scaling*, Deleting or Failed"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description="Time since creation"
// +kubebuilder:printcolumn:name="Version",type="string",JSONPath=".spec.template.spec.version",description="Kubernetes version of the machines"
// +kubebuilder:printcolumn:name="Unavailable",type="integer",JSONPath=".status.unavailableReplicas",priority=1,description="Replicas still to become available"
// +kubebuilder:printcolumn:name="Bootstrap",type="boolean",JSONPath=".status.bootstrapReady",priority=1,description="Bootstrap data ready"
// +kubebuilder:printcolumn:name="Infrastructure",type="boolean",JSONPath=".status.infrastructureReady",priority=1,description="Infrastructure provisioned"
// +kubebuilder:printcolumn:name="InfraRef",type="string",JSONPath=".spec.template.spec.infrastructureRef.kind",priority=1,description="Kind of the infrastructure pool"
// +kubebuilder:printcolumn:name="Reason",type="string",JSONPath=".status.conditions[?(@.type==\"Ready\")].reason",priority=1,description="Why the pool is not Ready"

// MachinePool is a group of worker machines that share one configuration and are created by one
// infrastructure resource (an AWS Auto Scaling Group, an Azure VMSS, a SimMachinePool).
type MachinePool struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the pool.
	// +optional
	Spec MachinePoolSpec `json:"spec,omitempty"`

	// status is the observed state of the pool, written by the controller.
	// +optional
	Status MachinePoolStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// MachinePoolList is a list of MachinePools.
type MachinePoolList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the MachinePools.
	Items []MachinePool `json:"items"`
}

func init() {
	objectTypes = append(objectTypes, &MachinePool{}, &MachinePoolList{})
}
