package simmachinepool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/events"
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
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/cloud"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
	"github.com/machinepool-operator/machinepool-operator/internal/contract"
	"github.com/machinepool-operator/machinepool-operator/internal/ctrlutil"
	"github.com/machinepool-operator/machinepool-operator/internal/patch"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

// ControllerName is the controller's name in logs, metrics and --controllers.
const ControllerName = "simmachinepool"

// Condition types and reasons of a SimMachinePool.
const (
	ScalingGroupReadyCondition corev1beta1.ConditionType = "ScalingGroupReady"
	InstancesReadyCondition    corev1beta1.ConditionType = "InstancesReady"

	WaitingForOwnerReason         = "WaitingForOwner"
	WaitingForBootstrapDataReason = "WaitingForBootstrapData"
	BootstrapDataMissingReason    = "BootstrapDataMissing"
	CloudErrorReason              = "CloudAPIError"
	InstancesNotReadyReason       = "InstancesNotReady"
	WaitingForKubeconfigReason    = "WaitingForKubeconfig"
)

// +kubebuilder:rbac:groups=infrastructure.cluster.x-k8s.io,resources=simmachinepools,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=infrastructure.cluster.x-k8s.io,resources=simmachinepools/status;simmachinepools/finalizers,verbs=get;update;patch
// +kubebuilder:rbac:groups=cluster.x-k8s.io,resources=machinepools,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch

// Reconciler reconciles SimMachinePools.
type Reconciler struct {
	// Client reads through the manager's cache.
	Client client.Client
	// APIReader reads uncached: bootstrap data Secrets.
	APIReader client.Reader
	// Cloud is the scaling-group API.
	Cloud cloud.Cloud
	// Workload is the manager's shared client of workload clusters (required): the instances' Nodes are read,
	// and drained where no Machine controller does it, through it.
	Workload *workload.Tracker
	// Recorder emits events.
	Recorder events.EventRecorder
	// WatchFilter, when set, restricts the controller to objects labelled cluster.x-k8s.io/watch-filter=<value>.
	WatchFilter string
	// Remediate makes the controller delete the Machines of its instances that a MachineHealthCheck marked for
	// remediation: set where Cluster API core's MachinePool controller, which does not, owns MachinePools.
	Remediate bool

	controller controller.Controller
	cache      cache.Cache
	// poolVersion is the MachinePool version read: v1beta2 where served, else v1beta1.
	poolVersion      schema.GroupVersion
	mu               sync.Mutex
	watchingMachines bool
	// nodeEvents carries the pools whose instances' Nodes changed (registered, Ready, marked, deleted).
	nodeEvents chan event.GenericEvent
}

// providerIDIndex indexes SimMachinePoolMachines by the instance key of their provider ID, to find the pool of
// a Node (workload.InstanceKeyIndexer).
const providerIDIndex = "spec.providerID.instance"

// SetupWithManager registers the controller and its watches.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Workload == nil {
		return errors.New("the simmachinepool controller needs the manager's workload.Tracker")
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &infrav1beta1.SimMachinePoolMachine{}, providerIDIndex,
		workload.InstanceKeyIndexer(func(o client.Object) string { return o.(*infrav1beta1.SimMachinePoolMachine).Spec.ProviderID })); err != nil {
		return err
	}
	r.nodeEvents = make(chan event.GenericEvent, 1024)
	r.Workload.Subscribe(r.workloadChanged)
	filter := ctrlutil.WatchFilter(r.WatchFilter)
	r.cache = mgr.GetCache()
	r.poolVersion = poolVersion(mgr.GetRESTMapper(), mgr.GetScheme())
	c, err := ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		For(&infrav1beta1.SimMachinePool{}, builder.WithPredicates(filter, ctrlutil.NotOwnStatus())).
		Watches(newPoolObject(r.poolVersion), handler.EnqueueRequestsFromMapFunc(infraOfPool)).
		Watches(&infrav1beta1.SimMachinePoolMachine{}, handler.EnqueueRequestsFromMapFunc(poolsOwning), builder.WithPredicates(ctrlutil.NotOwnStatus())).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.poolsOfKubeconfig)).
		WatchesRawSource(source.Channel(r.nodeEvents, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: 10}).
		Build(patch.RetryConflicts(r))
	if err != nil {
		return err
	}
	r.controller = c
	return nil
}

