// Package simmachinepoolmachine holds the SimMachinePoolMachine controller: the finalizer of each instance's
// infra machine, which terminates the instance through cloud.Cloud when the machine is deleted.
package simmachinepoolmachine

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/cloud"
	"github.com/machinepool-operator/machinepool-operator/internal/ctrlutil"
	"github.com/machinepool-operator/machinepool-operator/internal/patch"
)

// ControllerName is the controller's name in logs and metrics.
const ControllerName = "simmachinepoolmachine"

// +kubebuilder:rbac:groups=infrastructure.cluster.x-k8s.io,resources=simmachinepoolmachines,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=infrastructure.cluster.x-k8s.io,resources=simmachinepoolmachines/finalizers,verbs=update

// Reconciler terminates the instance of a SimMachinePoolMachine being deleted, then lets it go. A group
// that no longer exists counts as terminated.
type Reconciler struct {
	Client client.Client
	Cloud  cloud.Cloud
	// WatchFilter, when set, restricts the controller to SimMachinePoolMachines labelled
	// cluster.x-k8s.io/watch-filter=<value> (the SimMachinePool controller copies its pool's label onto them).
	WatchFilter string
}

// SetupWithManager registers the SimMachinePoolMachine finalizer controller.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		For(&infrav1beta1.SimMachinePoolMachine{}, builder.WithPredicates(ctrlutil.WatchFilter(r.WatchFilter))).
		Complete(patch.RetryConflicts(r))
}

// Reconcile handles one SimMachinePoolMachine.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	m := &infrav1beta1.SimMachinePoolMachine{}
	if err := r.Client.Get(ctx, req.NamespacedName, m); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if m.DeletionTimestamp.IsZero() || !controllerutil.ContainsFinalizer(m, infrav1beta1.SimMachinePoolMachineFinalizer) || !ctrlutil.InShard(r.WatchFilter, m) {
		return ctrl.Result{}, nil
	}
	for _, ref := range m.OwnerReferences {
		if ref.Kind != "SimMachinePool" {
			continue
		}
		group := cloud.GroupRef{Namespace: m.Namespace, Name: ref.Name}
		err := r.Cloud.Terminate(ctx, group, m.Spec.InstanceID)
		if err != nil && !errors.Is(err, cloud.ErrInstanceNotFound) && !errors.Is(err, cloud.ErrGroupNotFound) {
			return ctrl.Result{}, fmt.Errorf("terminating instance %s of %s: %w", m.Spec.InstanceID, group, err)
		}
		ctrl.LoggerFrom(ctx).Info("terminated instance", "SimMachinePoolMachine", klog.KObj(m), "instance", m.Spec.InstanceID)
	}
	original := m.DeepCopy()
	controllerutil.RemoveFinalizer(m, infrav1beta1.SimMachinePoolMachineFinalizer)
	return ctrl.Result{}, client.IgnoreNotFound(r.Client.Patch(ctx, m, client.MergeFrom(original)))
}
