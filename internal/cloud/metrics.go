package cloud

import (
	"context"
	"errors"
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
			Name: "machinepool_cloud_api_calls_total", Help: "Calls to a cloud's scaling-group API, by provider and method.",
		}, []string{"provider", "method"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "machinepool_cloud_api_errors_total",
			Help: "Cloud scaling-group API calls that failed, by provider, method and error (GroupNotFound, InstanceNotFound, Timeout, Canceled, Other).",
		}, []string{"provider", "method", "error"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "machinepool_cloud_api_duration_seconds", Help: "Latency of cloud scaling-group API calls, in seconds, by provider and method.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"provider", "method"}),
	}
	reg.MustRegister(m.calls, m.errors, m.duration)
	return m
}

// WithMetrics wraps any Cloud so that every call is counted and timed under the provider's name.
func WithMetrics(c Cloud, provider string, m *Metrics) Cloud {
	return &measured{next: c, provider: provider, m: m}
}

type measured struct {
	next     Cloud
	provider string
	m        *Metrics
}

// ErrorClass is the error label of a failed call: the errors this package names, timeouts, cancellations,
// and Other.
func ErrorClass(err error) string {
	switch {
	case errors.Is(err, ErrGroupNotFound):
		return "GroupNotFound"
	case errors.Is(err, ErrInstanceNotFound):
		return "InstanceNotFound"
	case errors.Is(err, context.DeadlineExceeded):
		return "Timeout"
	case errors.Is(err, context.Canceled):
		return "Canceled"
	}
	return "Other"
}

func (c *measured) observe(method string, start time.Time, err error) {
	c.m.calls.WithLabelValues(c.provider, method).Inc()
	c.m.duration.WithLabelValues(c.provider, method).Observe(time.Since(start).Seconds())
	if err != nil {
		c.m.errors.WithLabelValues(c.provider, method, ErrorClass(err)).Inc()
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

func (c *measured) InstanceType(ctx context.Context, name string) (out InstanceType, err error) {
	defer func(start time.Time) { c.observe("InstanceType", start, err) }(time.Now())
	return c.next.InstanceType(ctx, name)
}
