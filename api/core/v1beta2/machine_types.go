package v1beta2

import corev1 "k8s.io/api/core/v1"

// ContractVersionedObjectReference names an object of a provider's kind by API group, kind and name; the API
// version is the one the kind's CRD names for the contract in its cluster.x-k8s.io/<contract> label.
type ContractVersionedObjectReference struct {
	// kind of the referenced object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$`
	Kind string `json:"kind,omitempty"`

	// name of the referenced object, in the referencing object's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name,omitempty"`

	// apiGroup of the referenced object's kind.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	APIGroup string `json:"apiGroup,omitempty"`
}

// IsDefined says whether the reference names anything.
func (r ContractVersionedObjectReference) IsDefined() bool {
	return r != ContractVersionedObjectReference{}
}

// ObjectMeta is the metadata a template gives the objects made from it.
type ObjectMeta struct {
	// labels put on every machine of the pool.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`

	// annotations put on every machine of the pool.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// MachineTemplateSpec describes the machines of a pool.
type MachineTemplateSpec struct {
	// metadata of the machines.
	// +optional
	ObjectMeta `json:"metadata,omitempty,omitzero"`

	// spec of the machines.
	// +required
	Spec MachineSpec `json:"spec,omitempty,omitzero"`
}

// MachineSpec is the desired state of the pool's machines.
type MachineSpec struct {
	// clusterName is the name of the Cluster the machines belong to.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	ClusterName string `json:"clusterName,omitempty"`

	// bootstrap says where the machines' bootstrap data comes from.
	// +required
	Bootstrap Bootstrap `json:"bootstrap,omitempty,omitzero"`

	// infrastructureRef names the infrastructure pool (an InfraMachinePool) that runs the machines.
	// +required
	InfrastructureRef ContractVersionedObjectReference `json:"infrastructureRef,omitempty,omitzero"`

	// version is the Kubernetes version the machines run.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Version string `json:"version,omitempty"`

	// providerID of a machine; unused on a pool's template.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	ProviderID string `json:"providerID,omitempty"`

	// failureDomain of a machine; a pool spreads over spec.failureDomains instead.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	FailureDomain string `json:"failureDomain,omitempty"`

	// minReadySeconds is how long a machine's Node must be Ready before the machine counts as available.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MinReadySeconds *int32 `json:"minReadySeconds,omitempty"`

	// readinessGates are further conditions a machine's readiness includes.
	// +optional
	// +listType=map
	// +listMapKey=conditionType
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	ReadinessGates []MachineReadinessGate `json:"readinessGates,omitempty"`

	// deletion holds the timeouts of a machine's deletion.
	// +optional
	Deletion MachineDeletionSpec `json:"deletion,omitempty,omitzero"`

	// taints Cluster API keeps on the machines' Nodes. Cluster API's v1beta2 webhook refuses them on a pool.
	// +optional
	// +listType=map
	// +listMapKey=key
	// +listMapKey=effect
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Taints []MachineTaint `json:"taints,omitempty"`
}

// Bootstrap says where a machine's bootstrap data comes from: a bootstrap config, or a Secret named directly.
type Bootstrap struct {
	// configRef names the bootstrap config (a BootstrapConfig of a bootstrap provider).
	// +optional
	ConfigRef ContractVersionedObjectReference `json:"configRef,omitempty,omitzero"`

	// dataSecretName names the Secret holding the bootstrap data, in key "value".
	// +optional
	// +kubebuilder:validation:MinLength=0
	// +kubebuilder:validation:MaxLength=253
	DataSecretName *string `json:"dataSecretName,omitempty"`
}

// MachineDeletionSpec holds the timeouts of a machine's deletion, in seconds.
type MachineDeletionSpec struct {
	// nodeDrainTimeoutSeconds bounds the drain of the machine's Node; unset or 0 waits as long as it takes.
	// +optional
	// +kubebuilder:validation:Minimum=0
	NodeDrainTimeoutSeconds *int32 `json:"nodeDrainTimeoutSeconds,omitempty"`

	// nodeVolumeDetachTimeoutSeconds bounds the wait for the Node's volumes to detach; unset or 0 waits.
	// +optional
	// +kubebuilder:validation:Minimum=0
	NodeVolumeDetachTimeoutSeconds *int32 `json:"nodeVolumeDetachTimeoutSeconds,omitempty"`

	// nodeDeletionTimeoutSeconds bounds the retries of the Node's deletion; unset means 10, 0 retries forever.
	// +optional
	// +kubebuilder:validation:Minimum=0
	NodeDeletionTimeoutSeconds *int32 `json:"nodeDeletionTimeoutSeconds,omitempty"`
}

// ConditionPolarity says whether a condition is good when True (Positive) or when False (Negative).
// +kubebuilder:validation:Enum=Positive;Negative
type ConditionPolarity string

// Condition polarities.
const (
	PositivePolarityCondition ConditionPolarity = "Positive"
	NegativePolarityCondition ConditionPolarity = "Negative"
)

// MachineReadinessGate names a further condition a machine's readiness includes.
type MachineReadinessGate struct {
	// conditionType is the type of the condition, on the machine.
	// +required
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=316
	ConditionType string `json:"conditionType,omitempty"`

	// polarity of the condition; Positive when unset.
	// +optional
	Polarity ConditionPolarity `json:"polarity,omitempty"`
}

// MachineTaintPropagation says when a taint is put on a Node: Always (kept there) or OnInitialization (once).
// +kubebuilder:validation:Enum=Always;OnInitialization
type MachineTaintPropagation string

// Taint propagations.
const (
	MachineTaintPropagationAlways           MachineTaintPropagation = "Always"
	MachineTaintPropagationOnInitialization MachineTaintPropagation = "OnInitialization"
)

// MachineTaint is a taint Cluster API keeps on a machine's Node.
type MachineTaint struct {
	// key of the taint.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=317
	// +kubebuilder:validation:Pattern=^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$
	Key string `json:"key,omitempty"`

	// value of the taint.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$
	Value string `json:"value,omitempty"`

	// effect of the taint.
	// +required
	// +kubebuilder:validation:Enum=NoSchedule;PreferNoSchedule;NoExecute
	Effect corev1.TaintEffect `json:"effect,omitempty"`

	// propagation says when the taint is put on the Node.
	// +required
	Propagation MachineTaintPropagation `json:"propagation,omitempty"`
}
