package patch

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
)

// OwnedConditions makes Apply's status write change only these types in status.conditions and leave every other
// condition as the API server has it: conditions other controllers mark on the same object (a health check's
// HealthCheckSucceeded on a Machine) are never wiped by a status computed from an older read. A merge patch
// replaces the whole list, so the list written is the stored one with the owned types taken from the object,
// sent under an optimistic lock; on a conflict the object is read again and the list rebuilt (up to
// ConflictRetries times), as Cluster API's patch helper does. The rest of the status is written as computed.
func OwnedConditions(types ...string) Option {
	return func(o *options) { o.ownedConditions = types }
}

// ConflictRetries is how often an OwnedConditions status write is rebuilt after a conflict.
const ConflictRetries = 5

// patchStatusOwningConditions writes obj's status onto base (the object as stored, or as last read), with only
// the owned condition types taken from obj.
func patchStatusOwningConditions(ctx context.Context, c client.Client, base, obj client.Object, owned []string) error {
	for attempt := 0; ; attempt++ {
		want, changed, err := withOwnedConditions(base, obj, owned)
		if err != nil {
			return err
		}
		if !changed {
			return nil
		}
		err = c.Status().Patch(ctx, want, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
		switch {
		case err == nil:
			return copyInto(want, obj)
		case apierrors.IsNotFound(err):
			return nil
		case !apierrors.IsConflict(err) || attempt == ConflictRetries:
			return fmt.Errorf("patching the status of %s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, klog.KObj(obj), err)
		}
		time.Sleep(time.Duration(attempt+1) * 20 * time.Millisecond) // let a cache behind the write catch up
		fresh, ok := base.DeepCopyObject().(client.Object)
		if !ok {
			return fmt.Errorf("%T is not a client.Object", base)
		}
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), fresh); err != nil {
			return client.IgnoreNotFound(err)
		}
		base = fresh
	}
}

// withOwnedConditions returns a copy of base carrying obj's status, whose conditions are base's with the owned
// types replaced by obj's (added, changed or removed), and whether that status differs from base's.
func withOwnedConditions(base, obj client.Object, owned []string) (client.Object, bool, error) {
	stored, err := runtime.DefaultUnstructuredConverter.ToUnstructured(base)
	if err != nil {
		return nil, false, err
	}
	computed, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, false, err
	}
	status, _ := computed["status"].(map[string]any)
	status = runtime.DeepCopyJSONValue(status).(map[string]any)
	if status == nil {
		status = map[string]any{}
	}
	storedStatus, _ := stored["status"].(map[string]any)
	storedConditions, _ := storedStatus["conditions"].([]any)
	ours, _ := status["conditions"].([]any)
	var merged []any
	for _, cond := range storedConditions {
		if !slices.Contains(owned, conditionType(cond)) {
			merged = append(merged, cond)
		}
	}
	for _, cond := range ours {
		if slices.Contains(owned, conditionType(cond)) {
			merged = append(merged, cond)
		}
	}
	// Keep the stored order where it can (Cluster API lists Ready first, then by type): only a changed set of
	// types reorders, and then by that rule.
	sort.SliceStable(merged, func(i, j int) bool {
		return conditions.Less(corev1beta1.ConditionType(conditionType(merged[i])), corev1beta1.ConditionType(conditionType(merged[j])))
	})
	if len(merged) > 0 {
		status["conditions"] = merged
	} else {
		delete(status, "conditions")
	}
	changed := !reflect.DeepEqual(storedStatus, status) && (len(storedStatus) != 0 || len(status) != 0)
	stored["status"] = status
	want, ok := base.DeepCopyObject().(client.Object)
	if !ok {
		return nil, false, fmt.Errorf("%T is not a client.Object", base)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(stored, want); err != nil {
		return nil, false, err
	}
	return want, changed, nil
}

func conditionType(cond any) string {
	m, _ := cond.(map[string]any)
	t, _ := m["type"].(string)
	return t
}

// copyInto makes obj what the API server returned for the written object.
func copyInto(written, obj client.Object) error {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(written)
	if err != nil {
		return err
	}
	return runtime.DefaultUnstructuredConverter.FromUnstructured(u, obj)
}
