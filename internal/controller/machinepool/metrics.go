package machinepool

import (
	"github.com/prometheus/client_golang/prometheus"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/ctrlutil"
	mpmetrics "github.com/machinepool-operator/machinepool-operator/internal/metrics"
)

// recordReplicas publishes a pool's replica counts.
func recordReplicas(pool *corev1beta1.MachinePool) {
	for kind, v := range map[string]int32{
		"desired":   ctrlutil.DesiredReplicas(pool),
		"current":   pool.Status.Replicas,
		"ready":     pool.Status.ReadyReplicas,
		"available": pool.Status.AvailableReplicas,
	} {
		mpmetrics.Replicas.WithLabelValues(pool.Namespace, pool.Name, kind).Set(float64(v))
	}
}

// forgetReplicas drops the series of a pool that is gone.
func forgetReplicas(namespace, name string) {
	mpmetrics.Replicas.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "name": name})
}
