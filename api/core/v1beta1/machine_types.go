package v1beta1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ObjectMeta is the part of Kubernetes object metadata that a template may set on the objects made from it.
type ObjectMeta struct {
	// labels are copied onto the objects made from this template. Keys and values follow the Kubernetes label
	// syntax.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`

	// annotations are copied onto the objects made from this template. Keys follow the Kubernetes annotation
	// syntax; all annotations together may hold at most 256 KiB.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// MachineTemplateSpec describes the machines a MachinePool makes.
type MachineTemplateSpec struct {
	// metadata holds labels and annotations for the pool's machines.
	// +optional
	ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired configuration of each machine.
	// +optional
	Spec MachineSpec `json:"spec,omitempty"`
}

// MachineSpec is the desired configuration of one machine of a pool.
type MachineSpec struct {
	// clusterName is the name of the Cluster the machines belong to.
	// +kubebuilder:validation:MinLength=1
	// +required
	ClusterName string `json:"clusterName"`

	// bootstrap says where a machine's bootstrap data (cloud-init, ignition, ...) comes from.
	// +required
	Bootstrap Bootstrap `json:"bootstrap"`

	// infrastructureRef points to the infrastructure provider's pool object (an InfraMachinePool such as
	// AWSMachinePool or SimMachinePool) that creates the machines. Its namespace must be the MachinePool's.
	// +required
	InfrastructureRef corev1.ObjectReference `json:"infrastructureRef"`

	// version is the Kubernetes version the machines run, with a "v" prefix (for example v1.30.0); one is
	// added when missing. Bootstrap and infrastructure providers read it.
	// +optional
	Version *string `json:"version,omitempty"`

	// providerID is the provider's ID of a single machine. MachinePools list their instances in
	// spec.providerIDList instead; the field exists for compatibility with Cluster API's MachineSpec.
	// +optional
	ProviderID *string `json:"providerID,omitempty"`

	// failureDomain is the failure domain (zone) a machine is created in; it names a failure domain of the
	// Cluster. Pools usually spread over spec.failureDomains instead.
	// +optional
	FailureDomain *string `json:"failureDomain,omitempty"`

	// nodeDrainTimeout is how long draining a Node may take in total before it is deleted anyway (a duration
	// such as "5m"). Unset or 0 means no limit.
	// +optional
	NodeDrainTimeout *metav1.Duration `json:"nodeDrainTimeout,omitempty"`

	// nodeVolumeDetachTimeout is how long to wait for a Node's volumes to detach before it is deleted anyway.
	// Unset or 0 means no limit.
	// +optional
	NodeVolumeDetachTimeout *metav1.Duration `json:"nodeVolumeDetachTimeout,omitempty"`

	// nodeDeletionTimeout is how long to keep trying to delete a machine's Node from the workload cluster once
	// the machine is being deleted. 0 retries forever; unset means 10s.
	// +optional
	NodeDeletionTimeout *metav1.Duration `json:"nodeDeletionTimeout,omitempty"`
}

// Bootstrap says where a machine's bootstrap data comes from: a bootstrap provider's config object, or a
// Secret that already holds the data.
type Bootstrap struct {
	// configRef points to a bootstrap provider's config object (a KubeadmConfig, for example) in the pool's
	// namespace. Its status.dataSecretName is copied into dataSecretName when it is ready.
	// +optional
	ConfigRef *corev1.ObjectReference `json:"configRef,omitempty"`

	// dataSecretName is the name of the Secret, in the pool's namespace, whose "value" key holds the bootstrap
	// data. Set it yourself to use a Secret without a bootstrap provider; with configRef it is filled in.
	// +optional
	DataSecretName *string `json:"dataSecretName,omitempty"`
}
