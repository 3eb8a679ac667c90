// Package storageversion moves the objects of one of our CRDs to its storage version after an upgrade changed it
// (v0.1's MachinePool CRD stored v1beta1; it now stores v1beta2): it rewrites every object, which the API server
// stores in the current storage version, and then sets the CRD's status.storedVersions to that version alone, so
// that a later CRD can drop the old version. The Kubernetes storage-version-migrator does the same for a cluster.
package storageversion

import (
	"context"
	"fmt"
	"slices"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/machinepool-operator/machinepool-operator/internal/patch"
)

// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;watch
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions/status,verbs=update;patch,resourceNames=machinepools.cluster.x-k8s.io

// pageSize bounds one list of the objects to rewrite.
const pageSize = 500

// Migrator rewrites the objects of the CRD named CRD in its storage version and records it.
type Migrator struct {
	// Client reads the CRD (from the cache) and writes the objects and the CRD's status.
	Client client.Client
	// APIReader lists the objects from the API server, not from a cache.
	APIReader client.Reader
	// Recorder records on the CRD what was migrated.
	Recorder events.EventRecorder
	// CRD is the CRD's name, e.g. machinepools.cluster.x-k8s.io.
	CRD string
}

// SetupWithManager watches the one CRD; it runs on the leader only, as every controller does.
func (m *Migrator) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("storageversion").
		For(&apiextensionsv1.CustomResourceDefinition{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return o.GetName() == m.CRD
		}))).
		Complete(patch.RetryConflicts(m))
}

// Reconcile migrates when status.storedVersions names any version but the storage version.
func (m *Migrator) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := m.Client.Get(ctx, req.NamespacedName, crd); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	storage := storageVersion(crd)
	if storage == "" || slices.Equal(crd.Status.StoredVersions, []string{storage}) {
		return ctrl.Result{}, nil
	}
	log := ctrl.LoggerFrom(ctx).WithValues("crd", crd.Name, "storedVersions", crd.Status.StoredVersions, "storageVersion", storage)
	gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: storage, Kind: crd.Spec.Names.ListKind}
	rewritten, err := m.rewriteAll(ctx, gvk)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("rewriting %s in %s: %w", crd.Spec.Names.Plural, storage, err)
	}
	// Every object that existed is now stored in the storage version, and every later write stores it too.
	before := crd.DeepCopy()
	crd.Status.StoredVersions = []string{storage}
	if err := m.Client.Status().Patch(ctx, crd, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return ctrl.Result{}, fmt.Errorf("recording the stored version of %s: %w", crd.Name, err)
	}
	log.Info("stored objects migrated to the storage version", "rewritten", rewritten)
	m.Recorder.Eventf(crd, nil, "Normal", "StorageVersionMigrated", "Migrate",
		"rewrote %d %s in %s; status.storedVersions was %v", rewritten, crd.Spec.Names.Plural, storage, before.Status.StoredVersions)
	return ctrl.Result{}, nil
}

// rewriteAll writes every object back unchanged; the API server stores it in the current storage version (the
// encoding differs, so the write is not skipped as a no-op). Objects deleted meanwhile are skipped; a conflict
// fails the pass, which the controller retries.
func (m *Migrator) rewriteAll(ctx context.Context, listGVK schema.GroupVersionKind) (int, error) {
	n := 0
	opts := &client.ListOptions{Limit: pageSize}
	for {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(listGVK)
		if err := m.APIReader.List(ctx, list, opts); err != nil {
			return n, err
		}
		for i := range list.Items {
			if err := m.Client.Update(ctx, &list.Items[i]); err != nil && !apierrors.IsNotFound(err) {
				return n, err
			}
			n++
		}
		if list.GetContinue() == "" {
			return n, nil
		}
		opts.Continue = list.GetContinue()
	}
}

func storageVersion(crd *apiextensionsv1.CustomResourceDefinition) string {
	for _, v := range crd.Spec.Versions {
		if v.Storage {
			return v.Name
		}
	}
	return ""
}
