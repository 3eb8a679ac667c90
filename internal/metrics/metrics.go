// Package metrics holds every metric the manager adds to controller-runtime's, all named machinepool_*, in one
// place. They are package-level collectors that work unregistered (tests need nothing); the manager registers
// them once, explicitly, with Register. Reconcile counts, durations and errors are controller-runtime's own
// (controller_runtime_reconcile_total, _time_seconds and _errors_total, by controller): nothing here repeats
// them.
package metrics

import "github.com/prometheus/client_golang/prometheus"

var (
	// Replicas are a MachinePool's replica counts by kind: desired (spec.replicas), current (instances the
	// infrastructure reports), ready and available (Nodes).
	Replicas = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "machinepool_replicas",
		Help: "Replicas of a MachinePool by kind: desired (spec.replicas), current (instances the infrastructure reports), ready and available (Nodes).",
	}, []string{"namespace", "name", "kind"})

	// WorkloadClusterUp is 1 while a workload cluster's API server answers the health probe, 0 while not.
	WorkloadClusterUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "machinepool_workload_cluster_up",
		Help: "Whether a workload cluster's API server answers (1) or not (0), for the clusters the manager has a client for.",
	}, []string{"namespace", "cluster"})

	// Remediations counts the Machines of a MachinePool deleted because a health check marked them unhealthy.
	Remediations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "machinepool_remediations_total",
		Help: "Machines of a MachinePool deleted (and so replaced) because a MachineHealthCheck marked them unhealthy.",
	}, []string{"namespace", "name"})

	// CloudCalls counts a provider's calls to its cloud's scaling-group API.
	CloudCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "machinepool_cloud_api_calls_total", Help: "Calls to a cloud's scaling-group API, by provider and method.",
	}, []string{"provider", "method"})
	// CloudErrors counts the calls that failed, by error class (cloud.ErrorClass).
	CloudErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "machinepool_cloud_api_errors_total",
		Help: "Cloud scaling-group API calls that failed, by provider, method and error (GroupNotFound, InstanceNotFound, Timeout, Canceled, Other).",
	}, []string{"provider", "method", "error"})
	// CloudDuration is the calls' latency.
	CloudDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "machinepool_cloud_api_duration_seconds", Help: "Latency of cloud scaling-group API calls, in seconds, by provider and method.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"provider", "method"})
)

// All are the collectors Register registers.
func All() []prometheus.Collector {
	return []prometheus.Collector{Replicas, WorkloadClusterUp, Remediations, CloudCalls, CloudErrors, CloudDuration}
}

// Register registers every metric of the manager with reg (the manager's registry); call it once.
func Register(reg prometheus.Registerer) error {
	for _, c := range All() {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
