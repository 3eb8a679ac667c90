package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
)

// APIEndpoint is where a workload cluster's API server listens.
type APIEndpoint struct {
	// host is the API server's DNS name or IP address.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Host string `json:"host,omitempty"`

	// port is the API server's TCP port.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`
}

// SimClusterSpec is the desired state of a simulated cluster's infrastructure.
type SimClusterSpec struct {
	// controlPlaneEndpoint is the workload cluster's API server. Left empty, it is taken from the kubeconfig
	// in the Secret named by kubeconfigSecretName.
	// +optional
	ControlPlaneEndpoint APIEndpoint `json:"controlPlaneEndpoint,omitempty"`

	// kubeconfigSecretName names the Secret (in this namespace, key "value") whose kubeconfig reaches the
	// workload cluster. Defaults to "<name>-kubeconfig", the Secret Cluster API's convention names after the
	// Cluster.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	KubeconfigSecretName string `json:"kubeconfigSecretName,omitempty"`
}

// SimClusterStatus is the observed state of a simulated cluster's infrastructure.
type SimClusterStatus struct {
	// ready is true once the control plane endpoint is known (Cluster API's v1beta1 InfraCluster contract).
	// +optional
	Ready bool `json:"ready"`

	// initialization reports provisioning in the v1beta2 contract's form.
	// +optional
	Initialization *Initialization `json:"initialization,omitempty"`

	// conditions say how the cluster's infrastructure is doing.
	// +optional
	// +listType=atomic
	Conditions corev1beta1.Conditions `json:"conditions,omitempty"`

	// observedGeneration is the metadata.generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:path=simclusters,scope=Namespaced,categories=cluster-api
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:metadata:labels="cluster.x-k8s.io/v1beta1=v1beta1"
// +kubebuilder:printcolumn:name="Ready",type="boolean",JSONPath=".status.ready",description="Control plane endpoint known"
// +kubebuilder:printcolumn:name="Endpoint",type="string",JSONPath=".spec.controlPlaneEndpoint.host",description="Workload API server"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp",description="Time since creation"

// SimCluster is the simulated cloud's InfraCluster: it lets a Cluster API Cluster reference the simulated
// cloud, and reports the workload cluster's API endpoint.
type SimCluster struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state.
	// +optional
	Spec SimClusterSpec `json:"spec,omitempty"`

	// status is the observed state.
	// +optional
	Status SimClusterStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// SimClusterList is a list of SimClusters.
type SimClusterList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the SimClusters.
	Items []SimCluster `json:"items"`
}

func init() {
	objectTypes = append(objectTypes, &SimCluster{}, &SimClusterList{})
}
