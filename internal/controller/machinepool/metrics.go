package machinepool

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
)

var (
	replicasGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "machinepool_replicas",
		Help: "Replicas of a MachinePool by kind: desired (spec.replicas), current (instances the infrastructure reports), ready and available (Nodes).",
	}, []string{"namespace", "name", "kind"})

	reconcileDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "machinepool_reconcile_duration_seconds",
		Help:    "Time one reconcile of one MachinePool takes, in seconds.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
	})

	reconcileErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "machinepool_reconcile_errors_total",
		Help: "Reconciles of MachinePools that ended in an error (retried with backoff).",
	})
)

func init() {
	metrics.Registry.MustRegister(replicasGauge, reconcileDuration, reconcileErrors)
}

// recordReplicas publishes a pool's replica counts.
func recordReplicas(pool *corev1beta1.MachinePool) {
	for kind, v := range map[string]int32{
		"desired":   desiredReplicas(pool),
		"current":   pool.Status.Replicas,
		"ready":     pool.Status.ReadyReplicas,
		"available": pool.Status.AvailableReplicas,
	} {
		replicasGauge.WithLabelValues(pool.Namespace, pool.Name, kind).Set(float64(v))
	}
}

// forgetReplicas drops the series of a pool that is gone.
func forgetReplicas(namespace, name string) {
	replicasGauge.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "name": name})
}
