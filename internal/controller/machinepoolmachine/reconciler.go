package machinepoolmachine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
	"github.com/machinepool-operator/machinepool-operator/internal/contract"
	"github.com/machinepool-operator/machinepool-operator/internal/ctrlutil"
	"github.com/machinepool-operator/machinepool-operator/internal/drain"
	"github.com/machinepool-operator/machinepool-operator/internal/patch"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

// ControllerName is the controller's name in logs, metrics and --controllers.
const ControllerName = "machinepoolmachine"

// Condition reasons of a MachinePool Machine.
const (
	WaitingForInfrastructureReason = "WaitingForInfrastructure"
	InfrastructureNotFoundReason   = "InfrastructureNotFound"
	NodeNotFoundReason             = "NodeNotFound"
	NodeNotReadyReason             = "NodeNotReady"
	WorkloadUnreachableReason      = "WorkloadClusterUnreachable"
	DrainingReason                 = "Draining"
	DrainTimeoutReason             = "DrainTimeout"
)

// +kubebuilder:rbac:groups=cluster.x-k8s.io,resources=machines,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=cluster.x-k8s.io,resources=machines/status;machines/finalizers,verbs=get;update;patch
// +kubebuilder:rbac:groups=infrastructure.cluster.x-k8s.io,resources=*,verbs=get;list;watch;update;patch;delete
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconciler reconciles MachinePool Machines.
type Reconciler struct {
	// Client reads through the manager's cache.
	Client client.Client
	// Recorder emits events.
	Recorder events.EventRecorder
	// Workload is the manager's shared client of workload clusters (required).
	Workload *workload.Tracker
	// WatchFilter, when set, restricts the controller to Machines labelled cluster.x-k8s.io/watch-filter=<value>.
	WatchFilter string

	mgr        ctrl.Manager
	controller controller.Controller
	cache      cache.Cache
	started    sync.Once
	nodeEvents chan event.GenericEvent

	// nodeWrites keeps the Node versions this controller wrote over, so that a reconcile reading one of them
	// from the cache does not repeat the write.
	nodeWrites patch.CacheGuard[types.UID]

	mu       sync.Mutex
	watching map[schema.GroupKind]bool
	// filter is the watch filter, applied to Node-driven requeues too.
	filter predicate.Predicate
	// indexed is set once the Machine cache has the provider-ID index Node changes are looked up in.
	indexed atomic.Bool
}

// ownedConditions are the Machine conditions this controller sets; others (a health check's
// HealthCheckSucceeded and OwnerRemediated) are left as the API server has them.
var ownedConditions = []string{string(corev1beta1.ReadyCondition), string(corev1beta1.BootstrapReadyCondition),
	string(corev1beta1.InfrastructureReadyCondition), string(capi.NodeHealthyCondition), string(capi.DrainingSucceededCondition)}

// providerIDIndex indexes Machines by the instance key of their provider ID (workload.InstanceKey, as the Node
// index does), so that "aws:///zone/i-1" on a Machine and "aws:////i-1" on its Node meet; candidates are then
// confirmed with workload.SameInstance.
const providerIDIndex = "spec.providerID.instance"

func machineProviderID(o client.Object) string {
	if id := o.(*capi.Machine).Spec.ProviderID; id != nil {
		return *id
	}
	return ""
}

// SetupWithManager waits for Cluster API's Machine CRD (a small watch on CRDs) and starts the controller once
// it is served: before that there is nothing to reconcile, and a watch on an unserved kind could not start.
func (r *Reconciler) SetupWithManager(_ context.Context, mgr ctrl.Manager) error {
	r.mgr = mgr
	r.cache = mgr.GetCache()
	r.watching = map[schema.GroupKind]bool{}
	r.nodeEvents = make(chan event.GenericEvent, 1024)
	r.filter = ctrlutil.WatchFilter(r.WatchFilter)
	if r.Workload == nil {
		return errors.New("the machinepoolmachine controller needs the manager's workload.Tracker")
	}
	r.Workload.Subscribe(r.nodeChanged)
	machineCRD := predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetName() == capi.MachineCRDName })
	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName+"-crd").
		WatchesMetadata(&apiextensionsv1.CustomResourceDefinition{}, &handler.EnqueueRequestForObject{}, builder.WithPredicates(machineCRD)).
		Complete(reconcile.Func(r.startWhenServed))
}

