package machinepool

import (
	"context"
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	"github.com/machinepool-operator/machinepool-operator/internal/contract"
	"github.com/machinepool-operator/machinepool-operator/internal/conversion"
	"github.com/machinepool-operator/machinepool-operator/internal/ctrlutil"
	"github.com/machinepool-operator/machinepool-operator/internal/patch"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

// ControllerName is the controller's name in logs, metrics and --controllers.
const ControllerName = "machinepool"

// +kubebuilder:rbac:groups=cluster.x-k8s.io,resources=machinepools,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=cluster.x-k8s.io,resources=machinepools/status;machinepools/finalizers,verbs=get;update;patch
// +kubebuilder:rbac:groups=cluster.x-k8s.io,resources=clusters,verbs=get;list;watch
// +kubebuilder:rbac:groups=infrastructure.cluster.x-k8s.io;bootstrap.cluster.x-k8s.io,resources=*,verbs=get;list;watch;update;patch;delete
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconciler reconciles MachinePools.
type Reconciler struct {
	// Client reads through the manager's cache, unstructured objects included.
	Client client.Client
	// Recorder emits events.k8s.io events.
	Recorder events.EventRecorder
	// Workload is the manager's shared client of workload clusters (required).
	Workload *workload.Tracker
	// WatchFilter, when set, restricts the controller to pools labelled cluster.x-k8s.io/watch-filter=<value>.
	WatchFilter string
	// Concurrency is the number of pools reconciled at once.
	Concurrency int
	// ProviderUpdateBatch is how long an infrastructure or bootstrap object's update waits before its pools are
	// reconciled, so that a provider's spec and status writes are read together; 0 means
	// DefaultProviderUpdateBatch.
	ProviderUpdateBatch time.Duration

	controller controller.Controller
	cache      cache.Cache
	// converter turns the stored v1beta2 pool into the v1beta1 one the reconcile works on, and back.
	converter  conversion.Converter
	nodeEvents chan event.GenericEvent

	mu       sync.Mutex
	watching map[schema.GroupKind]bool
	// written holds, per pool this controller just wrote, the resourceVersions the pool had before its last
	// write (before the reconcile, and between its spec and status patches): while the cache serves one of
	// them, it has not seen that write yet.
	written patch.CacheGuard[types.NamespacedName]
	// standaloneLogged makes the "Cluster API is not installed" message appear once, and again after a change.
	standaloneLogged *bool
}

// SetupWithManager registers the controller, its indexes and its static watches.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := indexPools(ctx, mgr.GetFieldIndexer()); err != nil {
		return err
	}
	r.cache = mgr.GetCache()
	r.converter = conversion.Converter{APIVersion: conversion.CRDLookup(mgr.GetClient())}
	r.watching = map[schema.GroupKind]bool{}
	r.nodeEvents = make(chan event.GenericEvent, 1024)
	if r.Workload == nil {
		return errNoTracker
	}
	r.Workload.Subscribe(r.workloadChanged)
	if r.Concurrency <= 0 {
		r.Concurrency = 10
	}
	if r.ProviderUpdateBatch <= 0 {
		r.ProviderUpdateBatch = DefaultProviderUpdateBatch
	}

	crd := &apiextensionsv1.CustomResourceDefinition{}
	c, err := ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		For(&corev1beta2.MachinePool{}, builder.WithPredicates(ctrlutil.WatchFilter(r.WatchFilter), ctrlutil.NotOwnStatus())).
		WatchesMetadata(crd, handler.EnqueueRequestsFromMapFunc(r.poolsForCRD)).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.poolsForKubeconfig)).
		WatchesRawSource(source.Channel(r.nodeEvents, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: r.Concurrency,
			// Failures back off exponentially, capped at a minute: an unreachable cluster is retried, never hot.
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](500*time.Millisecond, time.Minute),
		}).
		Build(patch.RetryConflicts(r))
	if err != nil {
		return err
	}
	r.controller = c
	return nil
}

var errNoTracker = errors.New("the machinepool controller needs the manager's workload.Tracker")

