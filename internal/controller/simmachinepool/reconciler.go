package simmachinepool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/intstr"
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
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/cloud"
	"github.com/machinepool-operator/machinepool-operator/internal/cloud/sim"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
	"github.com/machinepool-operator/machinepool-operator/internal/contract"
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
	// Workload is the manager's shared client of workload clusters, for the instances' kubelets (required).
	Workload *workload.Tracker
	// Heartbeat is how often a running instance refreshes its Node; default 40s.
	Heartbeat time.Duration
	// Recorder emits events.
	Recorder events.EventRecorder
	// WatchFilter, when set, restricts the controller to objects labelled cluster.x-k8s.io/watch-filter=<value>.
	WatchFilter string

	controller       controller.Controller
	cache            cache.Cache
	mu               sync.Mutex
	watchingMachines bool
}

// SetupWithManager registers the controller and its watches.
func (r *Reconciler) SetupWithManager(_ context.Context, mgr ctrl.Manager) error {
	if r.Heartbeat <= 0 {
		r.Heartbeat = 40 * time.Second
	}
	if r.Workload == nil {
		return errors.New("the simmachinepool controller needs the manager's workload.Tracker")
	}
	// Simulated kubelets complete the deletion of their Pods.
	r.Workload.Watch(&corev1.Pod{}, func(cluster types.NamespacedName, o client.Object) {
		if pod, ok := o.(*corev1.Pod); ok {
			r.FinishPod(cluster, pod)
		}
	})
	filter := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return r.WatchFilter == "" || o.GetLabels()[corev1beta1.WatchFilterLabel] == r.WatchFilter
	})
	r.cache = mgr.GetCache()
	c, err := ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		For(&infrav1beta1.SimMachinePool{}, builder.WithPredicates(filter, notOwnStatus())).
		Watches(&corev1beta1.MachinePool{}, handler.EnqueueRequestsFromMapFunc(infraOfPool)).
		Watches(&infrav1beta1.SimMachinePoolMachine{}, handler.EnqueueRequestsFromMapFunc(poolsOwning), builder.WithPredicates(notOwnStatus())).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.poolsOfKubeconfig)).
		WithOptions(controller.Options{MaxConcurrentReconciles: 10}).
		Build(patch.RetryConflicts(r))
	if err != nil {
		return err
	}
	r.controller = c
	return (&MachineReconciler{Client: r.Client, Cloud: r.Cloud}).SetupWithManager(mgr)
}

// pausedBecause says why the SimMachinePool is paused: its own or its MachinePool's paused annotation, or
// spec.paused on the Cluster that owns the MachinePool; "" when it is not.
func (r *Reconciler) pausedBecause(ctx context.Context, smp *infrav1beta1.SimMachinePool, pool *corev1beta1.MachinePool) string {
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

// FinishPod does what a kubelet does for a Pod on its Node that is being deleted: it removes it for good
// (grace period 0), so evictions, drains and deletions complete on a control plane without kubelets. Only
// Pods on the simulated cloud's Nodes are touched.
func (r *Reconciler) FinishPod(cluster types.NamespacedName, pod *corev1.Pod) {
	if pod.DeletionTimestamp.IsZero() || pod.Spec.NodeName == "" {
		return
	}
	ctx := context.Background()
	wc := r.Workload.Lookup(cluster)
	if wc == nil {
		return
	}
	node := &corev1.Node{}
	if err := wc.Get(ctx, client.ObjectKey{Name: pod.Spec.NodeName}, node); err != nil || !strings.HasPrefix(node.Spec.ProviderID, "sim://") {
		return
	}
	_ = finishPod(ctx, wc, pod)
}

// finishPod removes a terminating Pod for good, as its kubelet would once its containers stopped.
func finishPod(ctx context.Context, wc *workload.Cluster, pod *corev1.Pod) error {
	err := wc.Delete(ctx, pod, client.GracePeriodSeconds(0), client.Preconditions{UID: &pod.UID})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // already gone, or a new Pod of the same name
	}
	return err
}

