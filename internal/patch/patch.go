// Package patch writes what a reconcile changed on an object with a status subresource: metadata and spec in
// one merge patch, status in another, each only when it changed. When the first fails the status is not
// written either, so a status never describes a spec that did not land.
//
// It imports Kubernetes and controller-runtime libraries, and internal/conditions for Cluster API's condition order.
package patch

import (
	"context"
	"fmt"
	"reflect"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Option changes how Apply writes.
type Option func(*options)

type options struct {
	observedGeneration *int64
	followers          []func(generation int64)
	onWrite            func(resourceVersion string)
	withoutStatus      bool
	ownedConditions    []string
}

// WithoutStatus writes only the metadata/spec patch; the status Apply leaves for a later call (the object
// keeps the status the caller computed).
func WithoutStatus() Option {
	return func(o *options) { o.withoutStatus = true }
}

// OnWrite calls fn with the object's new resourceVersion after each write Apply makes (none, one or two).
func OnWrite(fn func(resourceVersion string)) Option {
	return func(o *options) { o.onWrite = fn }
}

// FollowOwnSpecWrite points at the status field that records the generation the status describes (usually
// status.observedGeneration, set to the object's generation by the reconcile). When the metadata/spec patch
// raises the generation by exactly one, that new generation is the reconcile's own write, which the status it
// computed already describes: the field moves to it, so the object does not need another reconcile and status
// write just to catch up with itself. A generation raised by more than one (someone else wrote meanwhile) is
// left for the next reconcile.
func FollowOwnSpecWrite(observedGeneration *int64) Option {
	return func(o *options) { o.observedGeneration = observedGeneration }
}

// AlsoFollowOwnSpecWrite calls fn with the new generation where FollowOwnSpecWrite moves its field, so that
// other records of the observed generation (a condition's observedGeneration) move with it.
func AlsoFollowOwnSpecWrite(fn func(generation int64)) Option {
	return func(o *options) { o.followers = append(o.followers, fn) }
}

// Apply patches obj from original. A merge patch replaces whole lists, so the metadata/spec patch carries an
// optimistic lock when the finalizers or owner references change: one someone else added meanwhile is then
// not dropped (the reconcile retries on the conflict). A deleted object is not an error.
func Apply(ctx context.Context, c client.Client, original, obj client.Object, opts ...Option) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	before, err := runtime.DefaultUnstructuredConverter.ToUnstructured(original)
	if err != nil {
		return err
	}
	after, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	statusBefore, statusAfter := before["status"], after["status"]
	delete(before, "status")
	delete(after, "status")

	if !reflect.DeepEqual(before, after) {
		generation := obj.GetGeneration()
		var opts []client.MergeFromOption
		if !reflect.DeepEqual(original.GetFinalizers(), obj.GetFinalizers()) ||
			!reflect.DeepEqual(original.GetOwnerReferences(), obj.GetOwnerReferences()) {
			opts = append(opts, client.MergeFromWithOptimisticLock{})
		}
		if err := c.Patch(ctx, obj, client.MergeFromWithOptions(original, opts...)); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("patching %s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, klog.KObj(obj), err)
		}
		if o.onWrite != nil {
			o.onWrite(obj.GetResourceVersion())
		}
		// The response carries the stored status; put back the one this reconcile computed.
		if err := restoreStatus(obj, statusAfter); err != nil {
			return err
		}
		if o.observedGeneration != nil && *o.observedGeneration == generation && obj.GetGeneration() == generation+1 {
			*o.observedGeneration = obj.GetGeneration()
			for _, follow := range o.followers {
				follow(obj.GetGeneration())
			}
			current, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
			if err != nil {
				return err
			}
			statusAfter = current["status"]
		}
	}
	if !o.withoutStatus && !reflect.DeepEqual(statusBefore, statusAfter) && len(o.ownedConditions) > 0 {
		// The base is what was read, with the metadata/spec this call may just have written.
		base, ok := original.DeepCopyObject().(client.Object)
		if !ok {
			return fmt.Errorf("%T is not a client.Object", original)
		}
		if err := restoreStatus(base, statusBefore); err != nil {
			return err
		}
		base.SetResourceVersion(obj.GetResourceVersion())
		if err := patchStatusOwningConditions(ctx, c, base, obj, o.ownedConditions); err != nil {
			return err
		}
		if o.onWrite != nil {
			o.onWrite(obj.GetResourceVersion())
		}
		return nil
	}
	if !o.withoutStatus && !reflect.DeepEqual(statusBefore, statusAfter) {
		if err := c.Status().Patch(ctx, obj, client.MergeFrom(original)); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("patching the status of %s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, klog.KObj(obj), err)
		}
		if o.onWrite != nil {
			o.onWrite(obj.GetResourceVersion())
		}
	}
	return nil
}

func restoreStatus(obj client.Object, status any) error {
	current, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	if status == nil {
		delete(current, "status")
	} else {
		current["status"] = status
	}
	return runtime.DefaultUnstructuredConverter.FromUnstructured(current, obj)
}
