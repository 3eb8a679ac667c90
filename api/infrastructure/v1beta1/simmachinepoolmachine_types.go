package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
)

// SimMachinePoolMachineFinalizer holds a SimMachinePoolMachine until its instance is terminated.
const SimMachinePoolMachineFinalizer = "simmachinepoolmachine.infrastructure.cluster.x-k8s.io"

// SimMachinePoolMachineSpec identifies the instance.
type SimMachinePoolMachineSpec struct {
	// providerID is the instance's provider ID, sim://<region>/<group>/<id>; its Node and its Machine carry
	// the same.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	ProviderID string `json:"providerID,omitempty"`

	// instanceID is the instance's ID in the simulated cloud.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	InstanceID string `json:"instanceID,omitempty"`

	// failureDomain is the zone the instance runs in.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	FailureDomain string `json:"failureDomain,omitempty"`
}

// SimMachinePoolMachineStatus is the instance as the simulated cloud reports it.
type SimMachinePoolMachineStatus struct {
	// ready is true while the instance runs (Cluster API's v1beta1 InfraMachine contract).
	// +optional
	Ready bool `json:"ready"`

	// initialization reports provisioning in the v1beta2 contract's form.
	// +optional
	Initialization *Initialization `json:"initialization,omitempty"`

	// state is Pending, Running, Terminating or Terminated.
	// +optional
	// +kubebuilder:validation:Enum=Pending;Running;Terminating;Terminated
	State InstanceState `json:"state,omitempty"`

	// specHash identifies the configuration the instance was launched with; it differs from the pool's while
	// a rolling update is due to replace the instance.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	SpecHash string `json:"specHash,omitempty"`

	// conditions say how the instance is doing.
	// +optional
	// +listType=atomic
	Conditions corev1beta1.Conditions `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:path=simmachinepoolmachines,shortName=smpm,scope=Namespaced,categories=cluster-api
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:metadata:labels="cluster.x-k8s.io/v1beta1=v1beta1"
// +kubebuilder:printcolumn:name="Cluster",type="string",JSONPath=".metadata.labels['cluster\\.x-k8s\\.io/cluster-name']",description="Cluster the instance belongs to"
// +kubebuilder:printcolumn:name="Pool",type="string",JSONPath=".metadata.labels['cluster\\.x-k8s\\.io/pool-name']",description="MachinePool the instance belongs to"
// +kubebuilder:printcolumn:name="State",type="string",JSONPath=".status.state",description="Instance state"
// +kubebuilder:printcolumn:name="Ready",type="boolean",JSONPath=".status.ready",description="Instance running"
// +kubebuilder:printcolumn:name="ProviderID",type="string",JSONPath=".spec.providerID",description="Provider ID of the instance"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description="Time since creation"

// SimMachinePoolMachine is one instance of a SimMachinePool's scaling group: the InfraMachine behind a
// MachinePool Machine. The SimMachinePool controller creates it; deleting it terminates the instance.
type SimMachinePoolMachine struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec identifies the instance.
	// +optional
	Spec SimMachinePoolMachineSpec `json:"spec,omitempty"`

	// status is the instance as the simulated cloud reports it.
	// +optional
	Status SimMachinePoolMachineStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// SimMachinePoolMachineList is a list of SimMachinePoolMachines.
type SimMachinePoolMachineList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the SimMachinePoolMachines.
	Items []SimMachinePoolMachine `json:"items"`
}

func init() {
	objectTypes = append(objectTypes, &SimMachinePoolMachine{}, &SimMachinePoolMachineList{})
}
