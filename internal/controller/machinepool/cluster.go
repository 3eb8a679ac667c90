package machinepool

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
	"github.com/machinepool-operator/machinepool-operator/internal/contract"
)

func crdMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
	return m
}

func secretMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return m
}

// clusterAPIInstalled says whether Cluster API's Cluster CRD is served, from the CRD watch (no discovery call).
// The answer is logged once per change.
func (r *Reconciler) clusterAPIInstalled(ctx context.Context) (bool, error) {
	err := r.Client.Get(ctx, types.NamespacedName{Name: clusterCRDName}, crdMetadata())
	if err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("looking up the %s CRD: %w", clusterCRDName, err)
	}
	installed := err == nil
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.standaloneLogged == nil || *r.standaloneLogged != installed {
		r.standaloneLogged = &installed
		if installed {
			ctrl.LoggerFrom(ctx).Info("Cluster API's Cluster CRD is served: pools wait for their Cluster and are owned by it")
		} else {
			ctrl.LoggerFrom(ctx).Info("Cluster API's Cluster CRD is not served: running standalone, pools need no Cluster object")
		}
	}
	return installed, nil
}

// getCluster returns the pool's Cluster, or nil when it does not exist.
func (r *Reconciler) getCluster(ctx context.Context, pool *corev1beta1.MachinePool) (*unstructured.Unstructured, error) {
	cluster := &unstructured.Unstructured{}
	cluster.SetGroupVersionKind(clusterGVK)
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: pool.Namespace, Name: pool.Spec.ClusterName}, cluster)
	if err == nil || apierrors.IsNotFound(err) {
		if werr := r.ensureWatch(clusterGVK, r.poolsForCluster, 0); werr != nil {
			return nil, werr
		}
	}
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("getting Cluster %s/%s: %w", pool.Namespace, pool.Spec.ClusterName, err)
	}
	return cluster, nil
}

// reconcileCluster makes the Cluster an owner of the pool and waits until its infrastructure is ready. Without
// Cluster API the pool runs standalone.
func (r *Reconciler) reconcileCluster(ctx context.Context, s *scope) (ctrl.Result, error) {
	crdServed, err := r.clusterAPIInstalled(ctx)
	if err != nil || !crdServed {
		return ctrl.Result{}, err
	}
	if s.cluster == nil {
		s.waitingForCluster = true
		// Without its Cluster the workload cluster is gone or not made yet: the pool lets go of its client.
		r.Workload.Release(workloadUser(client.ObjectKeyFromObject(s.pool)))
		return ctrl.Result{}, nil
	}
	if err := controllerutil.SetOwnerReference(s.cluster, s.pool, r.Client.Scheme()); err != nil {
		return ctrl.Result{}, fmt.Errorf("owning MachinePool %s by its Cluster: %w", klog.KObj(s.pool), err)
	}
	ready, err := contract.Cluster.InfrastructureReady(s.cluster)
	if err != nil {
		return ctrl.Result{}, err
	}
	s.waitingForCluster = !ready
	return ctrl.Result{}, nil
}

// isPaused says whether the pool or its Cluster is paused, and why.
func isPaused(pool *corev1beta1.MachinePool, cluster *unstructured.Unstructured) (bool, string) {
	if _, ok := pool.Annotations[corev1beta1.PausedAnnotation]; ok {
		return true, "the MachinePool has the " + corev1beta1.PausedAnnotation + " annotation"
	}
	if cluster != nil {
		if paused, _ := contract.Cluster.Paused(cluster); paused {
			return true, fmt.Sprintf("Cluster %s has spec.paused set", cluster.GetName())
		}
	}
	return false, ""
}

// patchPaused writes the Paused condition and observedGeneration, and nothing else.
func (r *Reconciler) patchPaused(ctx context.Context, s *scope, why string) error {
	pool := s.pool
	conditions.Set(&pool.Status.Conditions, corev1beta1.Condition{
		Type: corev1beta1.PausedCondition, Status: corev1.ConditionTrue, Reason: corev1beta1.PausedReason,
		Message: "nothing is reconciled while " + why,
	})
	pool.Status.ObservedGeneration = pool.Generation
	return r.write(ctx, s, true, false)
}
