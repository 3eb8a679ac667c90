// Package simmachinepool is the reference infrastructure provider's controller: it drives a scaling group of
// the simulated cloud (internal/cloud) to the replica count of the SimMachinePool's owning MachinePool and
// reports its instances through Cluster API's InfraMachinePool contract (spec.providerIDList, status.replicas,
// status.ready and status.initialization.provisioned). Its instances register Nodes in the workload cluster the
// way kubelets would (internal/cloud/sim).
//
// It imports the API packages, internal/cloud, internal/cloud/sim, internal/conditions and internal/workload;
// never another controller.
package simmachinepool
