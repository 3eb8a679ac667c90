package machinepool

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/utils/ptr"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/contract"
)

// errKindNotServed says that a reference names a kind whose CRD is not installed.
var errKindNotServed = errors.New("kind not served")

// reconcileReferences moves each reference's apiVersion to the newest version the referenced CRD's contract
// label lists, as Cluster API does, so that a provider upgrade that drops an old version does not strand pools.
func (r *Reconciler) reconcileReferences(ctx context.Context, s *scope) (ctrl.Result, error) {
	spec := &s.pool.Spec.Template.Spec
	var errs []error
	for _, ref := range []*corev1.ObjectReference{spec.Bootstrap.ConfigRef, &spec.InfrastructureRef} {
		if ref != nil {
			errs = append(errs, r.updateReferenceVersion(ctx, ref))
		}
	}
	return ctrl.Result{}, errors.Join(errs...)
}

func (r *Reconciler) updateReferenceVersion(ctx context.Context, ref *corev1.ObjectReference) error {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil || ref.Kind == "" {
		return nil //nolint:nilerr // the webhook and the Get that follows report a malformed reference
	}
	mapping, err := r.Client.RESTMapper().RESTMapping(schema.GroupKind{Group: gv.Group, Kind: ref.Kind})
	if err != nil {
		return nil //nolint:nilerr // a kind that is not served is reported where the object is read
	}
	crd := crdMetadata()
	if err := r.Client.Get(ctx, types.NamespacedName{Name: mapping.Resource.Resource + "." + gv.Group}, crd); err != nil {
		return client.IgnoreNotFound(err) // not a CRD: nothing to follow
	}
	latest, ok := contract.LatestContractVersion(crd.GetLabels())
	if !ok || latest == gv.Version {
		return nil
	}
	ctrl.LoggerFrom(ctx).Info("moving reference to the API version the provider's contract label names",
		"kind", ref.Kind, "name", ref.Name, "from", gv.Version, "to", latest)
	ref.APIVersion = schema.GroupVersion{Group: gv.Group, Version: latest}.String()
	return nil
}

// getExternal reads a referenced object of any kind from the pool's namespace and makes sure its kind is
// watched. It returns nil when the object does not exist, and errKindNotServed when its kind is not installed.
func (r *Reconciler) getExternal(ctx context.Context, pool *corev1beta1.MachinePool, ref *corev1.ObjectReference) (*unstructured.Unstructured, error) {
	obj := &unstructured.Unstructured{}
	obj.SetAPIVersion(ref.APIVersion)
	obj.SetKind(ref.Kind)
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: pool.Namespace, Name: ref.Name}, obj)
	if meta.IsNoMatchError(err) {
		return nil, fmt.Errorf("%w: %s %s is not installed (no CRD serves it)", errKindNotServed, ref.Kind, ref.APIVersion)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("getting %s %s/%s: %w", ref.Kind, pool.Namespace, ref.Name, err)
	}
	if werr := r.ensureWatch(obj.GroupVersionKind(), r.poolsReferencing, r.ProviderUpdateBatch); werr != nil {
		return nil, werr
	}
	if err != nil {
		return nil, nil //nolint:nilerr // not found: the caller reports the missing object
	}
	return obj, nil
}

// adopt makes the pool the controller owner of a referenced object (or a plain owner when another controller
// already owns it) and labels it with the cluster name, in one patch and only when something changes.
func (r *Reconciler) adopt(ctx context.Context, s *scope, obj *unstructured.Unstructured) error {
	pool := s.pool
	original := obj.DeepCopy()
	owner := metav1.OwnerReference{
		APIVersion: corev1beta1.GroupVersion.String(), Kind: "MachinePool", Name: pool.Name, UID: pool.UID,
		BlockOwnerDeletion: ptr.To(true),
	}
	refs := obj.GetOwnerReferences()
	found, otherController := false, false
	for i := range refs {
		if refs[i].UID == pool.UID {
			found = true
		} else if refs[i].Controller != nil && *refs[i].Controller {
			otherController = true
		}
	}
	if !found {
		owner.Controller = ptr.To(!otherController)
		obj.SetOwnerReferences(append(refs, owner))
	}
	labels := obj.GetLabels()
	if labels[corev1beta1.ClusterNameLabel] != pool.Spec.ClusterName {
		if labels == nil {
			labels = map[string]string{}
		}
		labels[corev1beta1.ClusterNameLabel] = pool.Spec.ClusterName
		obj.SetLabels(labels)
	}
	if found && len(original.GetLabels()) == len(labels) && original.GetLabels()[corev1beta1.ClusterNameLabel] == pool.Spec.ClusterName {
		return nil
	}
	if err := r.persistFinalizer(ctx, s); err != nil {
		return err
	}
	if err := r.Client.Patch(ctx, obj, client.MergeFrom(original)); err != nil {
		return fmt.Errorf("adopting %s %s: %w", obj.GetKind(), klog.KObj(obj), err)
	}
	return nil
}
