// Package machinehealthcheck is the machinehealthcheck controller: Cluster API v1.7.1's MachineHealthCheck for
// management clusters where Cluster API's own controller does not run. It judges the Machines a health check
// selects by their Nodes in the workload cluster and marks them HealthCheckSucceeded and OwnerRemediated as
// v1.7.1 does; the Machines' owner (the MachinePool) remediates. It reacts to Machine, Node, Cluster and
// workload-cluster health changes and requeues only for the next timeout.
package machinehealthcheck

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
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
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
	"github.com/machinepool-operator/machinepool-operator/internal/contract"
	"github.com/machinepool-operator/machinepool-operator/internal/ctrlutil"
	"github.com/machinepool-operator/machinepool-operator/internal/patch"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

// ControllerName is the controller's name in logs, metrics and --controllers.
const ControllerName = "machinehealthcheck"

// WorkloadClusterUnreachableReason is RemediationAllowed's reason while the workload cluster does not answer.
const WorkloadClusterUnreachableReason = "WorkloadClusterUnreachable"

// shortCircuitRetry is how soon a health check that stopped remediation (too many unhealthy) looks again when
// no change requeues it sooner; Cluster API v1.7.1 retries with the work queue's backoff instead.
const shortCircuitRetry = time.Minute

const (
	clusterCRDName = "clusters.cluster.x-k8s.io"
	// nodeRefIndex indexes Machines by "<cluster>/<node>" of their status.nodeRef, so a Node's change finds
	// its Machine in the Node's cluster without a list.
	nodeRefIndex = "machinehealthcheck.nodeRef"
	// clusterIndex indexes health checks by spec.clusterName (not by the cluster-name label, which only the
	// webhook and a first reconcile add).
	clusterIndex = "machinehealthcheck.clusterName"
	// unreachableRetry is how soon a health check whose workload cluster client could not be built tries again.
	unreachableRetry = 10 * time.Second
)

var clusterGVK = schema.GroupVersionKind{Group: "cluster.x-k8s.io", Version: "v1beta1", Kind: "Cluster"}

// +kubebuilder:rbac:groups=cluster.x-k8s.io,resources=machinehealthchecks,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=cluster.x-k8s.io,resources=machinehealthchecks/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cluster.x-k8s.io,resources=machines,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=cluster.x-k8s.io,resources=machines/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cluster.x-k8s.io,resources=clusters,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconciler reconciles MachineHealthChecks.
type Reconciler struct {
	// Client reads through the manager's cache.
	Client client.Client
	// Recorder emits events.
	Recorder events.EventRecorder
	// Workload is the manager's shared client of workload clusters (required).
	Workload *workload.Tracker
	// WatchFilter, when set, restricts the controller to health checks, Machines and Clusters labelled
	// cluster.x-k8s.io/watch-filter=<value>.
	WatchFilter string
	// Now is the clock; time.Now when nil (tests).
	Now func() time.Time

	mgr        ctrl.Manager
	cache      cache.Cache
	controller controller.Controller
	started    sync.Once
	events     chan event.GenericEvent
	filter     predicate.Predicate
	indexed    atomic.Bool

	mu              sync.Mutex
	watchingCluster bool
}

