// Package workload gives controllers one cached client per workload cluster, reached through the Secret
// "<cluster>-kubeconfig" (key "value") in the cluster's namespace. Each client watches Nodes only, strips
// fields no controller reads, indexes Nodes by spec.providerID, and reports Node changes so that exactly the
// affected MachinePools are requeued. Clients are built on first use, rebuilt when the Secret changes and torn
// down when it goes.
//
// It imports Kubernetes and controller-runtime libraries, never a controller.
package workload
