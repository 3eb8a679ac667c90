// Package capi holds the parts of Cluster API's v1beta1 core types that this operator reads and writes but does
// not own: Machine (MachinePool Machines) and MachineHealthCheck. The structs carry only the fields we use, so they are read through
// the cache and written with patches computed between two copies (never Update: it would drop the fields we do
// not model).
// +kubebuilder:object:generate=true
package capi