// SetupWithManager waits for the MachineHealthCheck and Machine CRDs and starts the controller once both are
// served, as the machinepoolmachine controller waits for Machines.
func (r *Reconciler) SetupWithManager(_ context.Context, mgr ctrl.Manager) error {
	if r.Workload == nil {
		return errors.New("the machinehealthcheck controller needs the manager's workload.Tracker")
	}
	r.mgr, r.cache = mgr, mgr.GetCache()
	r.events = make(chan event.GenericEvent, 1024)
	r.filter = ctrlutil.WatchFilter(r.WatchFilter)
	r.Workload.Subscribe(r.nodeChanged)
	crds := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetName() == capi.MachineHealthCheckCRDName || o.GetName() == capi.MachineCRDName
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName+"-crd").
		WatchesMetadata(&apiextensionsv1.CustomResourceDefinition{}, &handler.EnqueueRequestForObject{}, builder.WithPredicates(crds)).
		Complete(reconcile.Func(r.startWhenServed))
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// startWhenServed builds the health check controller once both CRDs are established.
func (r *Reconciler) startWhenServed(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	for _, name := range []string{capi.MachineHealthCheckCRDName, capi.MachineCRDName} {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := r.Client.Get(ctx, types.NamespacedName{Name: name}, crd); err != nil {
			return reconcile.Result{}, client.IgnoreNotFound(err)
		}
		if !established(crd) {
			return reconcile.Result{}, nil // its status change requeues
		}
	}
	var err error
	r.started.Do(func() {
		ctrl.LoggerFrom(ctx).Info("Cluster API's MachineHealthCheck and Machine CRDs are served: reconciling MachineHealthChecks")
		err = r.cache.IndexField(ctx, &capi.Machine{}, nodeRefIndex, func(o client.Object) []string {
			m := o.(*capi.Machine)
			if m.Status.NodeRef == nil || m.Status.NodeRef.Name == "" {
				return nil
			}
			return []string{m.Spec.ClusterName + "/" + m.Status.NodeRef.Name}
		})
		if err != nil {
			return
		}
		err = r.cache.IndexField(ctx, &capi.MachineHealthCheck{}, clusterIndex, func(o client.Object) []string {
			return []string{o.(*capi.MachineHealthCheck).Spec.ClusterName}
		})
		if err != nil {
			return
		}
		r.indexed.Store(true)
		r.controller, err = ctrl.NewControllerManagedBy(r.mgr).
			Named(ControllerName).
			For(&capi.MachineHealthCheck{}, builder.WithPredicates(r.filter, ctrlutil.NotOwnStatus())).
			Watches(&capi.Machine{}, handler.EnqueueRequestsFromMapFunc(r.checksOfMachine), builder.WithPredicates(r.filter)).
			// A kubeconfig Secret appearing or changing makes its cluster's Nodes readable.
			WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
				cluster, ok := workload.ClusterOfKubeconfigSecret(o.GetName())
				if !ok {
					return nil
				}
				return r.checksOfCluster(ctx, types.NamespacedName{Namespace: o.GetNamespace(), Name: cluster})
			})).
			WatchesRawSource(source.Channel(r.events, &handler.EnqueueRequestForObject{})).
			WithOptions(controller.Options{MaxConcurrentReconciles: 10}).
			Build(patch.RetryConflicts(r))
	})
	return reconcile.Result{}, err
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}

// checksOfMachine maps a Machine to the health checks of its cluster whose selector matches it.
func (r *Reconciler) checksOfMachine(ctx context.Context, o client.Object) []reconcile.Request {
	m, ok := o.(*capi.Machine)
	if !ok {
		return nil
	}
	checks := &capi.MachineHealthCheckList{}
	if err := r.Client.List(ctx, checks, client.InNamespace(m.Namespace), client.MatchingFields{clusterIndex: m.Spec.ClusterName}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing MachineHealthChecks to requeue")
		return nil
	}
	var out []reconcile.Request
	for i := range checks.Items {
		if selects(&checks.Items[i], m) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&checks.Items[i])})
		}
	}
	return out
}

// checksOfCluster maps a workload cluster to all of its health checks.
func (r *Reconciler) checksOfCluster(ctx context.Context, cluster types.NamespacedName) []reconcile.Request {
	checks := &capi.MachineHealthCheckList{}
	if err := r.Client.List(ctx, checks, client.InNamespace(cluster.Namespace), client.MatchingFields{clusterIndex: cluster.Name}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing MachineHealthChecks to requeue")
		return nil
	}
	return ctrlutil.Requests(checks.Items)
}

