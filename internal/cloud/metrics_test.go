package cloud_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/machinepool-operator/machinepool-operator/internal/cloud"
	"github.com/machinepool-operator/machinepool-operator/internal/cloud/cloudtest"
	"github.com/machinepool-operator/machinepool-operator/internal/metrics"
)

func TestWithMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := metrics.Register(reg); err != nil {
		t.Fatal(err)
	}
	fake := &cloudtest.Fake{}
	c := cloud.WithMetrics(fake, "fake")
	ctx := context.Background()
	group := cloud.GroupRef{Namespace: "ns", Name: "g"}
	boom := errors.New("boom")
	fake.Fail(cloudtest.Instances, boom)
	fake.Fail(cloudtest.Terminate, fmt.Errorf("wrapped: %w", context.DeadlineExceeded))

	_ = c.EnsureGroup(ctx, cloud.GroupSpec{Ref: group, Desired: 1})
	_ = c.EnsureGroup(ctx, cloud.GroupSpec{Ref: group, Desired: 1})
	if _, err := c.Instances(ctx, group); !errors.Is(err, boom) {
		t.Fatalf("the decorator must pass errors through, got %v", err)
	}
	_ = c.Terminate(ctx, group, "g-1")
	_ = c.Terminate(ctx, group, "missing")

	want := `
# HELP machinepool_cloud_api_calls_total Calls to a cloud's scaling-group API, by provider and method.
# TYPE machinepool_cloud_api_calls_total counter
machinepool_cloud_api_calls_total{method="EnsureGroup",provider="fake"} 2
machinepool_cloud_api_calls_total{method="Instances",provider="fake"} 1
machinepool_cloud_api_calls_total{method="Terminate",provider="fake"} 2
# HELP machinepool_cloud_api_errors_total Cloud scaling-group API calls that failed, by provider, method and error (GroupNotFound, InstanceNotFound, Timeout, Canceled, Other).
# TYPE machinepool_cloud_api_errors_total counter
machinepool_cloud_api_errors_total{error="InstanceNotFound",method="Terminate",provider="fake"} 1
machinepool_cloud_api_errors_total{error="Other",method="Instances",provider="fake"} 1
machinepool_cloud_api_errors_total{error="Timeout",method="Terminate",provider="fake"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "machinepool_cloud_api_calls_total", "machinepool_cloud_api_errors_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "machinepool_cloud_api_duration_seconds"); err != nil || n != 3 {
		t.Errorf("duration series = %d (%v), want 3 (one per method called)", n, err)
	}
	if got := len(fake.Calls()); got != 5 {
		t.Errorf("the fake saw %d calls, want 5", got)
	}
}
