package cloud

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// failingCloud fails every call: a stand-in to check the decorator counts what passes through it.
type failingCloud struct{}

var errBoom = errors.New("boom")

func (failingCloud) EnsureGroup(context.Context, GroupSpec) error            { return nil }
func (failingCloud) Instances(context.Context, GroupRef) ([]Instance, error) { return nil, errBoom }
func (failingCloud) Terminate(context.Context, GroupRef, string) error       { return errBoom }
func (failingCloud) DeleteGroup(context.Context, GroupRef) error             { return nil }

func TestWithMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	c := WithMetrics(failingCloud{}, m)
	ctx := context.Background()
	_ = c.EnsureGroup(ctx, GroupSpec{})
	_ = c.EnsureGroup(ctx, GroupSpec{})
	if _, err := c.Instances(ctx, GroupRef{}); !errors.Is(err, errBoom) {
		t.Fatalf("the decorator must pass errors through, got %v", err)
	}
	_ = c.Terminate(ctx, GroupRef{}, "i")

	for method, want := range map[string]float64{"EnsureGroup": 2, "Instances": 1, "Terminate": 1, "DeleteGroup": 0} {
		if got := testutil.ToFloat64(m.calls.WithLabelValues(method)); got != want {
			t.Errorf("calls{%s} = %v, want %v", method, got, want)
		}
	}
	for method, want := range map[string]float64{"EnsureGroup": 0, "Instances": 1, "Terminate": 1} {
		if got := testutil.ToFloat64(m.errors.WithLabelValues(method)); got != want {
			t.Errorf("errors{%s} = %v, want %v", method, got, want)
		}
	}
	if n := testutil.CollectAndCount(m.duration); n != 3 {
		t.Errorf("duration series = %d, want 3 (one per method called)", n)
	}
}
