package machinepool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
	"github.com/machinepool-operator/machinepool-operator/internal/contract"
	"github.com/machinepool-operator/machinepool-operator/internal/ctrlutil"
	"github.com/machinepool-operator/machinepool-operator/internal/remediation"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

// +kubebuilder:rbac:groups=cluster.x-k8s.io,resources=machines,verbs=get;list;watch;create;update;patch;delete

// machineSelector selects a pool's Machines and infra machines.
func machineSelector(pool *corev1beta1.MachinePool) client.MatchingLabels {
	return corev1beta1.MachinePoolLabels(pool.Spec.ClusterName, pool.Name)
}

// reconcileMachines keeps one Machine per infra machine when the infrastructure reports
// status.infrastructureMachineKind, as Cluster API's createOrUpdateMachines does: named after the infra machine,
// owned by the pool, labelled with the cluster and pool names. It never deletes a Machine: the infrastructure
// provider deletes the Machine of an instance it removes, and pool deletion sweeps what is left.
func (r *Reconciler) reconcileMachines(ctx context.Context, s *scope) (ctrl.Result, error) {
	pool := s.pool
	if s.infra == nil {
		return ctrl.Result{}, nil
	}
	kind, err := contract.InfraMachinePool.InfrastructureMachineKind(s.infra)
	if err != nil {
		r.markFalse(ctx, pool, corev1beta1.MachinesCreatedCondition, corev1beta1.InvalidProviderDataReason, corev1beta1.ConditionSeverityError, "%v", err)
		return ctrl.Result{}, nil
	}
	if kind == "" || kind == s.infra.GetKind() {
		// No per-instance objects. A provider naming the pool's own kind (Cluster API Provider GCP's
		// GCPManagedMachinePool does) keeps none either: the pool object is never one of its own instances.
		conditions.Delete(&pool.Status.Conditions, corev1beta1.MachinesCreatedCondition)
		conditions.Delete(&pool.Status.Conditions, corev1beta1.MachinesHealthyCondition)
		return ctrl.Result{}, nil
	}
	served, err := capi.MachineCRDServed(ctx, r.Client)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !served {
		r.markFalse(ctx, pool, corev1beta1.MachinesCreatedCondition, corev1beta1.MachineCRDNotServedReason, corev1beta1.ConditionSeverityInfo,
			"%s keeps a %s per instance, but Cluster API's Machine CRD is not installed: no MachinePool Machines, so the cluster-autoscaler cannot pick the Node it scales down",
			s.infra.GetKind(), kind)
		return ctrl.Result{}, nil
	}

	infraGVK := s.infra.GroupVersionKind().GroupVersion().WithKind(kind)
	infraMachines := &unstructured.UnstructuredList{}
	infraMachines.SetGroupVersionKind(infraGVK.GroupVersion().WithKind(kind + "List"))
	if err := r.Client.List(ctx, infraMachines, client.InNamespace(pool.Namespace), machineSelector(pool)); err != nil {
		if meta.IsNoMatchError(err) {
			r.markFalse(ctx, pool, corev1beta1.MachinesCreatedCondition, corev1beta1.KindNotServedReason, corev1beta1.ConditionSeverityWarning,
				"%s reports status.infrastructureMachineKind %s, which is not served", s.infra.GetKind(), infraGVK)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("listing %s of the pool: %w", kind, err)
	}
	// Infra machines come and go with instances: each change requeues the pool that owns it.
	if err := r.ensureWatch(infraGVK, r.poolOfInfraMachine, 0); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.ensureMachineWatch(); err != nil {
		return ctrl.Result{}, err
	}
	machines := &capi.MachineList{}
	if err := r.Client.List(ctx, machines, client.InNamespace(pool.Namespace), machineSelector(pool)); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing the pool's Machines: %w", err)
	}
	byInfra := map[string]*capi.Machine{}
	for i := range machines.Items {
		m := &machines.Items[i]
		byInfra[m.Spec.InfrastructureRef.Name] = m
	}

	var errs []error
	s.machines = nodeMachines{}
	for i := range infraMachines.Items {
		im := &infraMachines.Items[i]
		existing := byInfra[im.GetName()]
		if !im.GetDeletionTimestamp().IsZero() && existing == nil {
			continue // going away before it had a Machine: nothing to surface
		}
		desired := desiredMachine(pool, im, existing)
		changed := existing == nil || !reflect.DeepEqual(existing.ObjectMeta, desired.ObjectMeta) || !reflect.DeepEqual(existing.Spec, desired.Spec)
		if changed {
			if err := r.persistFinalizer(ctx, s); err != nil {
				return ctrl.Result{}, err
			}
		}
		if existing == nil {
			if err := r.Client.Create(ctx, desired, MachineFieldOwner); err != nil && !apierrors.IsAlreadyExists(err) {
				errs = append(errs, fmt.Errorf("creating Machine %s: %w", desired.Name, err))
				continue
			}
			ctrl.LoggerFrom(ctx).Info("created Machine", "Machine", klog.KObj(desired), "infrastructureRef", desired.Spec.InfrastructureRef.Name)
		} else if changed {
			if err := r.Client.Patch(ctx, desired, client.MergeFrom(existing), MachineFieldOwner); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("updating Machine %s: %w", desired.Name, err))
			}
		}
		s.machines.add(im, desired)
	}
	if err := errors.Join(errs...); err != nil {
		r.markFalse(ctx, pool, corev1beta1.MachinesCreatedCondition, corev1beta1.MachineCreationFailedReason, corev1beta1.ConditionSeverityWarning, "%v", err)
		return ctrl.Result{}, err
	}
	conditions.MarkTrue(&pool.Status.Conditions, corev1beta1.MachinesCreatedCondition)
	return ctrl.Result{}, r.remediate(ctx, s, machines.Items)
}