// selects says whether a health check's selector matches a Machine of its cluster; an empty or invalid
// selector matches nothing.
func selects(hc *capi.MachineHealthCheck, m *capi.Machine) bool {
	if m.Spec.ClusterName != hc.Spec.ClusterName {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(&hc.Spec.Selector)
	if err != nil || sel.Empty() {
		return false
	}
	return sel.Matches(labels.Set(m.Labels))
}

// nodeChanged requeues the health checks of the Machine whose Node changed, or all of a cluster's health
// checks when its health changed (node is nil).
func (r *Reconciler) nodeChanged(cluster types.NamespacedName, node *corev1.Node) {
	if !r.indexed.Load() {
		return
	}
	ctx := context.Background()
	var reqs []reconcile.Request
	if node == nil {
		reqs = r.checksOfCluster(ctx, cluster)
	} else {
		machines := &capi.MachineList{}
		if err := r.Client.List(ctx, machines, client.InNamespace(cluster.Namespace), client.MatchingFields{nodeRefIndex: cluster.Name + "/" + node.Name}); err != nil {
			return
		}
		for i := range machines.Items {
			if r.filter.Generic(event.GenericEvent{Object: &machines.Items[i]}) {
				reqs = append(reqs, r.checksOfMachine(ctx, &machines.Items[i])...)
			}
		}
	}
	r.enqueue(reqs)
}

func (r *Reconciler) enqueue(reqs []reconcile.Request) {
	for _, req := range reqs {
		hc := &capi.MachineHealthCheck{}
		hc.Namespace, hc.Name = req.Namespace, req.Name
		r.events <- event.GenericEvent{Object: hc}
	}
}

// ensureClusterWatch watches Clusters once Cluster API's Cluster CRD is served: a Cluster's pause and condition
// changes requeue its health checks (Cluster API v1.7.1 requeues only on creation and unpausing).
func (r *Reconciler) ensureClusterWatch(ctx context.Context) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watchingCluster {
		return true, nil
	}
	crd := &metav1.PartialObjectMetadata{}
	crd.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
	if err := r.Client.Get(ctx, types.NamespacedName{Name: clusterCRDName}, crd); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(clusterGVK)
	h := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		return r.checksOfCluster(ctx, client.ObjectKeyFromObject(o))
	})
	if err := r.controller.Watch(source.Kind[client.Object](r.cache, u, h, r.filter)); err != nil {
		return false, err
	}
	r.watchingCluster = true
	return true, nil
}

// user names a health check as a user of its workload cluster's client.
func user(key types.NamespacedName) string { return "MachineHealthCheck " + key.String() }

// Reconcile judges the health check's targets and marks them.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, reterr error) {
	hc := &capi.MachineHealthCheck{}
	if err := r.Client.Get(ctx, req.NamespacedName, hc); err != nil {
		if apierrors.IsNotFound(err) {
			r.Workload.Release(user(req.NamespacedName))
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ctrlutil.InShard(r.WatchFilter, hc) {
		return ctrl.Result{}, nil
	}
	cluster, err := r.getCluster(ctx, hc)
	if err != nil {
		return ctrl.Result{}, err
	}
	if _, paused := hc.Annotations[corev1beta1.PausedAnnotation]; paused {
		return ctrl.Result{}, nil
	}
	if cluster != nil {
		if paused, _ := contract.Cluster.Paused(cluster); paused {
			return ctrl.Result{}, nil
		}
	}
	ctx = ctrl.LoggerInto(ctx, ctrl.LoggerFrom(ctx).WithValues("MachineHealthCheck", klog.KObj(hc)))
	original := hc.DeepCopy()
	defer func() {
		if reterr == nil {
			hc.Status.ObservedGeneration = hc.Generation
		}
		if err := patch.Apply(ctx, r.Client, original, hc); err != nil && !apierrors.IsNotFound(err) {
			reterr = kerrors.NewAggregate([]error{reterr, err})
		}
	}()
	if hc.Labels == nil {
		hc.Labels = map[string]string{}
	}
	hc.Labels[corev1beta1.ClusterNameLabel] = hc.Spec.ClusterName
	if cluster != nil {
		if err := controllerutil.SetOwnerReference(cluster, hc, r.Client.Scheme(), controllerutil.WithBlockOwnerDeletion(false)); err != nil {
			return ctrl.Result{}, err
		}
	}
	res, err := r.reconcile(ctx, hc, cluster)
	if err != nil {
		r.event(ctx, hc, corev1.EventTypeWarning, "ReconcileError", "%v", err)
	}
	return res, err
}

// getCluster returns the health check's Cluster; nil without Cluster API or when it does not exist.
func (r *Reconciler) getCluster(ctx context.Context, hc *capi.MachineHealthCheck) (*unstructured.Unstructured, error) {
	served, err := r.ensureClusterWatch(ctx)
	if err != nil || !served {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(clusterGVK)
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: hc.Namespace, Name: hc.Spec.ClusterName}, u); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("getting Cluster %s: %w", hc.Spec.ClusterName, err)
	}
	return u, nil
}