// workloadChanged requeues the pool of an instance whose Node changed, or every pool of a workload cluster
// whose health changed (node nil).
func (r *Reconciler) workloadChanged(cluster types.NamespacedName, node *corev1.Node) {
	ctx := context.Background()
	if node == nil {
		for _, req := range r.poolsOfCluster(ctx, cluster) {
			r.enqueue(req)
		}
		return
	}
	key := workload.InstanceKey(node.Spec.ProviderID)
	if key == "" {
		return
	}
	list := &infrav1beta1.SimMachinePoolMachineList{}
	if err := r.Client.List(ctx, list, client.MatchingFields{providerIDIndex: key}); err != nil {
		return
	}
	for i := range list.Items {
		if !workload.SameInstance(list.Items[i].Spec.ProviderID, node.Spec.ProviderID) {
			continue
		}
		for _, req := range poolsOwning(ctx, &list.Items[i]) {
			r.enqueue(req)
		}
	}
}

// enqueue requeues a SimMachinePool through the Node event channel.
func (r *Reconciler) enqueue(req reconcile.Request) {
	smp := &infrav1beta1.SimMachinePool{}
	smp.Namespace, smp.Name = req.Namespace, req.Name
	r.nodeEvents <- event.GenericEvent{Object: smp}
}

// pausedBecause says why the SimMachinePool is paused: its own or its MachinePool's paused annotation, or
// spec.paused on the Cluster that owns the MachinePool; "" when it is not.
func (r *Reconciler) pausedBecause(ctx context.Context, smp *infrav1beta1.SimMachinePool, pool *machinePool) string {
	if _, ok := smp.Annotations[corev1beta1.PausedAnnotation]; ok {
		return "the SimMachinePool has the " + corev1beta1.PausedAnnotation + " annotation"
	}
	if pool == nil {
		return ""
	}
	if _, ok := pool.Annotations[corev1beta1.PausedAnnotation]; ok {
		return "its MachinePool has the " + corev1beta1.PausedAnnotation + " annotation"
	}
	for _, ref := range pool.OwnerReferences {
		gv, _ := schema.ParseGroupVersion(ref.APIVersion)
		if ref.Kind != "Cluster" || gv.Group != corev1beta1.GroupVersion.Group {
			continue
		}
		cluster := &unstructured.Unstructured{}
		cluster.SetAPIVersion(ref.APIVersion)
		cluster.SetKind("Cluster")
		if err := r.Client.Get(ctx, types.NamespacedName{Namespace: pool.Namespace, Name: ref.Name}, cluster); err != nil {
			return ""
		}
		if paused, _ := contract.Cluster.Paused(cluster); paused {
			return "Cluster " + ref.Name + " has spec.paused set"
		}
	}
	return ""
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// poolsOfKubeconfig maps a "<cluster>-kubeconfig" Secret to the SimMachinePools of that cluster (the core
// controller labels them with the cluster name).
func (r *Reconciler) poolsOfKubeconfig(ctx context.Context, o client.Object) []reconcile.Request {
	clusterName, ok := workload.ClusterOfKubeconfigSecret(o.GetName())
	if !ok {
		return nil
	}
	return r.poolsOfCluster(ctx, types.NamespacedName{Namespace: o.GetNamespace(), Name: clusterName})
}

// poolsOfCluster lists the SimMachinePools of a workload cluster (the core controller labels them with the
// cluster name).
func (r *Reconciler) poolsOfCluster(ctx context.Context, cluster types.NamespacedName) []reconcile.Request {
	list := &infrav1beta1.SimMachinePoolList{}
	if err := r.Client.List(ctx, list, client.InNamespace(cluster.Namespace), client.MatchingLabels{corev1beta1.ClusterNameLabel: cluster.Name}); err != nil {
		return nil
	}
	return ctrlutil.Requests(list.Items)
}

// ownerPool returns the MachinePool that owns the SimMachinePool, or nil while none does.
func (r *Reconciler) ownerPool(ctx context.Context, smp *infrav1beta1.SimMachinePool) (*machinePool, error) {
	for _, ref := range smp.OwnerReferences {
		gv, _ := schema.ParseGroupVersion(ref.APIVersion)
		if ref.Kind != "MachinePool" || gv.Group != corev1beta1.GroupVersion.Group {
			continue
		}
		pool := newPoolObject(r.poolVersion)
		err := r.Client.Get(ctx, types.NamespacedName{Namespace: smp.Namespace, Name: ref.Name}, pool)
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return poolOf(pool), nil
	}
	return nil, nil
}

// Reconcile drives one SimMachinePool's scaling group.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, reterr error) {
	smp := &infrav1beta1.SimMachinePool{}
	if err := r.Client.Get(ctx, req.NamespacedName, smp); err != nil {
		if apierrors.IsNotFound(err) {
			r.Workload.Release(workloadUser(req.NamespacedName))
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ctrlutil.InShard(r.WatchFilter, smp) {
		return ctrl.Result{}, nil
	}
	ctx = ctrl.LoggerInto(ctx, ctrl.LoggerFrom(ctx).WithValues("SimMachinePool", klog.KObj(smp)))
	group := cloud.GroupRef{Namespace: smp.Namespace, Name: smp.Name}

	pool, err := r.ownerPool(ctx, smp)
	if err != nil {
		return ctrl.Result{}, err
	}
	original := smp.DeepCopy()
	defer func() {
		var opts []patch.Option
		if reterr == nil { // a reconcile that failed has not acted on all of the spec
			smp.Status.ObservedGeneration = smp.Generation
			// Its own providerIDList write bumps the generation: the status describes that one too.
			opts = append(opts, patch.FollowOwnSpecWrite(&smp.Status.ObservedGeneration))
		}
		if err := patch.Apply(ctx, r.Client, original, smp, opts...); err != nil {
			reterr = kerrors.NewAggregate([]error{reterr, err})
		}
	}()

	if why := r.pausedBecause(ctx, smp, pool); why != "" {
		conditions.Set(&smp.Status.Conditions, corev1beta1.Condition{Type: corev1beta1.PausedCondition, Status: corev1.ConditionTrue,
			Reason: corev1beta1.PausedReason, Message: "nothing is reconciled while " + why})
		return ctrl.Result{}, nil
	}
	conditions.Delete(&smp.Status.Conditions, corev1beta1.PausedCondition)

	if !smp.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, smp, group)
	}
	if pool == nil {
		conditions.MarkFalse(&smp.Status.Conditions, corev1beta1.ReadyCondition, WaitingForOwnerReason, corev1beta1.ConditionSeverityInfo,
			"waiting for a MachinePool to reference and own this SimMachinePool")
		return ctrl.Result{}, nil
	}
	controllerutil.AddFinalizer(smp, infrav1beta1.SimMachinePoolFinalizer)
	instanceType, err := r.Cloud.InstanceType(ctx, smp.Spec.InstanceType)
	if err != nil {
		return ctrl.Result{}, r.cloudError(smp, err)
	}
	publishCapacity(smp, instanceType)

	secretName := pool.DataSecretName
	if secretName == nil || *secretName == "" {
		conditions.MarkFalse(&smp.Status.Conditions, corev1beta1.ReadyCondition, WaitingForBootstrapDataReason, corev1beta1.ConditionSeverityInfo,
			"waiting for MachinePool %s to have spec.template.spec.bootstrap.dataSecretName", pool.Name)
		return ctrl.Result{}, nil
	}
	return r.reconcileGroup(ctx, smp, pool, group, launchConfig(smp, pool, *secretName, instanceType.Name))
}

