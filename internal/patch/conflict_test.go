package patch

import (
	"errors"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
)

func TestOnlyConflicts(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Resource: "nodes"}, "n1", errors.New("the object has been modified"))
	other := errors.New("connection refused")
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"a conflict", conflict, true},
		{"a wrapped conflict", fmt.Errorf("updating Node n1: %w", conflict), true},
		{"another error", other, false},
		{"a not-found error", apierrors.NewNotFound(schema.GroupResource{Resource: "nodes"}, "n1"), false},
		{"conflicts joined", errors.Join(conflict, fmt.Errorf("x: %w", conflict)), true},
		{"a conflict joined with another error", errors.Join(conflict, other), false},
		{"conflicts aggregated", kerrors.NewAggregate([]error{conflict, conflict}), true},
		{"an aggregate with another error", kerrors.NewAggregate([]error{conflict, other}), false},
		{"an aggregate of conflicts joined with another error", errors.Join(kerrors.NewAggregate([]error{conflict}), other), false},
		{"an aggregate holding a join with another error", kerrors.NewAggregate([]error{errors.Join(conflict, other)}), false},
	} {
		if got := OnlyConflicts(tc.err); got != tc.want {
			t.Errorf("%s: OnlyConflicts = %v, want %v", tc.name, got, tc.want)
		}
	}
}