// startWhenServed builds the Machine controller the first time the Machine CRD is established.
func (r *Reconciler) startWhenServed(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := r.Client.Get(ctx, req.NamespacedName, crd); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	established := false
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			established = true
		}
	}
	if !established {
		return reconcile.Result{}, nil // the CRD's status change requeues
	}
	var err error
	r.started.Do(func() {
		ctrl.LoggerFrom(ctx).Info("Cluster API's Machine CRD is served: reconciling MachinePool Machines")
		if err = r.cache.IndexField(ctx, &capi.Machine{}, providerIDIndex, workload.InstanceKeyIndexer(machineProviderID)); err != nil {
			return
		}
		r.indexed.Store(true)
		r.controller, err = ctrl.NewControllerManagedBy(r.mgr).
			Named(ControllerName).
			For(&capi.Machine{}, builder.WithPredicates(ownedByMachinePool(), r.filter)).
			WatchesRawSource(source.Channel(r.nodeEvents, &handler.EnqueueRequestForObject{})).
			WithOptions(controller.Options{MaxConcurrentReconciles: 10}).
			Build(patch.RetryConflicts(r))
	})
	return reconcile.Result{}, err
}

// ownedByMachinePool keeps the Machines a MachinePool controls; the others belong to Cluster API's Machine
// controller (or to no one).
func ownedByMachinePool() predicate.Predicate {
	return predicate.NewPredicateFuncs(func(o client.Object) bool { return poolOwner(o) != nil })
}

func poolOwner(o metav1.Object) *metav1.OwnerReference {
	ref := metav1.GetControllerOf(o)
	if ref == nil || ref.Kind != "MachinePool" {
		return nil
	}
	if gv, err := schema.ParseGroupVersion(ref.APIVersion); err != nil || gv.Group != corev1beta1.GroupVersion.Group {
		return nil
	}
	return ref
}

// nodeChanged requeues the Machine of a changed Node.
func (r *Reconciler) nodeChanged(_ types.NamespacedName, node *corev1.Node) {
	if node == nil || node.Spec.ProviderID == "" {
		return
	}
	key := workload.InstanceKey(node.Spec.ProviderID)
	if key == "" || !r.indexed.Load() {
		return
	}
	machines := &capi.MachineList{}
	if err := r.Client.List(context.Background(), machines, client.MatchingFields{providerIDIndex: key}); err != nil {
		return
	}
	for i := range machines.Items {
		m := &machines.Items[i]
		if m.Spec.ProviderID == nil || !workload.SameInstance(*m.Spec.ProviderID, node.Spec.ProviderID) {
			continue
		}
		if poolOwner(m) != nil && r.filter.Generic(event.GenericEvent{Object: m}) {
			r.nodeEvents <- event.GenericEvent{Object: m}
		}
	}
}

// ensureWatch watches an infra machine kind, requeueing the Machine that controls each object.
func (r *Reconciler) ensureWatch(gvk schema.GroupVersionKind) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watching[gvk.GroupKind()] {
		return nil
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	h := handler.EnqueueRequestForOwner(r.Client.Scheme(), r.Client.RESTMapper(), &capi.Machine{}, handler.OnlyControllerOwner())
	if err := r.controller.Watch(source.Kind[client.Object](r.cache, u, h)); err != nil {
		return err
	}
	r.watching[gvk.GroupKind()] = true
	return nil
}

