package main

import (
	"context"
	"slices"

	ctrl "sigs.k8s.io/controller-runtime"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/controller/machinepool"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

const (
	// machinePoolController reconciles MachinePools; its name also selects the MachinePool webhooks.
	machinePoolController = "machinepool"
	// simMachinePoolController reconciles SimMachinePools; its name also selects their webhooks.
	simMachinePoolController = "simmachinepool"

	watchFilterLabel = corev1beta1.WatchFilterLabel
)

// knownControllers are the names --controllers accepts, and its default.
var knownControllers = []string{machinePoolController, simMachinePoolController}

// controllerOptions is what every controller's setup receives from the flags.
type controllerOptions struct {
	watchFilter         string
	poolConcurrency     int
	workloadClientQPS   float32
	workloadClientBurst int
}

// setupFunc registers one controller with the manager.
type setupFunc func(ctx context.Context, mgr ctrl.Manager, opts controllerOptions) error

// reconcilers maps a controller name to its setup. A name with no entry has only its webhooks in this build
// (the reconcilers arrive with their issues).
var reconcilers = map[string]setupFunc{
	machinePoolController: func(ctx context.Context, mgr ctrl.Manager, opts controllerOptions) error {
		return (&machinepool.Reconciler{
			Client:      mgr.GetClient(),
			Recorder:    mgr.GetEventRecorder(machinepool.ControllerName + "-controller"),
			WatchFilter: opts.watchFilter,
			Concurrency: opts.poolConcurrency,
			WorkloadOptions: workload.Options{
				QPS:   opts.workloadClientQPS,
				Burst: opts.workloadClientBurst,
			},
		}).SetupWithManager(ctx, mgr)
	},
}

// enabled says whether --controllers selected the named controller.
func (o *options) enabled(name string) bool { return slices.Contains(o.controllers, name) }
