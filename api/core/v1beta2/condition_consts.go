package v1beta2

// The v1beta2 conditions of a MachinePool (status.conditions, metav1.Condition), modelled on Cluster API v1.14's
// MachineSet and MachineDeployment conditions; Cluster API v1.14 itself sets only Paused on MachinePools.
const (
	// AvailableCondition is True when at least spec.replicas instances have been Ready for minReadySeconds.
	AvailableCondition = "Available"
	// BootstrapConfigReadyCondition is True when the bootstrap data Secret exists (spec.template.spec.bootstrap).
	BootstrapConfigReadyCondition = "BootstrapConfigReady"
	// InfrastructureReadyCondition is True when the infrastructure pool reports itself provisioned.
	InfrastructureReadyCondition = "InfrastructureReady"
	// MachinesReadyCondition is True when every instance the infrastructure reports has a Ready Node.
	MachinesReadyCondition = "MachinesReady"
	// MachinesUpToDateCondition is True when every instance runs the pool's current spec, as the
	// infrastructure pool reports it (status.upToDateReplicas); Unknown where the provider does not report it.
	MachinesUpToDateCondition = "MachinesUpToDate"
	// ScalingUpCondition is True while the infrastructure reports fewer instances than spec.replicas.
	ScalingUpCondition = "ScalingUp"
	// ScalingDownCondition is True while the infrastructure reports more instances than spec.replicas.
	ScalingDownCondition = "ScalingDown"
	// DeletingCondition is True while the pool is being deleted.
	DeletingCondition = "Deleting"
	// RemediatingCondition is True while Machines of the pool that a MachineHealthCheck marked unhealthy wait
	// for or are in remediation (reasons Remediating, RemediationHeld; NotRemediating when False), as Cluster API
	// v1.14's MachineSet reports it; absent for pools without MachinePool Machines.
	RemediatingCondition = "Remediating"
	// PausedCondition is True while the pool or its Cluster is paused.
	PausedCondition = "Paused"
)

// Reasons of the v1beta2 conditions. Where a condition is False for a cause the v1beta1 conditions name, the
// v1beta1 reason is used (KindNotServed, BootstrapConfigNotFound, WaitingForDataSecret, InfrastructureNotFound,
// WaitingForInfrastructure, WaitingForClusterInfrastructure, ...), with its message.
const (
	AvailableReason          = "Available"
	NotAvailableReason       = "NotAvailable"
	ReadyReason              = "Ready"
	NotReadyReason           = "NotReady"
	NoReplicasReason         = "NoReplicas"
	UpToDateReason           = "UpToDate"
	NotUpToDateReason        = "NotUpToDate"
	UpToDateUnknownReason    = "UpToDateUnknown"
	ScalingUpReason          = "ScalingUp"
	NotScalingUpReason       = "NotScalingUp"
	ScalingDownReason        = "ScalingDown"
	NotScalingDownReason     = "NotScalingDown"
	DeletingReason           = "Deleting"
	NotDeletingReason        = "NotDeleting"
	PausedReason             = "Paused"
	NotPausedReason          = "NotPaused"
	DataSecretProvidedReason = "DataSecretProvided"
)