// workloadUser names a pool as a user of its workload cluster's client.
func workloadUser(pool types.NamespacedName) string { return "MachinePool " + pool.String() }

// scope is the state of one reconcile.
type scope struct {
	pool *corev1beta1.MachinePool
	// cluster is the Cluster object, or nil when Cluster API is not installed.
	cluster *unstructured.Unstructured
	infra   *unstructured.Unstructured
	// waitingForCluster is set when the Cluster is missing or its infrastructure is not ready.
	waitingForCluster bool
	// requeueAfter is the soonest moment a time-based wait ends (minReadySeconds), or 0.
	requeueAfter time.Duration
	// failures are what the bootstrap and infrastructure providers report.
	failures []contract.Failure
	// upToDate is what the infrastructure pool reports as status.upToDateReplicas, nil where it reports none;
	// infraRead says it was read this reconcile.
	upToDate  *int32
	infraRead bool
	// nodesUnknown is set when the workload cluster could not be read, so replica counts are stale.
	nodesUnknown bool
	// providerIDGlitch is set when the infrastructure reports an empty providerIDList but a non-zero replica
	// count: a glitch, not a scale to zero, so no Node is retired.
	providerIDGlitch bool
	// original is the pool as stored: as read, or as the reconcile's first write left it (persistFinalizer).
	original *corev1beta1.MachinePool
	// stored is original as it is stored, in v1beta2: what the reconcile's writes patch.
	stored *corev1beta2.MachinePool
	// superseded are the resourceVersions the pool had before each of this reconcile's writes.
	superseded []string
	// finalizerStored is set once the stored pool has the finalizer: writes to other objects may follow.
	finalizerStored bool
	// machines are the pool's MachinePool Machines by instance, when the infrastructure keeps infra machines.
	machines nodeMachines
	// remediation is what this reconcile's remediation pass did and left, when the pool has Machines.
	remediation *remediationState
}

// Reconcile brings one MachinePool's status in line with its infrastructure, bootstrap config and Nodes.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, reterr error) {
	stored := &corev1beta2.MachinePool{}
	if err := r.Client.Get(ctx, req.NamespacedName, stored); err != nil {
		if apierrors.IsNotFound(err) {
			forgetReplicas(req.Namespace, req.Name)
			r.written.Forget(req.NamespacedName)
			r.Workload.Release(workloadUser(req.NamespacedName))
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.written.Behind(req.NamespacedName, stored.ResourceVersion) {
		ctrl.LoggerFrom(ctx).V(4).Info("the cache still serves the pool from before this controller's last write; waiting for it", "resourceVersion", stored.ResourceVersion)
		// Acting on the version before this controller's last write would repeat that write; come back when the
		// cache has it (a spec write brings a watch event sooner).
		return ctrl.Result{RequeueAfter: cacheCatchUpDelay}, nil
	}
	if !ctrlutil.InShard(r.WatchFilter, stored) {
		return ctrl.Result{}, nil
	}
	pool, err := r.working(ctx, stored)
	if err != nil {
		return ctrl.Result{}, r.reportUnconvertible(ctx, stored, err)
	}
	log := ctrl.LoggerFrom(ctx).WithValues("MachinePool", klog.KObj(pool))
	ctx = ctrl.LoggerInto(ctx, log)

	s := &scope{pool: pool, stored: stored}
	clusterAPI, err := r.clusterAPIInstalled(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	if clusterAPI {
		if s.cluster, err = r.getCluster(ctx, pool); err != nil {
			return ctrl.Result{}, err
		}
	}

	if paused, why := isPaused(pool, s.cluster); paused {
		return ctrl.Result{}, r.patchPaused(ctx, s, why)
	}

	s.original = pool.DeepCopy()
	s.superseded = []string{pool.ResourceVersion}
	s.finalizerStored = controllerutil.ContainsFinalizer(pool, corev1beta1.MachinePoolFinalizer)
	defer func() {
		// A reconcile that failed has not acted on all of the spec: observedGeneration stays (Cluster API's rule).
		completed := reterr == nil
		r.computeStatus(s, completed)
		recordReplicas(pool)
		logStatusChanges(ctx, s.original, pool)
		if err := r.write(ctx, s, true, completed); err != nil {
			reterr = kerrors.NewAggregate([]error{reterr, err})
		}
		// Every version the pool had before this reconcile's last write is one the cache must move past.
		if len(s.superseded) > 1 {
			r.written.Wrote(req.NamespacedName, s.superseded[:len(s.superseded)-1]...)
		}
	}()

	if !pool.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, s)
	}

	// The finalizer and the cluster-name label come first, so that nothing is created that deletion would miss.
	controllerutil.AddFinalizer(pool, corev1beta1.MachinePoolFinalizer)
	if pool.Labels == nil {
		pool.Labels = map[string]string{}
	}
	pool.Labels[corev1beta1.ClusterNameLabel] = pool.Spec.ClusterName

	var result ctrl.Result
	var errs []error
	for _, phase := range []func(context.Context, *scope) (ctrl.Result, error){
		r.reconcileCluster,
		r.reconcileReferences,
		r.reconcileBootstrap,
		r.reconcileInfrastructure,
		r.reconcileMachines,
		r.reconcileNodes,
	} {
		res, err := phase(ctx, s)
		if err != nil {
			errs = append(errs, err)
		}
		result = lowestRequeue(result, res)
	}
	if s.requeueAfter > 0 {
		result = lowestRequeue(result, ctrl.Result{RequeueAfter: s.requeueAfter})
	}
	return result, kerrors.NewAggregate(errs)
}