// desiredMachine is the Machine of an infra machine: Cluster API's computeDesiredMachine, plus the pool's node
// timeouts (an addition over v1.7.1, so that a drain on scale-in honours the pool's nodeDrainTimeout). On an
// existing Machine it keeps everything else as it is.
func desiredMachine(pool *corev1beta1.MachinePool, infraMachine *unstructured.Unstructured, existing *capi.Machine) *capi.Machine {
	m := &capi.Machine{}
	if existing != nil {
		m = existing.DeepCopy()
	} else {
		m.Name = infraMachine.GetName()
		m.Namespace = pool.Namespace
	}
	m.SetGroupVersionKind(capi.MachineGVK)
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	if m.Annotations == nil && len(pool.Spec.Template.Annotations) > 0 {
		m.Annotations = map[string]string{}
	}
	// What this controller set before and the pool's template no longer has goes (labels and annotations
	// others set stay), so a label removed from the template leaves the Machines, and from there their Nodes.
	setLabels, setAnnotations := fieldsSetBy(m, string(MachineFieldOwner))
	selector := machineSelector(pool)
	for k := range setLabels {
		if _, keep := pool.Spec.Template.Labels[k]; !keep && selector[k] == "" {
			delete(m.Labels, k)
		}
	}
	for k := range setAnnotations {
		if _, keep := pool.Spec.Template.Annotations[k]; !keep {
			delete(m.Annotations, k)
		}
	}
	maps.Copy(m.Annotations, pool.Spec.Template.Annotations)
	maps.Copy(m.Labels, pool.Spec.Template.Labels)
	maps.Copy(m.Labels, selector)
	ctrlutil.FollowWatchFilter(m, pool)
	ownerRef := metav1.NewControllerRef(pool, corev1beta1.GroupVersion.WithKind("MachinePool"))
	if i := indexOfOwner(m.OwnerReferences, pool.UID); i >= 0 {
		m.OwnerReferences[i] = *ownerRef
	} else {
		m.OwnerReferences = append(m.OwnerReferences, *ownerRef)
	}
	m.Spec.ClusterName = pool.Spec.ClusterName
	m.Spec.InfrastructureRef = corev1.ObjectReference{
		APIVersion: infraMachine.GetAPIVersion(), Kind: infraMachine.GetKind(),
		Name: infraMachine.GetName(), Namespace: infraMachine.GetNamespace(),
	}
	tmpl := pool.Spec.Template.Spec
	m.Spec.NodeDrainTimeout = tmpl.NodeDrainTimeout
	m.Spec.NodeVolumeDetachTimeout = tmpl.NodeVolumeDetachTimeout
	m.Spec.NodeDeletionTimeout = tmpl.NodeDeletionTimeout
	return m
}

// MachineFieldOwner is the field manager of this controller's Machine writes: the labels and annotations it owns
// there are the ones it may remove.
const MachineFieldOwner = client.FieldOwner("machinepool-operator")

// fieldsSetBy returns the label and annotation keys of obj that manager owns through its own writes (create,
// update, patch; not server-side apply, which this controller does not use), read from managedFields.
func fieldsSetBy(obj metav1.Object, manager string) (labels, annotations map[string]bool) {
	labels, annotations = map[string]bool{}, map[string]bool{}
	for _, mf := range obj.GetManagedFields() {
		if mf.Manager != manager || mf.Operation != metav1.ManagedFieldsOperationUpdate || mf.Subresource != "" || mf.FieldsV1 == nil {
			continue
		}
		var fields struct {
			Metadata struct {
				Labels      map[string]json.RawMessage `json:"f:labels"`
				Annotations map[string]json.RawMessage `json:"f:annotations"`
			} `json:"f:metadata"`
		}
		if json.Unmarshal(mf.FieldsV1.GetRawBytes(), &fields) != nil {
			continue // an entry we cannot read owns nothing we remove
		}
		for k := range fields.Metadata.Labels {
			if key, ok := strings.CutPrefix(k, "f:"); ok {
				labels[key] = true
			}
		}
		for k := range fields.Metadata.Annotations {
			if key, ok := strings.CutPrefix(k, "f:"); ok {
				annotations[key] = true
			}
		}
	}
	return labels, annotations
}

