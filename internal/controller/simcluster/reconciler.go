// Package simcluster holds the SimCluster controller: the reference provider's InfraCluster, which reports the
// workload cluster's control plane endpoint from its kubeconfig Secret.
package simcluster

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
	"github.com/machinepool-operator/machinepool-operator/internal/ctrlutil"
	"github.com/machinepool-operator/machinepool-operator/internal/patch"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

// SimCluster condition reasons.
const (
	KubeconfigNotFoundReason = "KubeconfigNotFound"
	InvalidKubeconfigReason  = "InvalidKubeconfig"
)

// +kubebuilder:rbac:groups=infrastructure.cluster.x-k8s.io,resources=simclusters,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=infrastructure.cluster.x-k8s.io,resources=simclusters/status,verbs=get;update;patch

// Reconciler reports a SimCluster's control plane endpoint from its workload kubeconfig Secret
// (Cluster API's InfraCluster contract: spec.controlPlaneEndpoint, status.ready).
type Reconciler struct {
	Client    client.Client
	APIReader client.Reader
	// WatchFilter, when set, restricts the controller to SimClusters labelled cluster.x-k8s.io/watch-filter=<value>.
	WatchFilter string
}

// SetupWithManager registers the controller; kubeconfig Secret changes requeue the SimClusters naming them.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("simcluster").
		For(&infrav1beta1.SimCluster{}, builder.WithPredicates(ctrlutil.WatchFilter(r.WatchFilter))).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.clustersForSecret)).
		Complete(patch.RetryConflicts(r))
}

func secretNameOf(c *infrav1beta1.SimCluster) string {
	if c.Spec.KubeconfigSecretName != "" {
		return c.Spec.KubeconfigSecretName
	}
	return workload.KubeconfigSecretName(c.Name)
}

func (r *Reconciler) clustersForSecret(ctx context.Context, o client.Object) []reconcile.Request {
	list := &infrav1beta1.SimClusterList{}
	if err := r.Client.List(ctx, list, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if secretNameOf(&list.Items[i]) == o.GetName() {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return out
}

// Reconcile fills in the control plane endpoint and readiness.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	sc := &infrav1beta1.SimCluster{}
	if err := r.Client.Get(ctx, req.NamespacedName, sc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ctrlutil.InShard(r.WatchFilter, sc) {
		return ctrl.Result{}, nil
	}
	original := sc.DeepCopy()
	if _, paused := sc.Annotations[corev1beta1.PausedAnnotation]; paused {
		return ctrl.Result{}, nil
	}
	endpoint, reason, err := r.endpoint(ctx, sc)
	if err != nil {
		sc.Status.Ready = false
		conditions.MarkFalse(&sc.Status.Conditions, corev1beta1.ReadyCondition, reason, corev1beta1.ConditionSeverityWarning, "%v", err)
	} else {
		if sc.Spec.ControlPlaneEndpoint.Host == "" {
			sc.Spec.ControlPlaneEndpoint = endpoint
		}
		sc.Status.Ready = true
		conditions.MarkTrue(&sc.Status.Conditions, corev1beta1.ReadyCondition)
	}
	sc.Status.Initialization = &infrav1beta1.Initialization{Provisioned: &sc.Status.Ready}
	sc.Status.ObservedGeneration = sc.Generation

	if err := patch.Apply(ctx, r.Client, original, sc); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, nil
}

// endpoint reads the API server address from the kubeconfig Secret.
func (r *Reconciler) endpoint(ctx context.Context, sc *infrav1beta1.SimCluster) (infrav1beta1.APIEndpoint, string, error) {
	if sc.Spec.ControlPlaneEndpoint.Host != "" {
		return sc.Spec.ControlPlaneEndpoint, "", nil
	}
	name := secretNameOf(sc)
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: sc.Namespace, Name: name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return infrav1beta1.APIEndpoint{}, KubeconfigNotFoundReason, fmt.Errorf("waiting for Secret %s/%s with the workload cluster's kubeconfig (key \"value\")", sc.Namespace, name)
		}
		return infrav1beta1.APIEndpoint{}, KubeconfigNotFoundReason, err
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(secret.Data[corev1beta1.KubeconfigDataKey])
	if err != nil {
		return infrav1beta1.APIEndpoint{}, InvalidKubeconfigReason, fmt.Errorf("secret %s/%s holds no valid kubeconfig: %w", sc.Namespace, name, err)
	}
	u, err := url.Parse(cfg.Host)
	if err != nil || u.Host == "" {
		return infrav1beta1.APIEndpoint{}, InvalidKubeconfigReason, fmt.Errorf("secret %s/%s: server %q is not a URL", sc.Namespace, name, cfg.Host)
	}
	host, portStr, err := net.SplitHostPort(u.Host)
	if err != nil {
		host, portStr = u.Host, "443"
		if strings.EqualFold(u.Scheme, "http") {
			portStr = "80"
		}
	}
	port, err := strconv.ParseInt(portStr, 10, 32)
	if err != nil {
		return infrav1beta1.APIEndpoint{}, InvalidKubeconfigReason, fmt.Errorf("secret %s/%s: server %q has no valid port", sc.Namespace, name, cfg.Host)
	}
	return infrav1beta1.APIEndpoint{Host: host, Port: int32(port)}, "", nil
}