// wrote records a write of the pool: the version it replaced is one the cache must move past.
func (s *scope) wrote(resourceVersion string) { s.superseded = append(s.superseded, resourceVersion) }

// persistFinalizer stores the pool with its finalizer (and whatever else the reconcile changed in its metadata
// and spec so far: the cluster-name label, the Cluster owner, reference moves, a copied data Secret name) before
// the reconcile's first write to any other object, once. Cluster API's rule: a crash after that write leaves
// nothing that deletion would miss. Creating a pool costs no extra write: this is the write the end of the
// reconcile would have made.
func (r *Reconciler) persistFinalizer(ctx context.Context, s *scope) error {
	if s.finalizerStored {
		return nil
	}
	if err := r.write(ctx, s, false, false); err != nil {
		return err
	}
	stored := s.pool.DeepCopy()
	stored.Status = *s.original.Status.DeepCopy()
	s.original = stored
	s.finalizerStored = true
	return nil
}

// cacheCatchUpDelay is how long a reconcile that found the cache behind the controller's own write waits.
const cacheCatchUpDelay = 50 * time.Millisecond

func lowestRequeue(a, b ctrl.Result) ctrl.Result {
	switch {
	case a.RequeueAfter == 0:
		return b
	case b.RequeueAfter == 0:
		return a
	case b.RequeueAfter < a.RequeueAfter:
		return b
	}
	return a
}

// event records an event on the pool for something a user acts on.
func (r *Reconciler) event(ctx context.Context, pool *corev1beta1.MachinePool, eventType, reason, action, note string, args ...any) {
	ctrlutil.Event(ctx, r.Recorder, pool, eventType, reason, action, note, args...)
}

var _ reconcile.Reconciler = &Reconciler{}

// logStatusChanges logs the pool's state changes at level 0: its phase, and the replicas its infrastructure
// reports and that are Ready.
func logStatusChanges(ctx context.Context, before, after *corev1beta1.MachinePool) {
	log := ctrl.LoggerFrom(ctx)
	if before.Status.Phase != after.Status.Phase {
		log.Info("phase changed", "from", before.Status.Phase, "to", after.Status.Phase)
	}
	if before.Status.Replicas != after.Status.Replicas || before.Status.ReadyReplicas != after.Status.ReadyReplicas {
		log.Info("replicas changed", "desired", ctrlutil.DesiredReplicas(after), "replicas", after.Status.Replicas,
			"ready", after.Status.ReadyReplicas, "previousReplicas", before.Status.Replicas, "previousReady", before.Status.ReadyReplicas)
	}
}
