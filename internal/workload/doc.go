// Package workload gives the controllers of a manager one shared cached client per workload cluster, reached
// through the Secret "<cluster>-kubeconfig" (key "value") in the cluster's namespace. The manager builds one
// Tracker and hands it to every controller. Each client watches Nodes (and the kinds subscribers ask for),
// strips fields no controller reads, indexes Nodes by spec.providerID, probes the API server's health, and
// tells every subscriber about Node and health changes so that exactly the affected objects are requeued.
// Clients are built on first use, rebuilt when the Secret changes, and torn down when their last user releases
// them.
//
// It imports Kubernetes and controller-runtime libraries, never a controller.
package workload
