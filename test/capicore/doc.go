// Package capicore runs the Sim infrastructure provider next to Cluster API v1.7.1's own core controllers (its
// manager binary, built from the module proxy by make, pinned in hack/tools/clusterctl), as clusterctl installs
// them: our manager runs only the simmachinepool controller. It shows that SimMachinePool and
// SimMachinePoolMachine follow Cluster API's contracts: Cluster API's MachinePool controller drives the pool and
// keeps its Machines, Cluster API's Machine controller drains and deletes them, and a Machine marked
// delete-machine takes its instance with it. It has no non-test code.
package capicore