// workloadState fills in what the workload cluster's client says: whether its Nodes can be trusted now, and
// when it last came back. It returns why they cannot be read, if so. A kubeconfig Secret appearing and a health
// change requeue the health check; a client that could not be built is retried (unreachableRetry).
func (r *Reconciler) workloadState(ctx context.Context, hc *capi.MachineHealthCheck, state *clusterState) (*workload.Cluster, string, time.Duration) {
	if !state.initialized() {
		return nil, "", 0
	}
	wc, err := r.Workload.Get(ctx, types.NamespacedName{Namespace: hc.Namespace, Name: hc.Spec.ClusterName}, user(client.ObjectKeyFromObject(hc)), "")
	switch {
	case errors.Is(err, workload.ErrNoKubeconfig):
		return nil, fmt.Sprintf("no kubeconfig Secret %s yet", workload.KubeconfigSecretName(hc.Spec.ClusterName)), 0
	case err != nil:
		return nil, err.Error(), unreachableRetry
	}
	if err := wc.Healthy(); err != nil {
		return wc, err.Error(), 0
	}
	state.reachable, state.recoveredAt = true, wc.RecoveredAt()
	return wc, "", 0
}

func (r *Reconciler) reconcile(ctx context.Context, hc *capi.MachineHealthCheck, cluster *unstructured.Unstructured) (ctrl.Result, error) {
	state := clusterState{standalone: cluster == nil}
	if cluster != nil {
		state.controlPlaneInitialized = contract.Cluster.TrueSince(cluster, "ControlPlaneInitialized")
		state.infrastructureReady = contract.Cluster.TrueSince(cluster, string(corev1beta1.InfrastructureReadyCondition))
	}
	wc, unreachable, retry := r.workloadState(ctx, hc, &state)
	targets, err := r.targets(ctx, hc, wc, state.reachable)
	if err != nil {
		return ctrl.Result{}, err
	}
	now := r.now()
	hc.Status.ExpectedMachines = int32(len(targets)) //nolint:gosec // a count of Machines
	hc.Status.Targets = make([]string, 0, len(targets))
	for _, t := range targets {
		hc.Status.Targets = append(hc.Status.Targets, t.machine.Name)
	}
	slices.Sort(hc.Status.Targets)
	if len(hc.Status.Targets) == 0 {
		hc.Status.Targets = nil
	}

	verdicts := make([]verdict, len(targets))
	healthy := 0
	var next time.Duration
	for i, t := range targets {
		v := needsRemediation(t, hc, state, now)
		if v.unhealthy && (v.reason == capi.UnhealthyNodeConditionReason || v.reason == capi.NodeNotFoundReason) && !markedAs(t.machine, v.reason) {
			// A new verdict on the Node's state is confirmed against the API server: the cache may be behind
			// (it reconnects after an outage on its own schedule), and a Node is never condemned by a stale copy.
			live, err := r.liveTarget(ctx, wc, t)
			if err != nil {
				return ctrl.Result{}, err
			}
			targets[i], t = live, live
			v = needsRemediation(t, hc, state, now)
		}
		verdicts[i] = v
		if isHealthy(t, v) {
			healthy++
		}
		next = ctrlutil.Sooner(next, v.next)
		if v.next > 0 && t.node != nil {
			r.event(ctx, t.machine, corev1.EventTypeNormal, "DetectedUnhealthy",
				"Machine %s has unhealthy Node %s", klog.KObj(t.machine), nodeName(t))
		}
	}
	hc.Status.CurrentHealthy = int32(healthy) //nolint:gosec // a count of Machines
	notHealthy := len(targets) - healthy

	allowed, remaining, err := remediationAllowed(hc, len(targets), notHealthy)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("error checking if remediation is allowed: %w", err)
	}
	switch {
	case unreachable != "":
		allowed = false
		hc.Status.RemediationsAllowed = 0
		conditions.MarkFalse(&hc.Status.Conditions, capi.RemediationAllowedCondition, WorkloadClusterUnreachableReason, corev1beta1.ConditionSeverityWarning,
			"Nodes are not judged while the workload cluster cannot be read (%s); a Node's unhealthy time counts from when it is back", unreachable)
	case !allowed:
		hc.Status.RemediationsAllowed = 0
		msg := fmt.Sprintf("Remediation is not allowed, the number of not started or unhealthy machines exceeds maxUnhealthy (total: %d, unhealthy: %d, maxUnhealthy: %s)",
			len(targets), notHealthy, maxUnhealthyString(hc))
		if hc.Spec.UnhealthyRange != nil {
			msg = fmt.Sprintf("Remediation is not allowed, the number of not started or unhealthy machines does not fall within the range (total: %d, unhealthy: %d, unhealthyRange: %s)",
				len(targets), notHealthy, *hc.Spec.UnhealthyRange)
		}
		if c := conditions.Get(hc.Status.Conditions, capi.RemediationAllowedCondition); c == nil || c.Message != msg {
			r.event(ctx, hc, corev1.EventTypeWarning, "RemediationRestricted", "%s", msg)
		}
		conditions.MarkFalse(&hc.Status.Conditions, capi.RemediationAllowedCondition, capi.TooManyUnhealthyReason, corev1beta1.ConditionSeverityWarning, "%s", msg)
	default:
		hc.Status.RemediationsAllowed = remaining
		conditions.MarkTrue(&hc.Status.Conditions, capi.RemediationAllowedCondition)
	}

	var errs []error
	for i, t := range targets {
		if err := r.mark(ctx, hc, t, verdicts[i], allowed); err != nil {
			errs = append(errs, err)
		}
	}
	if err := kerrors.NewAggregate(errs); err != nil {
		return ctrl.Result{}, err
	}
	if !allowed && unreachable == "" {
		next = ctrlutil.Sooner(next, shortCircuitRetry)
	}
	next = ctrlutil.Sooner(next, retry)
	return ctrl.Result{RequeueAfter: next}, nil
}

