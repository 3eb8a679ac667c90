package simmachinepool

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/internal/cloud"
	"github.com/machinepool-operator/machinepool-operator/internal/ctrlutil"
)

// InfrastructureMachineKind is the kind of the per-instance objects a SimMachinePool keeps.
const InfrastructureMachineKind = "SimMachinePoolMachine"

// +kubebuilder:rbac:groups=infrastructure.cluster.x-k8s.io,resources=simmachinepoolmachines,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=infrastructure.cluster.x-k8s.io,resources=simmachinepoolmachines/status;simmachinepoolmachines/finalizers,verbs=get;update;patch
// +kubebuilder:rbac:groups=cluster.x-k8s.io,resources=machines,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;watch

// instanceMachines is what the pool knows of its instances' SimMachinePoolMachines and Machines.
type instanceMachines struct {
	// served is true where Cluster API's Machine CRD is installed: then every removal goes through a Machine.
	served bool
	// infra are the SimMachinePoolMachines by name (= instance ID).
	infra map[string]*infrav1beta1.SimMachinePoolMachine
	// machines are the instances' Machines by instance ID.
	machines map[string]*capi.Machine
}

// machineOf returns the Machine of an instance, or nil.
func (im *instanceMachines) machineOf(id string) *capi.Machine { return im.machines[id] }

// going says the instance's Machine is being deleted: its removal is under way.
func (im *instanceMachines) going(id string) bool {
	m := im.machines[id]
	return m != nil && !m.DeletionTimestamp.IsZero()
}

// marked says the instance's Machine carries cluster.x-k8s.io/delete-machine.
func (im *instanceMachines) marked(id string) bool {
	m := im.machines[id]
	return m != nil && hasKey(m.Annotations, corev1beta1.DeleteMachineAnnotation)
}

// loadMachines reads the pool's SimMachinePoolMachines and, where the Machine CRD is served, their Machines.
func (r *Reconciler) loadMachines(ctx context.Context, smp *infrav1beta1.SimMachinePool) (*instanceMachines, error) {
	im := &instanceMachines{infra: map[string]*infrav1beta1.SimMachinePoolMachine{}, machines: map[string]*capi.Machine{}}
	list := &infrav1beta1.SimMachinePoolMachineList{}
	if err := r.Client.List(ctx, list, client.InNamespace(smp.Namespace)); err != nil {
		return nil, fmt.Errorf("listing SimMachinePoolMachines: %w", err)
	}
	for i := range list.Items {
		m := &list.Items[i]
		if ownedBy(m, smp) {
			im.infra[m.Name] = m
		}
	}
	served, err := capi.MachineCRDServed(ctx, r.Client)
	if err != nil || !served {
		return im, err
	}
	im.served = true
	if err := r.ensureMachineWatch(); err != nil {
		return nil, err
	}
	// Matched by their infrastructureRef, not by labels: that works while the owning MachinePool is gone too.
	machines := &capi.MachineList{}
	if err := r.Client.List(ctx, machines, client.InNamespace(smp.Namespace)); err != nil {
		return nil, fmt.Errorf("listing Machines: %w", err)
	}
	for i := range machines.Items {
		m := &machines.Items[i]
		if ref := m.Spec.InfrastructureRef; ref.Kind == InfrastructureMachineKind && im.infra[ref.Name] != nil {
			im.machines[ref.Name] = m
		}
	}
	return im, nil
}

func ownedBy(o metav1.Object, smp *infrav1beta1.SimMachinePool) bool {
	for _, ref := range o.GetOwnerReferences() {
		if ref.UID == smp.UID {
			return true
		}
	}
	return false
}

