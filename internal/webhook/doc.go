// Package webhook holds the admission webhooks the manager serves: defaulting and validation of MachinePool,
// SimMachinePool and SimMachinePoolTemplate. The rules follow Cluster API v1.7.1's MachinePool webhook, so a
// manifest Cluster API accepts is accepted here; problems that Cluster API lets through are admission warnings.
//
// It imports the API packages and internal/feature.
package webhook
