package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
)

// SimMachinePoolTemplateResource is what a SimMachinePool made from a template gets.
type SimMachinePoolTemplateResource struct {
	// metadata holds labels and annotations for the SimMachinePools made from the template.
	// +optional
	ObjectMeta corev1beta1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the spec of the SimMachinePools made from the template.
	// +required
	Spec SimMachinePoolSpec `json:"spec"`
}

// SimMachinePoolTemplateSpec is the desired state of a SimMachinePoolTemplate.
type SimMachinePoolTemplateSpec struct {
	// template is the SimMachinePool to make.
	// +required
	Template SimMachinePoolTemplateResource `json:"template"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:path=simmachinepooltemplates,scope=Namespaced,categories=cluster-api
// +kubebuilder:storageversion
// +kubebuilder:metadata:labels="cluster.x-k8s.io/v1beta1=v1beta1"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description="Time since creation"

// SimMachinePoolTemplate is a template for SimMachinePools, for ClusterClass and similar tools.
type SimMachinePoolTemplate struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec holds the template.
	// +optional
	Spec SimMachinePoolTemplateSpec `json:"spec,omitempty"`
}

// +kubebuilder:object:root=true

// SimMachinePoolTemplateList is a list of SimMachinePoolTemplates.
type SimMachinePoolTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the SimMachinePoolTemplates.
	Items []SimMachinePoolTemplate `json:"items"`
}

func init() {
	objectTypes = append(objectTypes, &SimMachinePoolTemplate{}, &SimMachinePoolTemplateList{})
}
