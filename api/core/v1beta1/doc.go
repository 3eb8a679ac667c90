// Package v1beta1 holds the cluster.x-k8s.io/v1beta1 MachinePool API: a group of worker machines created by one
// infrastructure resource. Its JSON shape is Cluster API v1.7's v1beta1 MachinePool, field for field, so that
// manifests, infrastructure providers and the cluster-autoscaler written for Cluster API work unchanged.
//
// It imports only Kubernetes API machinery.
//
// +kubebuilder:object:generate=true
// +groupName=cluster.x-k8s.io
package v1beta1