// Reconcile keeps one MachinePool Machine true to its infra machine and Node.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, reterr error) {
	m := &capi.Machine{}
	if err := r.Client.Get(ctx, req.NamespacedName, m); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if poolOwner(m) == nil || !ctrlutil.InShard(r.WatchFilter, m) {
		return ctrl.Result{}, nil
	}
	if _, paused := m.Annotations[corev1beta1.PausedAnnotation]; paused {
		return ctrl.Result{}, nil
	}
	ctx = ctrl.LoggerInto(ctx, ctrl.LoggerFrom(ctx).WithValues("Machine", klog.KObj(m)))
	original := m.DeepCopy()
	defer func() {
		if reterr == nil { // a reconcile that failed has not acted on all of the spec
			m.Status.ObservedGeneration = m.Generation
		}
		if err := patch.Apply(ctx, r.Client, original, m, patch.OwnedConditions(ownedConditions...)); err != nil && !apierrors.IsNotFound(err) {
			reterr = kerrors.NewAggregate([]error{reterr, err})
		}
	}()

	infra, err := r.infraMachine(ctx, m)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !m.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, m, infra)
	}
	controllerutil.AddFinalizer(m, capi.MachineFinalizer)
	m.Status.BootstrapReady = true // the pool bootstraps its instances
	conditions.MarkTrue(&m.Status.Conditions, corev1beta1.BootstrapReadyCondition)

	if infra == nil {
		m.Status.InfrastructureReady = false
		conditions.MarkFalse(&m.Status.Conditions, corev1beta1.InfrastructureReadyCondition, InfrastructureNotFoundReason, corev1beta1.ConditionSeverityWarning,
			"%s %s does not exist", m.Spec.InfrastructureRef.Kind, m.Spec.InfrastructureRef.Name)
		r.setPhase(ctx, m)
		return ctrl.Result{}, nil
	}
	if err := r.own(ctx, m, infra); err != nil {
		return ctrl.Result{}, err
	}
	providerID, perr := contract.InfraMachine.ProviderID(infra)
	ready, rerr := contract.InfraMachine.Provisioned(infra)
	if err := errors.Join(perr, rerr); err != nil {
		conditions.MarkFalse(&m.Status.Conditions, corev1beta1.InfrastructureReadyCondition, corev1beta1.InvalidProviderDataReason, corev1beta1.ConditionSeverityError, "%v", err)
		return ctrl.Result{}, nil
	}
	if providerID != "" && (m.Spec.ProviderID == nil || *m.Spec.ProviderID != providerID) {
		m.Spec.ProviderID = &providerID
	}
	m.Status.InfrastructureReady = ready
	if ready {
		conditions.MarkTrue(&m.Status.Conditions, corev1beta1.InfrastructureReadyCondition)
	} else {
		conditions.MarkFalse(&m.Status.Conditions, corev1beta1.InfrastructureReadyCondition, WaitingForInfrastructureReason, corev1beta1.ConditionSeverityInfo,
			"waiting for %s %s to report status.ready", infra.GetKind(), infra.GetName())
	}
	interruptible, err := contract.InfraMachine.Interruptible(infra)
	if err != nil {
		conditions.MarkFalse(&m.Status.Conditions, corev1beta1.InfrastructureReadyCondition, corev1beta1.InvalidProviderDataReason, corev1beta1.ConditionSeverityError, "%v", err)
	}
	res, err := r.reconcileNode(ctx, m, interruptible)
	r.setPhase(ctx, m)
	return res, err
}

// forget drops what the controller keeps of a Machine that is gone.
func (r *Reconciler) forget(key types.NamespacedName) {
	r.Workload.Release(workloadUser(key))
}

// infraMachine reads the Machine's infra machine; nil when it does not exist.
func (r *Reconciler) infraMachine(ctx context.Context, m *capi.Machine) (*unstructured.Unstructured, error) {
	ref := m.Spec.InfrastructureRef
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil || ref.Kind == "" || ref.Name == "" {
		return nil, nil //nolint:nilerr // a malformed reference names nothing that exists
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gv.WithKind(ref.Kind))
	err = r.Client.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: ref.Name}, u)
	switch {
	case meta.IsNoMatchError(err):
		return nil, nil
	case apierrors.IsNotFound(err):
		return nil, r.ensureWatch(gv.WithKind(ref.Kind))
	case err != nil:
		return nil, fmt.Errorf("getting %s %s: %w", ref.Kind, ref.Name, err)
	}
	return u, r.ensureWatch(gv.WithKind(ref.Kind))
}

// own makes the Machine the controller of its infra machine, keeping the references others added (the infra
// pool's, as a plain owner).
func (r *Reconciler) own(ctx context.Context, m *capi.Machine, infra *unstructured.Unstructured) error {
	if metav1.IsControlledBy(infra, m) {
		return nil
	}
	if other := metav1.GetControllerOf(infra); other != nil {
		return fmt.Errorf("%s %s is controlled by %s %s, not by Machine %s", infra.GetKind(), infra.GetName(), other.Kind, other.Name, m.Name)
	}
	original := infra.DeepCopy()
	refs := infra.GetOwnerReferences()
	ref := *metav1.NewControllerRef(m, capi.MachineGVK)
	replaced := false
	for i := range refs {
		if refs[i].UID == m.UID {
			refs[i], replaced = ref, true
		}
	}
	if !replaced {
		refs = append(refs, ref)
	}
	infra.SetOwnerReferences(refs)
	if err := r.Client.Patch(ctx, infra, client.MergeFromWithOptions(original, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("owning %s %s: %w", infra.GetKind(), infra.GetName(), err)
	}
	return nil
}

// workloadCluster returns the client of the Machine's workload cluster.
func (r *Reconciler) workloadCluster(ctx context.Context, m *capi.Machine) (*workload.Cluster, error) {
	wc, err := r.Workload.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: m.Spec.ClusterName}, workloadUser(client.ObjectKeyFromObject(m)), "")
	if err == nil {
		err = wc.Healthy()
	}
	return wc, err
}

