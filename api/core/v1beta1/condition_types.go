package v1beta1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConditionType names a condition, in CamelCase or as foo.example.com/CamelCase.
type ConditionType string

// ConditionSeverity says how bad a condition with status False is.
type ConditionSeverity string

const (
	// ConditionSeverityError marks a False condition that needs a user to act.
	ConditionSeverityError ConditionSeverity = "Error"
	// ConditionSeverityWarning marks a False condition that may resolve by itself but deserves attention.
	ConditionSeverityWarning ConditionSeverity = "Warning"
	// ConditionSeverityInfo marks a False condition that is part of normal progress.
	ConditionSeverityInfo ConditionSeverity = "Info"
	// ConditionSeverityNone is the severity of True and Unknown conditions.
	ConditionSeverityNone ConditionSeverity = ""
)

// Condition is one aspect of an object's state, in Cluster API's v1beta1 form (with a severity).
type Condition struct {
	// type of the condition, in CamelCase or as foo.example.com/CamelCase.
	// +required
	Type ConditionType `json:"type"`

	// status of the condition: True, False or Unknown.
	// +required
	Status corev1.ConditionStatus `json:"status"`

	// severity classifies a False condition: Error, Warning or Info. Empty when status is not False.
	// +optional
	Severity ConditionSeverity `json:"severity,omitempty"`

	// lastTransitionTime is when the status last changed.
	// +required
	LastTransitionTime metav1.Time `json:"lastTransitionTime"`

	// reason is a CamelCase token for the last transition, for programs.
	// +optional
	Reason string `json:"reason,omitempty"`

	// message explains the condition to a person; it may be empty.
	// +optional
	Message string `json:"message,omitempty"`
}

// Conditions is a list of conditions, at most one per type.
type Conditions []Condition

// Condition types of a MachinePool.
const (
	// ReadyCondition summarises the pool: True when bootstrap data and infrastructure are ready and every
	// desired replica is a Ready Node.
	ReadyCondition ConditionType = "Ready"

	// BootstrapReadyCondition is True once the bootstrap data Secret is known.
	BootstrapReadyCondition ConditionType = "BootstrapReady"

	// InfrastructureReadyCondition is True once the infrastructure provider reports the pool provisioned.
	InfrastructureReadyCondition ConditionType = "InfrastructureReady"

	// ReplicasReadyCondition is True when every desired replica is a Ready Node.
	ReplicasReadyCondition ConditionType = "ReplicasReady"

	// PausedCondition is True while the pool or its Cluster is paused and nothing is reconciled.
	PausedCondition ConditionType = "Paused"

	// MachinesCreatedCondition is True when every instance the infrastructure reports (status.
	// infrastructureMachineKind) has its Machine ("MachinePool Machines"); absent for providers that keep no
	// per-instance objects. It is not part of Ready.
	MachinesCreatedCondition ConditionType = "MachinesCreated"

	// MachinesHealthyCondition is False while Machines of the pool that a MachineHealthCheck marked unhealthy
	// wait for or are in remediation (reason Remediating or RemediationHeld, the message names them); absent for
	// pools without MachinePool Machines. It is not part of Ready.
	MachinesHealthyCondition ConditionType = "MachinesHealthy"
)

// Condition reasons of a MachinePool. They are tokens for programs; the message explains them to people.
const (
	// PausedReason: the pool or its Cluster is paused.
	PausedReason = "Paused"
	// WaitingForClusterReason: the Cluster does not exist or its infrastructure is not ready.
	WaitingForClusterReason = "WaitingForClusterInfrastructure"
	// BootstrapConfigNotFoundReason: spec.template.spec.bootstrap.configRef names an object that does not exist.
	BootstrapConfigNotFoundReason = "BootstrapConfigNotFound"
	// WaitingForDataSecretReason: the bootstrap config has not produced its data Secret yet.
	WaitingForDataSecretReason = "WaitingForDataSecret"
	// BootstrapFailedReason: the bootstrap provider reports a failure.
	BootstrapFailedReason = "BootstrapFailed"
	// InfrastructureNotFoundReason: spec.template.spec.infrastructureRef names an object that does not exist.
	InfrastructureNotFoundReason = "InfrastructureNotFound"
	// KindNotServedReason: a reference names a kind whose CRD is not installed.
	KindNotServedReason = "KindNotServed"
	// WaitingForInfrastructureReason: the infrastructure provider has not reported the pool provisioned yet.
	WaitingForInfrastructureReason = "WaitingForInfrastructure"
	// InfrastructureFailedReason: the infrastructure provider reports a failure.
	InfrastructureFailedReason = "InfrastructureFailed"
	// InvalidProviderDataReason: a provider wrote a contract field with the wrong type.
	InvalidProviderDataReason = "InvalidProviderData"
	// WaitingForKubeconfigReason: the workload cluster's kubeconfig Secret does not exist yet.
	WaitingForKubeconfigReason = "WaitingForKubeconfig"
	// WorkloadClusterUnreachableReason: the workload cluster's API server cannot be reached.
	WorkloadClusterUnreachableReason = "WorkloadClusterUnreachable"
	// ScalingUpReason: fewer replicas are Ready than desired.
	ScalingUpReason = "ScalingUp"
	// ScalingDownReason: more instances exist than desired.
	ScalingDownReason = "ScalingDown"
	// DeletingReason: the pool is being deleted.
	DeletingReason = "Deleting"
	// MachineCRDNotServedReason: the infrastructure keeps per-instance objects, but Cluster API's Machine CRD is
	// not installed, so no MachinePool Machines exist.
	MachineCRDNotServedReason = "MachineCRDNotServed"
	// MachineCreationFailedReason: creating or updating a MachinePool Machine failed.
	MachineCreationFailedReason = "MachineCreationFailed"
)
