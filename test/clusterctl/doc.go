// Package clusterctl checks the clusterctl provider files that `make release-manifests` writes (infrastructure
// provider "sim") with Cluster API's real clusterctl v1.7.1 binary (built from the module proxy by make, pinned
// in hack/tools/clusterctl) against a local provider repository: generate provider with EXP_MACHINE_POOL unset,
// true and false, and generate cluster, whose output a real API server accepts. It has no non-test code.
package clusterctl