// workloadUser names a Machine as a user of its workload cluster's client.
func workloadUser(m types.NamespacedName) string { return "Machine " + m.String() }

// reconcileNode finds the Machine's Node by provider ID, reports it, and keeps on it what Cluster API's Machine
// controller does (keepNodeMetadata).
func (r *Reconciler) reconcileNode(ctx context.Context, m *capi.Machine, interruptible bool) (ctrl.Result, error) {
	if m.Spec.ProviderID == nil || *m.Spec.ProviderID == "" {
		conditions.MarkFalse(&m.Status.Conditions, capi.NodeHealthyCondition, WaitingForInfrastructureReason, corev1beta1.ConditionSeverityInfo, "waiting for a provider ID")
		r.summarize(m)
		return ctrl.Result{}, nil
	}
	defer r.summarize(m)
	wc, err := r.workloadCluster(ctx, m)
	if errors.Is(err, workload.ErrNoKubeconfig) {
		conditions.MarkFalse(&m.Status.Conditions, capi.NodeHealthyCondition, WorkloadUnreachableReason, corev1beta1.ConditionSeverityWarning,
			"no kubeconfig Secret %s", workload.KubeconfigSecretName(m.Spec.ClusterName))
		return ctrl.Result{}, nil
	}
	if err != nil {
		conditions.MarkFalse(&m.Status.Conditions, capi.NodeHealthyCondition, WorkloadUnreachableReason, corev1beta1.ConditionSeverityWarning, "%v", err)
		return ctrl.Result{}, err
	}
	node, err := wc.NodeFor(ctx, *m.Spec.ProviderID)
	if err != nil {
		return ctrl.Result{}, err
	}
	if node == nil {
		conditions.MarkFalse(&m.Status.Conditions, capi.NodeHealthyCondition, NodeNotFoundReason, corev1beta1.ConditionSeverityInfo,
			"no Node with provider ID %s yet", *m.Spec.ProviderID)
		return ctrl.Result{}, nil
	}
	m.Status.NodeRef = &corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}
	if _, ready := workload.ReadySince(node); ready {
		conditions.MarkTrue(&m.Status.Conditions, capi.NodeHealthyCondition)
	} else {
		conditions.MarkFalse(&m.Status.Conditions, capi.NodeHealthyCondition, NodeNotReadyReason, corev1beta1.ConditionSeverityWarning,
			"Node %s is not Ready", node.Name)
	}
	return r.keepNodeMetadata(ctx, wc, m, node, interruptible)
}

// adoptionGrace is how long a new Node is left to its pool's controller, whose adoption patch carries the
// Machine's annotations and labels too when it knows the Machine: one write per Node instead of two.
const adoptionGrace = 10 * time.Second

// keepNodeMetadata gives the Node what Cluster API's Machine controller does: the cluster, namespace, Machine
// and owner annotations, the Machine's labels in the Node-label domains (removing those it no longer has), and
// no uninitialized taint. One patch, only when something is missing; none in steady state.
func (r *Reconciler) keepNodeMetadata(ctx context.Context, wc *workload.Cluster, m *capi.Machine, node *corev1.Node, interruptible bool) (ctrl.Result, error) {
	raw, err := capi.NodeMetadata(m, interruptible).Patch(node)
	if err != nil || raw == nil {
		return ctrl.Result{}, err
	}
	if r.nodeWrites.Behind(node.UID, node.ResourceVersion) {
		return ctrl.Result{}, nil // the cache has not seen this controller's last write yet; its event requeues
	}
	owner := poolOwner(m)
	adopted := node.Annotations[corev1beta1.OwnerKindAnnotation] == owner.Kind && node.Annotations[corev1beta1.OwnerNameAnnotation] == owner.Name
	if wait := adoptionGrace - time.Since(node.CreationTimestamp.Time); !adopted && wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	ctrl.LoggerFrom(ctx).V(2).Info("updating the Node's Machine annotations and labels", "node", node.Name)
	if err := wc.Patch(ctx, node.DeepCopy(), client.RawPatch(types.MergePatchType, raw)); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("updating Node %s: %w", node.Name, err)
	}
	r.nodeWrites.Wrote(node.UID, node.ResourceVersion)
	return ctrl.Result{}, nil
}