func (r *Reconciler) reconcileGroup(ctx context.Context, smp *infrav1beta1.SimMachinePool, pool *machinePool, group cloud.GroupRef, launch cloud.LaunchConfig) (ctrl.Result, error) {
	instances, err := r.instances(ctx, group)
	if err != nil {
		return ctrl.Result{}, r.cloudError(smp, err)
	}
	// Without a workload cluster instances still launch but cannot join; a kubeconfig Secret appearing
	// requeues (watch), an unreachable cluster is retried with backoff.
	wc, wcErr := r.workloadCluster(ctx, smp, pool)
	if errors.Is(wcErr, workload.ErrNoKubeconfig) {
		wcErr = nil
	}
	nodes := nodesOf(ctx, wc, instances)
	im, err := r.loadMachines(ctx, smp)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.remediate(ctx, smp, pool, wc, im); err != nil {
		return ctrl.Result{}, err
	}
	p := plan(observe(smp, pool, launch.SpecHash, instances, nodes, im))
	logger := ctrl.LoggerFrom(ctx)
	if len(p.DeleteMachines)+len(p.Terminate) > 0 || p.Launch > 0 {
		logger.V(2).Info("planned", "capacity", p.Capacity, "launch", p.Launch, "deleteMachines", p.DeleteMachines,
			"terminate", p.Terminate, "replace", p.Replace)
	}

	// Carry the plan out: removals first (a scale-in must not launch), then the group's capacity.
	requeue := time.Duration(0)
	for _, id := range p.DeleteMachines {
		if err := r.removeInstance(ctx, smp, im, id); err != nil {
			return ctrl.Result{}, err
		}
	}
	for _, id := range p.Terminate {
		drained, err := r.drain(ctx, smp, pool, wc, nodes[id])
		if err != nil {
			return ctrl.Result{}, err
		}
		if !drained {
			requeue = drainRetry
			continue
		}
		if err := r.Cloud.Terminate(ctx, group, id); err != nil && !errors.Is(err, cloud.ErrInstanceNotFound) {
			return ctrl.Result{}, r.cloudError(smp, err)
		}
		r.event(ctx, smp, corev1.EventTypeNormal, "InstanceTerminated", "ScaleIn", "terminated instance %s (desired %d)", id, p.Capacity)
	}
	config, err := json.Marshal(smp.Spec.Simulation)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.Cloud.EnsureGroup(ctx, cloud.GroupSpec{Ref: group, Region: smp.Spec.Region, Cluster: pool.ClusterName,
		Desired: p.Capacity, Launch: launch, ProviderConfig: config}); err != nil {
		return ctrl.Result{}, r.cloudError(smp, err)
	}
	if p.Launch > 0 {
		logger.Info("launching instances", "count", p.Launch, "capacity", p.Capacity)
	}
	if instances, err = r.instances(ctx, group); err != nil {
		return ctrl.Result{}, r.cloudError(smp, err)
	}
	conditions.MarkTrue(&smp.Status.Conditions, ScalingGroupReadyCondition)
	if err := r.syncMachines(ctx, smp, pool, im, instances); err != nil {
		return ctrl.Result{}, err
	}
	// New instances have no Node yet; the Nodes of the others are what the plan saw.
	writeStatus(smp, pool.desiredReplicas(), launch.SpecHash, instances, nodes, r.blocked(ctx, smp, pool, wc, instances, nodes))

	// Boots and shutdowns end on their own: look again then (at once if that moment passed meanwhile). Nodes
	// registering or turning Ready requeue through the workload cluster's Node events.
	if next := nextChange(instances); !next.IsZero() {
		requeue = ctrlutil.Sooner(requeue, max(time.Until(next), 100*time.Millisecond))
	}
	return ctrl.Result{RequeueAfter: requeue}, wcErr
}

