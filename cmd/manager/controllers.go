package main

import (
	"context"
	"slices"
	"time"

	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/controller/machinehealthcheck"
	"github.com/machinepool-operator/machinepool-operator/internal/controller/machinepool"
	"github.com/machinepool-operator/machinepool-operator/internal/controller/machinepoolmachine"
	"github.com/machinepool-operator/machinepool-operator/internal/controller/storageversion"
	"github.com/machinepool-operator/machinepool-operator/internal/simprovider"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

const (
	// machinePoolController reconciles MachinePools; its name also selects the MachinePool webhooks.
	machinePoolController = "machinepool"
	// machinePoolMachineController keeps MachinePool Machines true where Cluster API's Machine controller
	// does not run; it starts once the Machine CRD is served.
	machinePoolMachineController = "machinepoolmachine"
	// machineHealthCheckController runs Cluster API's MachineHealthCheck where Cluster API's controller does not;
	// it starts once the MachineHealthCheck CRD is served. Its name also selects the MachineHealthCheck webhooks.
	machineHealthCheckController = "machinehealthcheck"
	// simMachinePoolController reconciles SimMachinePools; its name also selects their webhooks.
	simMachinePoolController = "simmachinepool"

	watchFilterLabel = corev1beta1.WatchFilterLabel
	// machinePoolCRD is our MachinePool CRD (where Cluster API core owns MachinePools, its own).
	machinePoolCRD = "machinepools.cluster.x-k8s.io"
)

// knownControllers are the names --controllers accepts, and its default.
var knownControllers = []string{machinePoolController, machinePoolMachineController, machineHealthCheckController, simMachinePoolController}

// controllerOptions is what every controller's setup receives from the flags.
type controllerOptions struct {
	watchFilter     string
	poolConcurrency int
	// workload is the one client of each workload cluster that every controller shares.
	workload     *workload.Tracker
	simHeartbeat time.Duration
	// poolController says the machinepool controller runs (and so remediates pools' Machines).
	poolController bool
}

// common is what each core controller is given: the manager's cached client, an event recorder named
// "<controller>-controller", the watch filter and the shared workload tracker.
func (o controllerOptions) common(mgr ctrl.Manager, controller string) (client.Client, events.EventRecorder, string, *workload.Tracker) {
	return mgr.GetClient(), mgr.GetEventRecorder(controller + "-controller"), o.watchFilter, o.workload
}

// setupFunc registers one controller with the manager.
type setupFunc func(ctx context.Context, mgr ctrl.Manager, opts controllerOptions) error

// reconcilers maps a controller name to its setup. A name with no entry has only its webhooks in this build
// (the reconcilers arrive with their issues).
var reconcilers = map[string]setupFunc{
	machinePoolController: func(ctx context.Context, mgr ctrl.Manager, opts controllerOptions) error {
		r := &machinepool.Reconciler{Concurrency: opts.poolConcurrency}
		r.Client, r.Recorder, r.WatchFilter, r.Workload = opts.common(mgr, machinepool.ControllerName)
		if err := r.SetupWithManager(ctx, mgr); err != nil {
			return err
		}
		// Pools stored before the CRD stored v1beta2 are rewritten in it (our CRD: we own MachinePools here).
		m := &storageversion.Migrator{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
			Recorder: mgr.GetEventRecorder("storageversion-controller"), CRD: machinePoolCRD}
		return m.SetupWithManager(mgr)
	},
	machinePoolMachineController: func(ctx context.Context, mgr ctrl.Manager, opts controllerOptions) error {
		r := &machinepoolmachine.Reconciler{}
		r.Client, r.Recorder, r.WatchFilter, r.Workload = opts.common(mgr, machinepoolmachine.ControllerName)
		return r.SetupWithManager(ctx, mgr)
	},
	machineHealthCheckController: func(ctx context.Context, mgr ctrl.Manager, opts controllerOptions) error {
		r := &machinehealthcheck.Reconciler{}
		r.Client, r.Recorder, r.WatchFilter, r.Workload = opts.common(mgr, machinehealthcheck.ControllerName)
		return r.SetupWithManager(ctx, mgr)
	},
	simMachinePoolController: func(ctx context.Context, mgr ctrl.Manager, opts controllerOptions) error {
		_, err := simprovider.Setup(ctx, mgr, simprovider.Options{Workload: opts.workload, Heartbeat: opts.simHeartbeat, WatchFilter: opts.watchFilter,
			Remediate: !opts.poolController})
		return err
	},
}

// enabled says whether --controllers selected the named controller.
func (o *options) enabled(name string) bool { return slices.Contains(o.controllers, name) }