// notOwnStatus drops the update events of the controller's own status writes.
func notOwnStatus() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld, e.ObjectNew
		return o.GetGeneration() != n.GetGeneration() || !reflect.DeepEqual(o.GetAnnotations(), n.GetAnnotations()) ||
			!reflect.DeepEqual(o.GetLabels(), n.GetLabels()) || !reflect.DeepEqual(o.GetOwnerReferences(), n.GetOwnerReferences()) ||
			!o.GetDeletionTimestamp().Equal(n.GetDeletionTimestamp())
	}}
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
	list := &infrav1beta1.SimMachinePoolList{}
	if err := r.Client.List(ctx, list, client.InNamespace(o.GetNamespace()), client.MatchingLabels{corev1beta1.ClusterNameLabel: clusterName}); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return out
}

// infraOfPool maps a MachinePool to the SimMachinePool it references.
func infraOfPool(_ context.Context, o client.Object) []reconcile.Request {
	ref := o.(*corev1beta1.MachinePool).Spec.Template.Spec.InfrastructureRef
	gv, _ := schema.ParseGroupVersion(ref.APIVersion)
	if ref.Kind != "SimMachinePool" || gv.Group != infrav1beta1.GroupVersion.Group {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: ref.Name}}}
}

// ownerPool returns the MachinePool that owns the SimMachinePool, or nil while none does.
func (r *Reconciler) ownerPool(ctx context.Context, smp *infrav1beta1.SimMachinePool) (*corev1beta1.MachinePool, error) {
	for _, ref := range smp.OwnerReferences {
		gv, _ := schema.ParseGroupVersion(ref.APIVersion)
		if ref.Kind != "MachinePool" || gv.Group != corev1beta1.GroupVersion.Group {
			continue
		}
		pool := &corev1beta1.MachinePool{}
		err := r.Client.Get(ctx, types.NamespacedName{Namespace: smp.Namespace, Name: ref.Name}, pool)
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return pool, err
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
	ctx = ctrl.LoggerInto(ctx, ctrl.LoggerFrom(ctx).WithValues("SimMachinePool", klog.KObj(smp)))
	group := cloud.GroupRef{Namespace: smp.Namespace, Name: smp.Name}

	pool, err := r.ownerPool(ctx, smp)
	if err != nil {
		return ctrl.Result{}, err
	}
	original := smp.DeepCopy()
	defer func() {
		if reterr == nil { // a reconcile that failed has not acted on all of the spec
			smp.Status.ObservedGeneration = smp.Generation
		}
		if err := patch.Apply(ctx, r.Client, original, smp); err != nil {
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
	publishCapacity(smp)

	secretName := pool.Spec.Template.Spec.Bootstrap.DataSecretName
	if secretName == nil || *secretName == "" {
		conditions.MarkFalse(&smp.Status.Conditions, corev1beta1.ReadyCondition, WaitingForBootstrapDataReason, corev1beta1.ConditionSeverityInfo,
			"waiting for MachinePool %s to have spec.template.spec.bootstrap.dataSecretName", pool.Name)
		return ctrl.Result{}, nil
	}
	return r.reconcileGroup(ctx, smp, pool, group, *secretName)
}

func (r *Reconciler) reconcileGroup(ctx context.Context, smp *infrav1beta1.SimMachinePool, pool *corev1beta1.MachinePool, group cloud.GroupRef, secretName string) (ctrl.Result, error) {
	desired := poolReplicas(pool)
	launch := launchConfig(smp, pool, secretName)

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
	nodes := r.nodesOf(ctx, wc, instances)
	im, err := r.loadMachines(ctx, smp)
	if err != nil {
		return ctrl.Result{}, err
	}

	// Instances launched with another spec hash are replaced within maxSurge/maxUnavailable: the group grows
	// by the surge, and an outdated instance goes only while enough Ready ones remain. An instance whose
	// Machine is being deleted is on its way out: it counts as unavailable and is the first to go.
	var live, outdated []candidate
	var readyLive int
	for i, in := range instances {
		if in.State != cloud.Pending && in.State != cloud.Running {
			continue
		}
		n := nodes[in.ID]
		c := candidate{instance: in, seq: i, going: im.going(in.ID), outdated: in.SpecHash != launch.SpecHash,
			marked: im.marked(in.ID) || (n != nil && hasKey(n.Annotations, DeleteMachineAnnotation))}
		c.ready = in.State == cloud.Running && nodeReady(n) && !c.going
		live = append(live, c)
		if c.outdated && !c.going {
			outdated = append(outdated, c)
		}
		if c.ready {
			readyLive++
		}
	}
	maxSurge, maxUnavailable := rollingBounds(smp, desired)
	target := desired
	if len(outdated) > 0 {
		target += min(maxSurge, int32(len(outdated))) //nolint:gosec // bounded by the pool's size
	}

	var victims []cloud.Instance
	if excess := len(live) - int(target); excess > 0 {
		victims = pickVictims(live, excess, deletePolicy(smp)) // scale-in
	} else if len(outdated) > 0 {
		if budget := readyLive - int(desired-maxUnavailable); budget > 0 {
			victims = pickVictims(outdated, min(budget, len(outdated)), deletePolicy(smp)) // rollout
		}
	}
	requeue := time.Duration(0)
	for _, victim := range victims {
		if im.served {
			// The Machine controller drains the Node and deletes the SimMachinePoolMachine, whose finalizer
			// terminates the instance.
			if err := r.removeInstance(ctx, smp, im, victim.ID); err != nil {
				return ctrl.Result{}, err
			}
			continue
		}
		drained, err := r.drain(ctx, smp, pool, wc, nodes[victim.ID])
		if err != nil {
			return ctrl.Result{}, err
		}
		if !drained {
			requeue = drainRetry
			continue
		}
		if err := r.Cloud.Terminate(ctx, group, victim.ID); err != nil && !errors.Is(err, cloud.ErrInstanceNotFound) {
			return ctrl.Result{}, r.cloudError(smp, err)
		}
		r.event(smp, corev1.EventTypeNormal, "InstanceTerminated", "ScaleIn", "terminated instance %s (desired %d)", victim.ID, desired)
	}
	desired = target
	if err := r.Cloud.EnsureGroup(ctx, cloud.GroupSpec{Ref: group, Region: smp.Spec.Region, Desired: desired, Launch: launch, Settings: settings(smp)}); err != nil {
		return ctrl.Result{}, r.cloudError(smp, err)
	}
	if instances, err = r.instances(ctx, group); err != nil {
		return ctrl.Result{}, r.cloudError(smp, err)
	}
	conditions.MarkTrue(&smp.Status.Conditions, ScalingGroupReadyCondition)
	if err := r.syncMachines(ctx, smp, pool, im, instances); err != nil {
		return ctrl.Result{}, err
	}

	next, nodes, blocked, err := r.runKubelets(ctx, smp, pool, wc, instances, secretName)
	writeStatus(smp, poolReplicas(pool), instances, nodes, blocked)
	if smp.Status.ReadyReplicas > int32(readyLive) { //nolint:gosec // bounded by the pool's size
		// Nodes became Ready in this pass: the scale and rollout decisions above did not see them yet.
		requeue = shortestWait(requeue, 200*time.Millisecond)
	}
	// Boots and shutdowns end on their own: look again then (at once if that moment passed meanwhile).
	for _, in := range instances {
		if !in.ChangesAt.IsZero() && (next.IsZero() || in.ChangesAt.Before(next)) {
			next = in.ChangesAt
		}
	}
	after := requeue
	if !next.IsZero() {
		after = shortestWait(after, max(time.Until(next), 100*time.Millisecond))
	}
	return ctrl.Result{RequeueAfter: after}, errors.Join(err, wcErr)
}

func shortestWait(a, b time.Duration) time.Duration {
	if a == 0 || b < a {
		return b
	}
	return a
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
func (r *Reconciler) workloadCluster(ctx context.Context, smp *infrav1beta1.SimMachinePool, pool *corev1beta1.MachinePool) (*workload.Cluster, error) {
	return r.Workload.Get(ctx, types.NamespacedName{Namespace: pool.Namespace, Name: pool.Spec.ClusterName},
		workloadUser(client.ObjectKeyFromObject(smp)), "")
}

// workloadUser names a SimMachinePool as a user of its workload cluster's client (its simulated kubelets).
func workloadUser(smp types.NamespacedName) string { return "SimMachinePool " + smp.String() }

// nodesOf reads the Nodes of the instances, by instance ID (the Node name a simulated kubelet registers).
func (r *Reconciler) nodesOf(ctx context.Context, wc *workload.Cluster, instances []cloud.Instance) map[string]*corev1.Node {
	out := map[string]*corev1.Node{}
	if wc == nil {
		return out
	}
	for _, in := range instances {
		n := &corev1.Node{}
		if err := wc.Get(ctx, client.ObjectKey{Name: in.ID}, n); err == nil {
			out[in.ID] = n
		}
	}
	return out
}

// runKubelets lets every instance do what its kubelet would. It returns when the next heartbeat is due, the
// instances' Nodes, and a condition when instances cannot join at all.
func (r *Reconciler) runKubelets(ctx context.Context, smp *infrav1beta1.SimMachinePool, pool *corev1beta1.MachinePool, wc *workload.Cluster, instances []cloud.Instance, secretName string) (time.Time, map[string]*corev1.Node, *corev1beta1.Condition, error) {
	nodes := map[string]*corev1.Node{}
	if wc == nil {
		return time.Time{}, nodes, &corev1beta1.Condition{Reason: WaitingForKubeconfigReason, Severity: corev1beta1.ConditionSeverityInfo,
			Message: fmt.Sprintf("instances cannot join: no reachable workload cluster behind Secret %s/%s", pool.Namespace, workload.KubeconfigSecretName(pool.Spec.ClusterName))}, nil
	}
	var blocked *corev1beta1.Condition
	hasData := r.bootstrapDataExists(ctx, smp.Namespace, secretName)
	// One read per bootstrap Secret per pass, however many instances were launched with it.
	hasDataOf := map[string]bool{secretName: hasData}
	if !hasData {
		blocked = &corev1beta1.Condition{Reason: BootstrapDataMissingReason, Severity: corev1beta1.ConditionSeverityWarning,
			Message: fmt.Sprintf("instances cannot join: bootstrap data Secret %s/%s is missing or has no \"value\"", smp.Namespace, secretName)}
	}
	kubelet := &sim.Kubelet{Workload: wc, Heartbeat: r.Heartbeat}
	var next time.Time
	var errs []error
	for _, in := range instances {
		// An instance joins with the data it was launched with; a rolled-over Secret name keeps old instances
		// on theirs.
		joinable, known := hasDataOf[in.BootstrapSecret]
		if !known {
			joinable = r.bootstrapDataExists(ctx, smp.Namespace, in.BootstrapSecret)
			hasDataOf[in.BootstrapSecret] = joinable
		}
		node, due, err := kubelet.Sync(ctx, in, joinable)
		if err != nil && !errors.Is(err, sim.ErrNoBootstrapData) {
			errs = append(errs, err)
		}
		if node != nil {
			nodes[in.ID] = node
		}
		if !due.IsZero() && (next.IsZero() || due.Before(next)) {
			next = due
		}
	}
	return next, nodes, blocked, errors.Join(errs...)
}

// bootstrapDataExists says whether the bootstrap data Secret exists with a non-empty "value".
func (r *Reconciler) bootstrapDataExists(ctx context.Context, namespace, name string) bool {
	s := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, s); err != nil {
		return false
	}
	return len(s.Data["value"]) > 0
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
	r.event(smp, corev1.EventTypeNormal, "ScalingGroupDeleted", "Delete", "deleted scaling group %s and its instances", group)
	controllerutil.RemoveFinalizer(smp, infrav1beta1.SimMachinePoolFinalizer)
	r.Workload.Release(workloadUser(client.ObjectKeyFromObject(smp)))
	return nil
}

func (r *Reconciler) event(smp *infrav1beta1.SimMachinePool, eventType, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(smp, nil, eventType, reason, action, note, args...)
	}
}

// launchConfig is what new instances get; its spec hash covers version, instance type and the bootstrap
// Secret's name, never the Secret's contents (bootstrap providers rotate join tokens in place).
func launchConfig(smp *infrav1beta1.SimMachinePool, pool *corev1beta1.MachinePool, secretName string) cloud.LaunchConfig {
	version := ""
	if v := pool.Spec.Template.Spec.Version; v != nil {
		version = *v
	}
	instanceType := smp.Spec.InstanceType
	if _, ok := sim.InstanceTypes[instanceType]; !ok {
		instanceType = sim.DefaultInstanceType
	}
	failureDomains := smp.Spec.FailureDomains
	if len(failureDomains) == 0 {
		failureDomains = pool.Spec.FailureDomains
	}
	sum := sha256.Sum256([]byte(version + "\x00" + instanceType + "\x00" + secretName))
	return cloud.LaunchConfig{BootstrapSecret: secretName, Version: version, InstanceType: instanceType,
		FailureDomains: failureDomains, SpecHash: hex.EncodeToString(sum[:])[:16]}
}

func settings(smp *infrav1beta1.SimMachinePool) map[string]string {
	s := map[string]string{}
	if sim := smp.Spec.Simulation; sim != nil {
		if sim.BootDelay != nil {
			s["sim.bootDelay"] = sim.BootDelay.Duration.String()
		}
		if sim.BootJitter != nil {
			s["sim.bootJitter"] = sim.BootJitter.Duration.String()
		}
		if sim.CapacityLimit != nil {
			s["sim.capacityLimit"] = fmt.Sprint(*sim.CapacityLimit)
		}
	}
	return s
}

// poolReplicas is the owning pool's spec.replicas: unset means 1, negative 0.
func poolReplicas(pool *corev1beta1.MachinePool) int32 {
	if pool.Spec.Replicas == nil {
		return 1
	}
	return max(*pool.Spec.Replicas, 0)
}

// rollingBounds resolves maxSurge (default 1, percentages round up) and maxUnavailable (default 0, round down)
// against the desired count; at least one of them is kept above zero so a rollout always progresses.
func rollingBounds(smp *infrav1beta1.SimMachinePool, desired int32) (surge, unavailable int32) {
	surgeV, unavailV := intstr.FromInt32(1), intstr.FromInt32(0)
	if s := smp.Spec.Strategy; s != nil && s.RollingUpdate != nil {
		if s.RollingUpdate.MaxSurge != nil {
			surgeV = *s.RollingUpdate.MaxSurge
		}
		if s.RollingUpdate.MaxUnavailable != nil {
			unavailV = *s.RollingUpdate.MaxUnavailable
		}
	}
	s, err1 := intstr.GetScaledValueFromIntOrPercent(&surgeV, int(desired), true)
	u, err2 := intstr.GetScaledValueFromIntOrPercent(&unavailV, int(desired), false)
	if err1 != nil || s < 0 {
		s = 1
	}
	if err2 != nil || u < 0 {
		u = 0
	}
	if s == 0 && u == 0 {
		s = 1
	}
	return int32(min(s, int(desired)+1)), int32(min(u, int(desired))) //nolint:gosec // bounded by desired
}

func deletePolicy(smp *infrav1beta1.SimMachinePool) infrav1beta1.DeletePolicy {
	if s := smp.Spec.Strategy; s != nil && s.RollingUpdate != nil && s.RollingUpdate.DeletePolicy != "" {
		return s.RollingUpdate.DeletePolicy
	}
	return infrav1beta1.DeletePolicyOldest
}