// observe gathers what plan needs from the pool, its instances, their Nodes and their Machines.
func observe(smp *infrav1beta1.SimMachinePool, pool *machinePool, specHash string, instances []cloud.Instance,
	nodes map[string]*corev1.Node, im *instanceMachines) Observed {
	o := Observed{Desired: pool.desiredReplicas(), SpecHash: specHash, Instances: instances, Strategy: smp.Spec.Strategy,
		ThroughMachines: im.served, Facts: make(map[string]Facts, len(instances))}
	for _, in := range instances {
		n := nodes[in.ID]
		o.Facts[in.ID] = Facts{Going: im.going(in.ID), NodeReady: nodeReady(n),
			Marked: im.marked(in.ID) || (n != nil && hasKey(n.Annotations, corev1beta1.DeleteMachineAnnotation))}
	}
	return o
}

func nodeReady(n *corev1.Node) bool {
	if n == nil {
		return false
	}
	_, ready := workload.ReadySince(n)
	return ready
}

func (r *Reconciler) instances(ctx context.Context, group cloud.GroupRef) ([]cloud.Instance, error) {
	instances, err := r.Cloud.Instances(ctx, group)
	if errors.Is(err, cloud.ErrGroupNotFound) {
		return nil, nil
	}
	return instances, err
}

func (r *Reconciler) cloudError(smp *infrav1beta1.SimMachinePool, err error) error {
	conditions.MarkFalse(&smp.Status.Conditions, ScalingGroupReadyCondition, CloudErrorReason, corev1beta1.ConditionSeverityWarning, "%v", err)
	conditions.MarkFalse(&smp.Status.Conditions, corev1beta1.ReadyCondition, CloudErrorReason, corev1beta1.ConditionSeverityWarning, "%v", err)
	return err
}

// workloadCluster returns the client of the pool's workload cluster, or nil while its kubeconfig is missing
// or it cannot be reached (instances then boot but cannot register).
func (r *Reconciler) workloadCluster(ctx context.Context, smp *infrav1beta1.SimMachinePool, pool *machinePool) (*workload.Cluster, error) {
	return r.Workload.Get(ctx, types.NamespacedName{Namespace: pool.Namespace, Name: pool.ClusterName},
		workloadUser(client.ObjectKeyFromObject(smp)), "")
}

// workloadUser names a SimMachinePool as a user of its workload cluster's client (its simulated kubelets).
func workloadUser(smp types.NamespacedName) string { return "SimMachinePool " + smp.String() }

