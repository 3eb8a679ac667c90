package workload

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// clusterUp is 1 while a workload cluster's API server answers the health probe, 0 while it does not.
var clusterUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "machinepool_workload_cluster_up",
	Help: "Whether a workload cluster's API server answers (1) or not (0), for the clusters the manager has a client for.",
}, []string{"namespace", "cluster"})

func init() {
	metrics.Registry.MustRegister(clusterUp)
}
