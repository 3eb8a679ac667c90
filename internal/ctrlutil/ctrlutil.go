// Package ctrlutil holds the small pieces every controller of the manager shares: the watch-filter and
// own-status-write predicates, turning lists into reconcile requests, nil-safe events, requeue arithmetic and
// a MachinePool's desired replica count. It imports the core API and controller-runtime; never a controller.
package ctrlutil

import (
	"context"
	"fmt"
	"reflect"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
)

// WatchFilter keeps the objects labelled cluster.x-k8s.io/watch-filter=value; every object when value is "".
func WatchFilter(value string) predicate.Predicate {
	return predicate.NewPredicateFuncs(func(o client.Object) bool { return InShard(value, o) })
}

// InShard says whether obj is labelled cluster.x-k8s.io/watch-filter=value (any object is when value is "").
// A reconciler checks it on the object it reads: requests mapped from other kinds (Secrets, Nodes, owners)
// pass no predicate on the object itself, and another shard's manager owns what does not match.
func InShard(value string, obj metav1.Object) bool {
	return value == "" || obj.GetLabels()[corev1beta1.WatchFilterLabel] == value
}

// FollowWatchFilter gives obj its owner's cluster.x-k8s.io/watch-filter label, or removes it when the owner
// has none: what a sharded manager creates for a pool stays in that pool's shard, and moves with it.
func FollowWatchFilter(obj, owner metav1.Object) {
	labels := obj.GetLabels()
	if v, ok := owner.GetLabels()[corev1beta1.WatchFilterLabel]; ok {
		if labels == nil {
			labels = map[string]string{}
		}
		labels[corev1beta1.WatchFilterLabel] = v
	} else {
		delete(labels, corev1beta1.WatchFilterLabel)
	}
	obj.SetLabels(labels)
}

// NotOwnStatus drops the update events that change only an object's status (a controller's own status
// writes): an object is reconciled again when its spec (generation), labels, annotations, finalizers, owner
// references or deletion change.
func NotOwnStatus() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld, e.ObjectNew
		return o.GetGeneration() != n.GetGeneration() ||
			!reflect.DeepEqual(o.GetLabels(), n.GetLabels()) ||
			!reflect.DeepEqual(o.GetAnnotations(), n.GetAnnotations()) ||
			!reflect.DeepEqual(o.GetFinalizers(), n.GetFinalizers()) ||
			!reflect.DeepEqual(o.GetOwnerReferences(), n.GetOwnerReferences()) ||
			!o.GetDeletionTimestamp().Equal(n.GetDeletionTimestamp())
	}}
}

// Requests turns listed objects into reconcile requests for them.
func Requests[T any, PT interface {
	*T
	client.Object
}](items []T) []reconcile.Request {
	out := make([]reconcile.Request, 0, len(items))
	for i := range items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(PT(&items[i]))})
	}
	return out
}

// Event records a state change: an event on obj when recorder is set (suites may leave it nil), and the same
// note in the log at level 0 (the reconcile's logger already names the object).
func Event(ctx context.Context, recorder events.EventRecorder, obj runtime.Object, eventType, reason, action, note string, args ...any) {
	if recorder != nil {
		recorder.Eventf(obj, nil, eventType, reason, action, note, args...)
	}
	logf.FromContext(ctx).Info(fmt.Sprintf(note, args...), "reason", reason, "type", eventType)
}

// Sooner returns the shorter of two requeue delays, where 0 means "no requeue" and loses to any other.
func Sooner(a, b time.Duration) time.Duration {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// DesiredReplicas is a MachinePool's spec.replicas, with unset meaning 1 (the webhook's default) and negative
// meaning 0.
func DesiredReplicas(pool *corev1beta1.MachinePool) int32 { return Desired(pool.Spec.Replicas) }

// Desired is DesiredReplicas of a spec.replicas in either API version.
func Desired(replicas *int32) int32 {
	if replicas == nil {
		return 1
	}
	return max(*replicas, 0)
}
