package cloud

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the instruments WithMetrics records into.
type Metrics struct {
	calls    *prometheus.CounterVec
	errors   *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics creates the cloud API metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "machinepool_cloud_api_calls_total", Help: "Calls to the cloud's scaling-group API, by method.",
		}, []string{"method"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "machinepool_cloud_api_errors_total", Help: "Cloud scaling-group API calls that failed, by method.",
		}, []string{"method"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "machinepool_cloud_api_duration_seconds", Help: "Latency of cloud scaling-group API calls, in seconds, by method.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"method"}),
	}
	reg.MustRegister(m.calls, m.errors, m.duration)
	return m
}

// WithMetrics wraps any Cloud so that every call is counted and timed.
func WithMetrics(c Cloud, m *Metrics) Cloud { return &measured{next: c, m: m} }

type measured struct {
	next Cloud
	m    *Metrics
}

func (c *measured) observe(method string, start time.Time, err error) {
	c.m.calls.WithLabelValues(method).Inc()
	c.m.duration.WithLabelValues(method).Observe(time.Since(start).Seconds())
	if err != nil {
		c.m.errors.WithLabelValues(method).Inc()
	}
}

func (c *measured) EnsureGroup(ctx context.Context, spec GroupSpec) (err error) {
	defer func(start time.Time) { c.observe("EnsureGroup", start, err) }(time.Now())
	return c.next.EnsureGroup(ctx, spec)
}

func (c *measured) Instances(ctx context.Context, group GroupRef) (out []Instance, err error) {
	defer func(start time.Time) { c.observe("Instances", start, err) }(time.Now())
	return c.next.Instances(ctx, group)
}

func (c *measured) Terminate(ctx context.Context, group GroupRef, id string) (err error) {
	defer func(start time.Time) { c.observe("Terminate", start, err) }(time.Now())
	return c.next.Terminate(ctx, group, id)
}

func (c *measured) DeleteGroup(ctx context.Context, group GroupRef) (err error) {
	defer func(start time.Time) { c.observe("DeleteGroup", start, err) }(time.Now())
	return c.next.DeleteGroup(ctx, group)
}
