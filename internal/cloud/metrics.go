package cloud

import (
	"context"
	"errors"
	"time"

	"github.com/machinepool-operator/machinepool-operator/internal/metrics"
)

// WithMetrics wraps any Cloud so that every call is counted and timed under the provider's name
// (machinepool_cloud_api_* in internal/metrics).
func WithMetrics(c Cloud, provider string) Cloud {
	return &measured{next: c, provider: provider}
}

type measured struct {
	next     Cloud
	provider string
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
	metrics.CloudCalls.WithLabelValues(c.provider, method).Inc()
	metrics.CloudDuration.WithLabelValues(c.provider, method).Observe(time.Since(start).Seconds())
	if err != nil {
		metrics.CloudErrors.WithLabelValues(c.provider, method, ErrorClass(err)).Inc()
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
