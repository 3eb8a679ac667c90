// Package sim is a simulated cloud behind the cloud.Cloud interface: scaling groups whose instances move pending →
// running → terminating → terminated, with a boot delay (plus deterministic jitter), a capacity limit and
// injectable faults, configured per group by the SimMachinePool's spec.simulation (handed through as
// GroupSpec.ProviderConfig). With WithKubelets it also runs each instance's kubelet (kubelets.go): Nodes register
// in the group's workload cluster, heartbeat, go Unknown when the instance stops, and Pods being deleted on them
// are finished; spec.simulation.faults make them misbehave from a start time on (faults.go: a kubelet that stops
// posting status and whose Node turns Unknown after the node monitor grace period, a kubelet reporting NotReady,
// an instance that never registers its Node). Its state lives where a real cloud's would, outside the pool
// objects: one ConfigMap per scaling group (sim-cloud-<group>, in the group's namespace), written before an
// instance launches, so a restarted manager neither loses nor duplicates instances. Instance IDs are unique across the whole cloud: a short hash of
// namespace/group plus the group's counter.
//
// It imports internal/cloud, internal/workload, the SimMachinePool API, Kubernetes API types and the
// controller-runtime client.
package sim
