// Package e2e drives the whole loop as a user does: the manager binary as its own process (flags as a user
// passes them), a management and a workload control plane, and only kubectl-equivalent actions (apply, scale,
// delete). Faults are real: the manager is killed with SIGKILL and restarted, the workload API server is cut
// off, an instance is terminated behind the operator's back in the simulated cloud's state, and of two replicas
// with leader election (each serving the webhooks behind a stand-in for their Service) the leader is killed or
// stopped mid-work. Its tests carry the build tag "e2e" and run with `make test-e2e`. It has no non-test code.
package e2e
