// Package v1beta2 holds the cluster.x-k8s.io/v1beta2 MachinePool API, the shape Cluster API writes since v1.11:
// references by API group (the version comes from the referenced CRD's contract label), timeouts in seconds,
// replica counts as pointers, metav1.Condition conditions, and the v1beta1 status kept under
// status.deprecated.v1beta1. Its JSON shape is Cluster API v1.14's v1beta2 MachinePool, field for field.
//
// The version is in the CRD but not served yet: conversion to and from v1beta1 comes first.
//
// It imports only Kubernetes API machinery.
//
// +kubebuilder:object:generate=true
// +groupName=cluster.x-k8s.io
package v1beta2
