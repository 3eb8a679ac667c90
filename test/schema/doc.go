// Package schema pins the generated CRDs: their property paths and types (golden files), the Cluster API
// contract label, and wire compatibility with Cluster API v1.7.1's MachinePool CRD. It has no non-test code.
package schema
