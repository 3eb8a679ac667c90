// Package simmachinepool is the reference infrastructure provider's pool controller: it drives a scaling group
// through cloud.Cloud to the replica count of the SimMachinePool's owning MachinePool and reports its instances
// through Cluster API's InfraMachinePool contract (spec.providerIDList, status.replicas, status.ready and
// status.initialization.provisioned).
//
// Each pass observes (the cloud's instances, their Nodes and Machines), plans (plan: a pure function deciding
// the capacity and which instances go) and carries the plan out (removals through Machines or drain and
// terminate, then the group's capacity, the per-instance SimMachinePoolMachines and the status). It names
// nothing of the simulated cloud: the pool's spec.simulation reaches the cloud as opaque provider
// configuration, and internal/cloud/sim runs its own kubelets.
//
// It imports the API packages, internal/cloud, internal/conditions, internal/drain, internal/patch and
// internal/workload; never another controller.
package simmachinepool