// isHealthy: judged healthy, with a Node, and not being deleted (v1.7.1 counts nothing else as healthy).
func isHealthy(t target, v verdict) bool {
	return v.judged && !v.unhealthy && t.machine.DeletionTimestamp.IsZero() && t.node != nil
}

func maxUnhealthyString(hc *capi.MachineHealthCheck) string {
	if hc.Spec.MaxUnhealthy == nil {
		return "100%"
	}
	return hc.Spec.MaxUnhealthy.String()
}

func nodeName(t target) string {
	if t.node != nil {
		return t.node.Name
	}
	return "<none yet>"
}

// targets lists the Machines the health check selects in its cluster, less those paused or opted out, each with
// its Node from the workload cluster's cache when it can be read.
func (r *Reconciler) targets(ctx context.Context, hc *capi.MachineHealthCheck, wc *workload.Cluster, reachable bool) ([]target, error) {
	sel, err := metav1.LabelSelectorAsSelector(&hc.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("spec.selector: %w", err)
	}
	if sel.Empty() {
		return nil, nil
	}
	machines := &capi.MachineList{}
	if err := r.Client.List(ctx, machines, client.InNamespace(hc.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, fmt.Errorf("listing Machines: %w", err)
	}
	var out []target
	for i := range machines.Items {
		m := &machines.Items[i]
		if m.Spec.ClusterName != hc.Spec.ClusterName || m.Labels[corev1beta1.ClusterNameLabel] != hc.Spec.ClusterName || skipped(m) {
			continue
		}
		t := target{machine: m}
		if reachable && m.Status.NodeRef != nil && m.Status.NodeRef.Name != "" {
			node := &corev1.Node{}
			err := wc.Get(ctx, client.ObjectKey{Name: m.Status.NodeRef.Name}, node)
			switch {
			case apierrors.IsNotFound(err):
				t.nodeMissing = true
			case err != nil:
				return nil, fmt.Errorf("getting Node %s: %w", m.Status.NodeRef.Name, err)
			default:
				t.node = node
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// markedAs says whether a Machine already carries HealthCheckSucceeded=False for reason.
func markedAs(m *capi.Machine, reason string) bool {
	c := conditions.Get(m.Status.Conditions, capi.HealthCheckSucceededCondition)
	return c != nil && c.Status == corev1.ConditionFalse && c.Reason == reason
}

// liveTarget reads a target's Node from the workload API server instead of the cache.
func (r *Reconciler) liveTarget(ctx context.Context, wc *workload.Cluster, t target) (target, error) {
	node := &corev1.Node{}
	err := wc.Direct.Get(ctx, client.ObjectKey{Name: t.machine.Status.NodeRef.Name}, node)
	switch {
	case apierrors.IsNotFound(err):
		return target{machine: t.machine, nodeMissing: true}, nil
	case err != nil:
		return t, fmt.Errorf("reading Node %s: %w", t.machine.Status.NodeRef.Name, err)
	}
	return target{machine: t.machine, node: node}, nil
}

// mark writes a target's HealthCheckSucceeded (and, when remediation is allowed, OwnerRemediated=False for the
// unhealthy) where they change, touching no other condition of the Machine.
func (r *Reconciler) mark(ctx context.Context, hc *capi.MachineHealthCheck, t target, v verdict, allowed bool) error {
	m := t.machine
	original := m.DeepCopy()
	var owned []string
	switch {
	case v.unhealthy:
		conditions.MarkFalse(&m.Status.Conditions, capi.HealthCheckSucceededCondition, v.reason, corev1beta1.ConditionSeverityWarning, "%s", v.message)
		owned = append(owned, string(capi.HealthCheckSucceededCondition))
		if c := conditions.Get(m.Status.Conditions, capi.OwnerRemediatedCondition); allowed && m.DeletionTimestamp.IsZero() && (c == nil || c.Status == corev1.ConditionTrue) {
			// A False OwnerRemediated is left alone: the owner is at work on it. Unlike v1.7.1, a Machine being
			// deleted (its owner's True mark on it says it is being remediated) is not marked again.
			conditions.MarkFalse(&m.Status.Conditions, capi.OwnerRemediatedCondition, capi.WaitingForRemediationReason, corev1beta1.ConditionSeverityWarning,
				"marked unhealthy by MachineHealthCheck %s: %s", hc.Name, v.message)
			owned = append(owned, string(capi.OwnerRemediatedCondition))
		}
	case isHealthy(t, v):
		conditions.MarkTrue(&m.Status.Conditions, capi.HealthCheckSucceededCondition)
		owned = append(owned, string(capi.HealthCheckSucceededCondition))
	default:
		return nil
	}
	if err := patch.Apply(ctx, r.Client, original, m, patch.OwnedConditions(owned...)); err != nil {
		return err
	}
	if v.unhealthy && allowed && slices.Contains(owned, string(capi.OwnerRemediatedCondition)) {
		r.event(ctx, m, corev1.EventTypeNormal, "MachineMarkedUnhealthy",
			"Machine %s has been marked as unhealthy by MachineHealthCheck %s: %s", klog.KObj(m), hc.Name, v.message)
	}
	return nil
}

// event records an event of the health check's (action HealthCheck).
func (r *Reconciler) event(ctx context.Context, obj client.Object, eventType, reason, note string, args ...any) {
	ctrlutil.Event(ctx, r.Recorder, obj, eventType, reason, "HealthCheck", note, args...)
}
