// Package machinepool is the core MachinePool controller. It reads infrastructure pools and bootstrap configs of
// any kind through Cluster API's contracts (internal/contract), copies what they report onto the MachinePool,
// maps provider IDs to workload-cluster Nodes (internal/workload) and keeps the pool's phase and conditions
// true. One file per phase of a reconcile: cluster, references, bootstrap, infrastructure, nodes, status,
// delete.
//
// It imports the API packages, internal/contract, internal/conditions and internal/workload; never another
// controller.
package machinepool
