// Package v1beta1 holds the infrastructure.cluster.x-k8s.io/v1beta1 API of the reference infrastructure
// provider: SimMachinePool, an InfraMachinePool (in Cluster API's contract) backed by a simulated cloud, and
// SimMachinePoolTemplate.
//
// It imports Kubernetes API machinery and the core API's condition types.
//
// +kubebuilder:object:generate=true
// +groupName=infrastructure.cluster.x-k8s.io
package v1beta1