// severityRank orders the severities of False conditions for summarize (none counts as Info).
var severityRank = map[corev1beta1.ConditionSeverity]int{corev1beta1.ConditionSeverityError: 3, corev1beta1.ConditionSeverityWarning: 2,
	corev1beta1.ConditionSeverityInfo: 1, corev1beta1.ConditionSeverityNone: 1}

// summarize sets Ready as Cluster API v1.7.1's Machine controller does, and waits for the Node as well: the most
// severe condition that is not True (Error, then Warning, then Info; on a tie the first in the order below) makes
// Ready False with its reason, severity and message. InfrastructureReady and NodeHealthy count while unset or
// Unknown; a health check's HealthCheckSucceeded and OwnerRemediated and DrainingSucceeded count when False, so
// a Machine a health check marked unhealthy shows it in Ready.
func (r *Reconciler) summarize(m *capi.Machine) {
	var worst *corev1beta1.Condition
	for _, t := range []corev1beta1.ConditionType{corev1beta1.InfrastructureReadyCondition, capi.HealthCheckSucceededCondition,
		capi.OwnerRemediatedCondition, capi.DrainingSucceededCondition, capi.NodeHealthyCondition} {
		c := conditions.Get(m.Status.Conditions, t)
		required := t == corev1beta1.InfrastructureReadyCondition || t == capi.NodeHealthyCondition
		switch {
		case c == nil && required:
			c = &corev1beta1.Condition{Type: t, Severity: corev1beta1.ConditionSeverityInfo, Message: string(t) + " is not known"}
		case c == nil, c.Status == corev1.ConditionTrue, c.Status != corev1.ConditionFalse && !required:
			continue
		}
		if worst == nil || severityRank[c.Severity] > severityRank[worst.Severity] {
			worst = c
		}
	}
	if worst == nil {
		conditions.MarkTrue(&m.Status.Conditions, corev1beta1.ReadyCondition)
		return
	}
	severity := worst.Severity
	if severity == corev1beta1.ConditionSeverityNone {
		severity = corev1beta1.ConditionSeverityInfo
	}
	conditions.MarkFalse(&m.Status.Conditions, corev1beta1.ReadyCondition, worst.Reason, severity, "%s", worst.Message)
}

// setPhase follows Cluster API's Machine phases.
func (r *Reconciler) setPhase(ctx context.Context, m *capi.Machine) {
	log := ctrl.LoggerFrom(ctx)
	phase := capi.MachinePhasePending
	switch {
	case !m.DeletionTimestamp.IsZero():
		phase = capi.MachinePhaseDeleting
	case m.Status.NodeRef != nil:
		phase = capi.MachinePhaseRunning
	case m.Status.InfrastructureReady && m.Spec.ProviderID != nil:
		phase = capi.MachinePhaseProvisioned
	case m.Status.BootstrapReady:
		phase = capi.MachinePhaseProvisioning
	}
	if m.Status.Phase != phase {
		log.Info("phase changed", "from", m.Status.Phase, "to", phase)
		m.Status.Phase = phase
		now := metav1.Now()
		m.Status.LastUpdated = &now
	}
}

