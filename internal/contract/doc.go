// Package contract reads and writes the fields that Cluster API's provider contracts define (InfraMachinePool,
// BootstrapConfig, Cluster) on unstructured objects of any kind. It is the only package that knows those field
// paths; controllers ask it, never the objects' Go types.
//
// Every accessor tells "absent" from "present with a zero value" and reports a field of the wrong type as an
// error instead of guessing, so a misbehaving provider becomes a condition, never a crash.
//
// It also knows the bootstrap contract's data Secret (HasBootstrapData).
//
// It imports Kubernetes API machinery and the controller-runtime client.
package contract