// syncMachines keeps one SimMachinePoolMachine per launched instance and removes those of instances that are
// gone (terminated, or lost out of band): through their Machine where the Machine CRD is served, so that the
// Node is drained and deleted too, else directly.
func (r *Reconciler) syncMachines(ctx context.Context, smp *infrav1beta1.SimMachinePool, pool *machinePool, im *instanceMachines, instances []cloud.Instance) error {
	smp.Status.InfrastructureMachineKind = InfrastructureMachineKind
	live := map[string]bool{}
	var errs []error
	for _, in := range instances {
		if in.State != cloud.Pending && in.State != cloud.Running {
			continue
		}
		live[in.ID] = true
		if err := r.ensureInfraMachine(ctx, smp, pool, im.infra[in.ID], in); err != nil {
			errs = append(errs, err)
		}
	}
	for id, m := range im.infra {
		if live[id] || !m.DeletionTimestamp.IsZero() {
			continue
		}
		if err := r.removeInstance(ctx, smp, im, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ensureInfraMachine creates or updates the SimMachinePoolMachine of an instance: spec first (the provider
// ID), then status (ready), as the InfraMachine contract orders them.
func (r *Reconciler) ensureInfraMachine(ctx context.Context, smp *infrav1beta1.SimMachinePool, pool *machinePool, existing *infrav1beta1.SimMachinePoolMachine, in cloud.Instance) error {
	m := &infrav1beta1.SimMachinePoolMachine{}
	if existing != nil {
		m = existing.DeepCopy()
	} else {
		m.Name, m.Namespace = in.ID, smp.Namespace
	}
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	maps.Copy(m.Labels, corev1beta1.MachinePoolLabels(pool.ClusterName, pool.Name))
	ctrlutil.FollowWatchFilter(m, smp)
	if !ownedBy(m, smp) {
		// A plain owner: the Machine becomes the controller once it exists.
		m.OwnerReferences = append(m.OwnerReferences, metav1.OwnerReference{APIVersion: infrav1beta1.GroupVersion.String(),
			Kind: "SimMachinePool", Name: smp.Name, UID: smp.UID})
	}
	controllerutil.AddFinalizer(m, infrav1beta1.SimMachinePoolMachineFinalizer)
	m.Spec = infrav1beta1.SimMachinePoolMachineSpec{ProviderID: in.ProviderID, InstanceID: in.ID, FailureDomain: in.FailureDomain}
	if existing == nil {
		ctrl.LoggerFrom(ctx).V(4).Info("creating SimMachinePoolMachine", "instance", in.ID, "state", in.State)
		if err := r.Client.Create(ctx, m); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return nil // the cache had not seen it yet; the next pass updates it
			}
			return fmt.Errorf("creating SimMachinePoolMachine %s: %w", m.Name, err)
		}
	} else if !reflect.DeepEqual(existing.ObjectMeta, m.ObjectMeta) || !reflect.DeepEqual(existing.Spec, m.Spec) {
		if err := r.Client.Patch(ctx, m, client.MergeFromWithOptions(existing, client.MergeFromWithOptimisticLock{})); err != nil {
			return client.IgnoreNotFound(err)
		}
	}
	before := m.DeepCopy()
	running := in.State == cloud.Running
	m.Status.Ready = running
	m.Status.Initialization = &infrav1beta1.Initialization{Provisioned: &running}
	m.Status.State = infrav1beta1.InstanceState(in.State)
	m.Status.SpecHash = in.SpecHash
	if existing != nil && reflect.DeepEqual(existing.Status, m.Status) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, m, client.MergeFrom(before)); err != nil {
		return client.IgnoreNotFound(err)
	}
	return nil
}

// removeInstance starts the removal of an instance: deleting its Machine where the Machine CRD is served (the
// Machine controller drains the Node and deletes the SimMachinePoolMachine, whose finalizer terminates the
// instance), else deleting its SimMachinePoolMachine. An instance whose Machine does not exist yet waits for
// it. It says nothing about when the removal ends.
func (r *Reconciler) removeInstance(ctx context.Context, smp *infrav1beta1.SimMachinePool, im *instanceMachines, id string) error {
	if im.served {
		m := im.machineOf(id)
		if m == nil {
			return nil // the MachinePool controller creates it; its creation requeues this pool
		}
		if !m.DeletionTimestamp.IsZero() {
			return nil
		}
		if err := r.Client.Delete(ctx, m); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting Machine %s: %w", m.Name, err)
		}
		r.event(ctx, smp, corev1.EventTypeNormal, "MachineDeleted", "ScaleIn", "deleted Machine %s of instance %s", m.Name, id)
		return nil
	}
	if infra := im.infra[id]; infra != nil && infra.DeletionTimestamp.IsZero() {
		if err := r.Client.Delete(ctx, infra); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting SimMachinePoolMachine %s: %w", id, err)
		}
	}
	return nil
}

// ensureMachineWatch requeues a pool when one of its instances' Machines changes (the delete-machine
// annotation, a deletion). Call it once the Machine CRD is known to be served.
func (r *Reconciler) ensureMachineWatch() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watchingMachines {
		return nil
	}
	if err := r.controller.Watch(source.Kind[client.Object](r.cache, &capi.Machine{}, handler.EnqueueRequestsFromMapFunc(r.poolOfMachine))); err != nil {
		return err
	}
	r.watchingMachines = true
	return nil
}

// poolOfMachine maps a Machine to the SimMachinePool of its SimMachinePoolMachine.
func (r *Reconciler) poolOfMachine(ctx context.Context, o client.Object) []reconcile.Request {
	ref := o.(*capi.Machine).Spec.InfrastructureRef
	if ref.Kind != InfrastructureMachineKind {
		return nil
	}
	infra := &infrav1beta1.SimMachinePoolMachine{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: o.GetNamespace(), Name: ref.Name}, infra); err != nil {
		return nil
	}
	return poolsOwning(ctx, infra)
}

// poolsOwning maps a SimMachinePoolMachine to its SimMachinePool.
func poolsOwning(_ context.Context, o client.Object) []reconcile.Request {
	var out []reconcile.Request
	for _, ref := range o.GetOwnerReferences() {
		if ref.Kind == "SimMachinePool" {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: ref.Name}})
		}
	}
	return out
}

// deleteMachines removes every instance of a pool being deleted through its Machine (or its
// SimMachinePoolMachine where it has none) and says how many SimMachinePoolMachines remain.
func (r *Reconciler) deleteMachines(ctx context.Context, im *instanceMachines) (int, error) {
	var errs []error
	for id, infra := range im.infra {
		if !infra.DeletionTimestamp.IsZero() {
			continue
		}
		if m := im.machineOf(id); m != nil {
			if m.DeletionTimestamp.IsZero() {
				if err := r.Client.Delete(ctx, m); err != nil && !apierrors.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("deleting Machine %s: %w", m.Name, err))
				}
			}
			continue
		}
		if err := r.Client.Delete(ctx, infra); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting SimMachinePoolMachine %s: %w", id, err))
		}
	}
	return len(im.infra), errors.Join(errs...)
}