// nodesOf reads the Nodes of the instances, by instance ID, through their provider IDs.
func nodesOf(ctx context.Context, wc *workload.Cluster, instances []cloud.Instance) map[string]*corev1.Node {
	out := map[string]*corev1.Node{}
	if wc == nil {
		return out
	}
	for _, in := range instances {
		if in.ProviderID == "" {
			continue
		}
		if n, err := wc.NodeFor(ctx, in.ProviderID); err == nil && n != nil {
			out[in.ID] = n
		}
	}
	return out
}

// blocked is the condition that keeps instances from joining at all, or nil: no reachable workload cluster, or
// no bootstrap data for an instance that runs without a Node.
func (r *Reconciler) blocked(ctx context.Context, smp *infrav1beta1.SimMachinePool, pool *machinePool, wc *workload.Cluster,
	instances []cloud.Instance, nodes map[string]*corev1.Node) *corev1beta1.Condition {
	if wc == nil {
		return &corev1beta1.Condition{Reason: WaitingForKubeconfigReason, Severity: corev1beta1.ConditionSeverityInfo,
			Message: fmt.Sprintf("instances cannot join: no reachable workload cluster behind Secret %s/%s", pool.Namespace, workload.KubeconfigSecretName(pool.ClusterName))}
	}
	checked := map[string]bool{}
	for _, in := range instances {
		if in.State != cloud.Running || nodes[in.ID] != nil || checked[in.BootstrapSecret] {
			continue
		}
		checked[in.BootstrapSecret] = true
		if !contract.HasBootstrapData(ctx, r.APIReader, types.NamespacedName{Namespace: smp.Namespace, Name: in.BootstrapSecret}) {
			return &corev1beta1.Condition{Reason: BootstrapDataMissingReason, Severity: corev1beta1.ConditionSeverityWarning,
				Message: fmt.Sprintf("instances cannot join: bootstrap data Secret %s/%s is missing or has no \"value\"", smp.Namespace, in.BootstrapSecret)}
		}
	}
	return nil
}

func (r *Reconciler) reconcileDelete(ctx context.Context, smp *infrav1beta1.SimMachinePool, group cloud.GroupRef) error {
	if !controllerutil.ContainsFinalizer(smp, infrav1beta1.SimMachinePoolFinalizer) {
		return nil
	}
	// Every instance goes through its Machine (drained, its Node deleted) or its SimMachinePoolMachine; the
	// group and its leftovers go once none remains (their deletions requeue through the watch).
	im, err := r.loadMachines(ctx, smp)
	if err != nil {
		return err
	}
	remaining, err := r.deleteMachines(ctx, im)
	if err != nil {
		return err
	}
	if remaining > 0 {
		conditions.MarkFalse(&smp.Status.Conditions, corev1beta1.ReadyCondition, "Deleting", corev1beta1.ConditionSeverityInfo,
			"waiting for %d SimMachinePoolMachines to be deleted", remaining)
		return nil
	}
	if err := r.Cloud.DeleteGroup(ctx, group); err != nil {
		return r.cloudError(smp, err)
	}
	r.event(ctx, smp, corev1.EventTypeNormal, "ScalingGroupDeleted", "Delete", "deleted scaling group %s and its instances", group)
	controllerutil.RemoveFinalizer(smp, infrav1beta1.SimMachinePoolFinalizer)
	r.Workload.Release(workloadUser(client.ObjectKeyFromObject(smp)))
	return nil
}

func (r *Reconciler) event(ctx context.Context, smp *infrav1beta1.SimMachinePool, eventType, reason, action, note string, args ...any) {
	ctrlutil.Event(ctx, r.Recorder, smp, eventType, reason, action, note, args...)
}

// launchConfig is what new instances get; its spec hash covers version, instance type (as the cloud resolved
// it) and the bootstrap Secret's name, never the Secret's contents (bootstrap providers rotate join tokens in
// place).
func launchConfig(smp *infrav1beta1.SimMachinePool, pool *machinePool, secretName, instanceType string) cloud.LaunchConfig {
	version := pool.Version
	failureDomains := smp.Spec.FailureDomains
	if len(failureDomains) == 0 {
		failureDomains = pool.FailureDomains
	}
	sum := sha256.Sum256([]byte(version + "\x00" + instanceType + "\x00" + secretName))
	return cloud.LaunchConfig{BootstrapSecret: secretName, Version: version, InstanceType: instanceType,
		FailureDomains: failureDomains, SpecHash: hex.EncodeToString(sum[:])[:16]}
}
