// Package providers proves the core MachinePool controller against real infrastructure providers' CRDs: Cluster
// API Provider AWS v2.13.0 (AWSMachinePool, AWSManagedMachinePool and, for MachinePool Machines, AWSMachine) and
// Cluster API Provider GCP v1.13.1 (GCPMachinePool, GCPManagedMachinePool), which `make provider-crds` copies
// with their contract labels from the Go module cache, and the MachinePools of those providers' own cluster
// templates. The machinepool and machinepoolmachine controllers run in-process against envtest; no provider runs:
// the specs play each provider's controllers, writing what their code writes, and check what ours makes of it.
//
// It has no non-test code. Its tests import the project's API types, the machinepool and machinepoolmachine
// controllers with what wires them (internal/workload), internal/capi, internal/contract and test/support.
package providers