// nodeMachines holds, for one reconcile, the Machine of each of the pool's instances (as this reconcile leaves
// it) with what Cluster API keeps on its Node, so that adopting a Node writes it once.
type nodeMachines map[string][]nodeMachine

type nodeMachine struct {
	providerID string
	metadata   workload.NodeMetadata
}

// add records the Machine of an infra machine that reports its provider ID.
func (n nodeMachines) add(im *unstructured.Unstructured, m *capi.Machine) {
	id, err := contract.InfraMachine.ProviderID(im)
	if err != nil || id == "" {
		return
	}
	interruptible, err := contract.InfraMachine.Interruptible(im)
	if err != nil {
		return // the machinepoolmachine controller reports the bad field; the Node is adopted without it
	}
	k := workload.InstanceKey(id)
	n[k] = append(n[k], nodeMachine{providerID: id, metadata: capi.NodeMetadata(m, interruptible)})
}

// forNode returns what the Machine of the instance with providerID keeps on its Node; ok is false when no
// Machine is known for it.
func (n nodeMachines) forNode(providerID string) (workload.NodeMetadata, bool) {
	for _, nm := range n[workload.InstanceKey(providerID)] {
		if workload.SameInstance(nm.providerID, providerID) {
			return nm.metadata, true
		}
	}
	return workload.NodeMetadata{}, false
}

func indexOfOwner(refs []metav1.OwnerReference, uid types.UID) int {
	for i := range refs {
		if refs[i].UID == uid {
			return i
		}
	}
	return -1
}

// poolOfInfraMachine maps an infra machine to its pool through the pool-name label: the pool of that name in
// the namespace, when the label is the pool's name and not a hash of a long one (then every pool of the cluster).
func (r *Reconciler) poolOfInfraMachine(ctx context.Context, o client.Object) []reconcile.Request {
	labels := o.GetLabels()
	poolLabel, cluster := labels[corev1beta1.MachinePoolNameLabel], labels[corev1beta1.ClusterNameLabel]
	if poolLabel == "" || cluster == "" {
		return nil
	}
	pools := &corev1beta2.MachinePoolList{}
	if err := r.Client.List(ctx, pools, client.InNamespace(o.GetNamespace()), client.MatchingLabels{corev1beta1.ClusterNameLabel: cluster}); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range pools.Items {
		if corev1beta1.FormatLabelValue(pools.Items[i].Name) == poolLabel {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&pools.Items[i])})
		}
	}
	return out
}

// deleteMachines deletes the pool's Machines that are left once its infrastructure is gone (the provider
// deletes the Machines of the instances it terminates first), and says whether any still exist.
func (r *Reconciler) deleteMachines(ctx context.Context, pool *corev1beta1.MachinePool) (remaining int, err error) {
	served, err := capi.MachineCRDServed(ctx, r.Client)
	if err != nil || !served {
		return 0, err
	}
	if err := r.ensureMachineWatch(); err != nil {
		return 0, err
	}
	machines := &capi.MachineList{}
	if err := r.Client.List(ctx, machines, client.InNamespace(pool.Namespace), machineSelector(pool)); err != nil {
		return 0, fmt.Errorf("listing the pool's Machines: %w", err)
	}
	var errs []error
	for i := range machines.Items {
		m := &machines.Items[i]
		if !metav1.IsControlledBy(m, pool) {
			continue
		}
		remaining++
		if m.DeletionTimestamp.IsZero() {
			if err := r.Client.Delete(ctx, m); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("deleting Machine %s: %w", m.Name, err))
			} else {
				ctrl.LoggerFrom(ctx).Info("deleted Machine", "Machine", klog.KObj(m))
			}
		}
	}
	return remaining, errors.Join(errs...)
}

// ensureMachineWatch requeues a pool when one of its Machines is deleted for good (pool deletion waits for
// that). Only deletions: the Machines' status changes are not the pool's business. Call it once the Machine
// CRD is known to be served.
func (r *Reconciler) ensureMachineWatch() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watching[capi.MachineGVK.GroupKind()] {
		return nil
	}
	// A Machine's deletion, and a health check marking it for remediation (or lifting that), requeue its pool.
	onDelete := predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, ok1 := e.ObjectOld.(*capi.Machine)
			n, ok2 := e.ObjectNew.(*capi.Machine)
			return ok1 && ok2 && remediation.Marked(o) != remediation.Marked(n)
		},
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
	src := source.Kind[client.Object](r.cache, &capi.Machine{},
		handler.EnqueueRequestForOwner(r.Client.Scheme(), r.Client.RESTMapper(), &corev1beta1.MachinePool{}, handler.OnlyControllerOwner()), onDelete)
	if err := r.controller.Watch(src); err != nil {
		return err
	}
	r.watching[capi.MachineGVK.GroupKind()] = true
	return nil
}
