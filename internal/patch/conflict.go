package patch

import (
	"context"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// RetryConflicts wraps a reconciler so that a reconcile that failed only because an object changed since it was
// read ("the object has been modified": a cache behind another writer) is retried through the work queue's
// rate limiter, like an error, but logged at verbosity 2 (a decision) instead of as an error: with cached reads it is
// expected, not a fault. A reconcile that failed for any other reason as well returns its errors unchanged.
func RetryConflicts(r reconcile.Reconciler) reconcile.Reconciler {
	return reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		res, err := r.Reconcile(ctx, req)
		if err == nil || !OnlyConflicts(err) {
			return res, err
		}
		ctrl.LoggerFrom(ctx).V(2).Info("write conflict, retrying", "conflict", err.Error())
		//nolint:staticcheck // Requeue is the work queue's rate-limited retry, which a conflict wants as an error would.
		return reconcile.Result{Requeue: true}, nil
	})
}

// OnlyConflicts says whether err, and every error joined or aggregated in it, is an API conflict.
func OnlyConflicts(err error) bool {
	if err == nil {
		return false
	}
	if agg, ok := err.(kerrors.Aggregate); ok { //nolint:errorlint // each level of the tree is looked at in turn
		return allConflicts(agg.Errors())
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok { //nolint:errorlint // as above
		return allConflicts(joined.Unwrap())
	}
	if inner := errors.Unwrap(err); inner != nil {
		return OnlyConflicts(inner)
	}
	return apierrors.IsConflict(err)
}

func allConflicts(errs []error) bool {
	for _, e := range errs {
		if !OnlyConflicts(e) {
			return false
		}
	}
	return len(errs) > 0
}