// reconcileDelete drains the Node, deletes the infra machine and waits for it, deletes the Node, then lets the
// Machine go.
func (r *Reconciler) reconcileDelete(ctx context.Context, m *capi.Machine, infra *unstructured.Unstructured) (ctrl.Result, error) {
	r.setPhase(ctx, m)
	if !controllerutil.ContainsFinalizer(m, capi.MachineFinalizer) {
		return ctrl.Result{}, nil
	}
	wc, node, err := r.nodeOf(ctx, m)
	if err != nil && !r.nodeTimeoutPassed(m) {
		return ctrl.Result{}, err
	}
	if node != nil && !drainDone(m) {
		var timeout time.Duration
		if t := m.Spec.NodeDrainTimeout; t != nil {
			timeout = t.Duration
		}
		res, err := drain.Node(ctx, wc, node, drain.Options{Timeout: timeout, Unreachable: nodeUnreachable(node)})
		if err != nil {
			return ctrl.Result{}, err
		}
		switch {
		case res.TimedOut:
			conditions.MarkFalse(&m.Status.Conditions, capi.DrainingSucceededCondition, DrainTimeoutReason, corev1beta1.ConditionSeverityWarning,
				"gave up draining Node %s after nodeDrainTimeout %s: %d Pods left", node.Name, timeout, res.Waiting)
			r.event(ctx, m, corev1.EventTypeWarning, DrainTimeoutReason, "Drain", "gave up draining Node %s after %s", node.Name, timeout)
		case res.Done:
			conditions.MarkTrue(&m.Status.Conditions, capi.DrainingSucceededCondition)
			r.event(ctx, m, corev1.EventTypeNormal, "NodeDrained", "Drain", "drained Node %s", node.Name)
		default:
			conditions.MarkFalse(&m.Status.Conditions, capi.DrainingSucceededCondition, DrainingReason, corev1beta1.ConditionSeverityInfo,
				"draining Node %s: %d Pods left, %d held back by a PodDisruptionBudget", node.Name, res.Waiting, res.Blocked)
			return ctrl.Result{RequeueAfter: drain.Retry}, nil
		}
	}

	if infra != nil {
		if infra.GetDeletionTimestamp().IsZero() {
			if err := r.Client.Delete(ctx, infra); err != nil && !apierrors.IsNotFound(err) {
				return ctrl.Result{}, fmt.Errorf("deleting %s %s: %w", infra.GetKind(), infra.GetName(), err)
			}
		}
		conditions.MarkFalse(&m.Status.Conditions, corev1beta1.ReadyCondition, "Deleting", corev1beta1.ConditionSeverityInfo,
			"waiting for %s %s to be deleted", infra.GetKind(), infra.GetName())
		return ctrl.Result{}, nil // its deletion requeues (watch)
	}

	if node != nil {
		if err := wc.Delete(ctx, node, client.Preconditions{UID: &node.UID}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			if !r.nodeTimeoutPassed(m) {
				return ctrl.Result{}, fmt.Errorf("deleting Node %s: %w", node.Name, err)
			}
			r.event(ctx, m, corev1.EventTypeWarning, "NodeDeletionFailed", "Delete", "gave up deleting Node %s: %v", node.Name, err)
		} else {
			ctrl.LoggerFrom(ctx).Info("deleted Node", "node", node.Name)
		}
		r.nodeWrites.Forget(node.UID)
	}
	controllerutil.RemoveFinalizer(m, capi.MachineFinalizer)
	ctrl.LoggerFrom(ctx).Info("Machine deleted: its Node and infrastructure are gone")
	r.forget(client.ObjectKeyFromObject(m))
	return ctrl.Result{}, nil
}

// nodeOf returns the workload client and the Machine's Node (by nodeRef, else provider ID), or nil.
func (r *Reconciler) nodeOf(ctx context.Context, m *capi.Machine) (*workload.Cluster, *corev1.Node, error) {
	if m.Status.NodeRef == nil && (m.Spec.ProviderID == nil || *m.Spec.ProviderID == "") {
		return nil, nil, nil
	}
	wc, err := r.workloadCluster(ctx, m)
	if errors.Is(err, workload.ErrNoKubeconfig) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if m.Status.NodeRef != nil {
		node := &corev1.Node{}
		err := wc.Get(ctx, client.ObjectKey{Name: m.Status.NodeRef.Name}, node)
		if err == nil {
			return wc, node, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, nil, err
		}
	}
	if m.Spec.ProviderID == nil {
		return wc, nil, nil
	}
	node, err := wc.NodeFor(ctx, *m.Spec.ProviderID)
	return wc, node, err
}

// nodeTimeoutPassed says whether nodeDeletionTimeout (default 10s, 0 = forever) has passed since the Machine's
// deletion began: then an unreachable workload cluster no longer holds it.
func (r *Reconciler) nodeTimeoutPassed(m *capi.Machine) bool {
	timeout := corev1beta1.DefaultNodeDeletionTimeout
	if d := m.Spec.NodeDeletionTimeout; d != nil {
		timeout = max(d.Duration, 0)
	}
	return timeout > 0 && time.Since(m.DeletionTimestamp.Time) > timeout
}

func drainDone(m *capi.Machine) bool {
	c := conditions.Get(m.Status.Conditions, capi.DrainingSucceededCondition)
	return c != nil && (c.Status == corev1.ConditionTrue || c.Reason == DrainTimeoutReason)
}

// nodeUnreachable says the Node's kubelet stopped reporting (Ready Unknown): its Pods cannot finish.
func nodeUnreachable(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionUnknown
		}
	}
	return false
}

func (r *Reconciler) event(ctx context.Context, m *capi.Machine, eventType, reason, action, note string, args ...any) {
	ctrlutil.Event(ctx, r.Recorder, m, eventType, reason, action, note, args...)
}
