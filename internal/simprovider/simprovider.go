// Package simprovider wires the reference infrastructure provider into a manager: the simulated cloud (with
// its kubelets) and the SimCluster, SimMachinePool and SimMachinePoolMachine controllers. cmd and the test
// suites set it up the same way through Setup. It is wiring, not a controller: it imports the three controller
// packages, which import nothing of it.
package simprovider

import (
	"context"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/cloud"
	"github.com/machinepool-operator/machinepool-operator/internal/cloud/sim"
	"github.com/machinepool-operator/machinepool-operator/internal/controller/simcluster"
	"github.com/machinepool-operator/machinepool-operator/internal/controller/simmachinepool"
	"github.com/machinepool-operator/machinepool-operator/internal/controller/simmachinepoolmachine"
	"github.com/machinepool-operator/machinepool-operator/internal/ctrlutil"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

// Options configure the provider.
type Options struct {
	// Workload is the manager's shared client of workload clusters (required).
	Workload *workload.Tracker
	// Heartbeat is how often a simulated instance refreshes its Node; default 40s, negative for never.
	Heartbeat time.Duration
	// WatchFilter restricts the provider's controllers to objects with cluster.x-k8s.io/watch-filter=<value>.
	WatchFilter string
	// Seed makes the simulated cloud's boot jitter repeatable; 0 picks one from the clock.
	Seed int64
	// Remediate makes the SimMachinePool controller remediate the Machines a MachineHealthCheck marks: set it
	// where our machinepool controller, which does it otherwise, does not run (next to Cluster API core).
	Remediate bool
}

// Setup adds the provider to mgr and returns its simulated cloud (tests inject faults through it).
func Setup(ctx context.Context, mgr ctrl.Manager, opts Options) (*sim.Cloud, error) {
	// The simulated cloud keeps its state in ConfigMaps, read and written uncached: they decide what exists.
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return nil, err
	}
	seed := opts.Seed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	kubelets := sim.KubeletOptions{Workload: opts.Workload, Secrets: mgr.GetAPIReader(), Heartbeat: opts.Heartbeat}
	if opts.WatchFilter != "" {
		// A pool relabelled into another shard takes its instances' kubelets with it: that shard's manager runs
		// them from then on, this one lets them go.
		kubelets.Owns = func(ctx context.Context, group cloud.GroupRef) bool {
			smp := &infrav1beta1.SimMachinePool{}
			err := mgr.GetClient().Get(ctx, client.ObjectKey{Namespace: group.Namespace, Name: group.Name}, smp)
			return err != nil || ctrlutil.InShard(opts.WatchFilter, smp)
		}
	}
	simCloud := sim.New(&sim.ConfigMapStore{Client: direct}, sim.WithSeed(seed), sim.WithKubelets(kubelets))
	if err := mgr.Add(simCloud); err != nil {
		return nil, err
	}
	measured := cloud.WithMetrics(simCloud, "sim")
	if err := (&simcluster.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), WatchFilter: opts.WatchFilter}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := (&simmachinepoolmachine.Reconciler{Client: mgr.GetClient(), Cloud: measured, WatchFilter: opts.WatchFilter}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	return simCloud, (&simmachinepool.Reconciler{
		Client:      mgr.GetClient(),
		APIReader:   mgr.GetAPIReader(),
		Cloud:       measured,
		Recorder:    mgr.GetEventRecorder(simmachinepool.ControllerName + "-controller"),
		WatchFilter: opts.WatchFilter,
		Workload:    opts.Workload,
		Remediate:   opts.Remediate,
	}).SetupWithManager(ctx, mgr)
}
