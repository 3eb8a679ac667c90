package workload

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	ctrlcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// ProviderIDIndex indexes a workload cluster's Nodes by spec.providerID.
const ProviderIDIndex = "spec.providerID"

// KubeconfigKey is the key of the kubeconfig in a "<cluster>-kubeconfig" Secret.
const KubeconfigKey = "value"

// ErrNoKubeconfig says that the cluster's kubeconfig Secret does not exist (yet).
var ErrNoKubeconfig = errors.New("the workload cluster's kubeconfig Secret does not exist")

// KubeconfigSecretName is the name of a cluster's kubeconfig Secret.
func KubeconfigSecretName(clusterName string) string { return clusterName + "-kubeconfig" }

// NodeHandler is told about every added, changed or deleted Node of a workload cluster.
type NodeHandler func(cluster types.NamespacedName, node *corev1.Node)

// Options tune the clients of workload clusters.
type Options struct {
	// QPS and Burst limit the requests sent to each workload cluster.
	QPS   float32
	Burst int
	// SyncTimeout bounds how long a new client waits for its Node cache to fill; an unreachable cluster fails
	// after it.
	SyncTimeout time.Duration
}

// Tracker keeps one client per workload cluster.
type Tracker struct {
	secrets client.Reader
	scheme  *runtime.Scheme
	opts    Options
	onNode  NodeHandler

	mu       sync.Mutex
	clusters map[types.NamespacedName]*Cluster
}

// NewTracker returns a Tracker that reads kubeconfig Secrets with secrets (an uncached reader: Secret data is
// read only when a client is built) and tells onNode about Node changes.
func NewTracker(secrets client.Reader, scheme *runtime.Scheme, opts Options, onNode NodeHandler) *Tracker {
	if opts.QPS <= 0 {
		opts.QPS = 100
	}
	if opts.Burst <= 0 {
		opts.Burst = 200
	}
	if opts.SyncTimeout <= 0 {
		opts.SyncTimeout = 15 * time.Second
	}
	return &Tracker{secrets: secrets, scheme: scheme, opts: opts, onNode: onNode, clusters: map[types.NamespacedName]*Cluster{}}
}

// Cluster is a cached client of one workload cluster.
type Cluster struct {
	// Client reads Nodes from the cache and writes to the workload cluster's API server.
	client.Client
	key           types.NamespacedName
	secretVersion string
	cancel        context.CancelFunc
}

// Get returns the client of a workload cluster, building it on first use and rebuilding it when the
// kubeconfig Secret's resourceVersion differs from secretVersion (the caller's view of the Secret, from a
// watch). It returns ErrNoKubeconfig when the Secret does not exist.
func (t *Tracker) Get(ctx context.Context, cluster types.NamespacedName, secretVersion string) (*Cluster, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.clusters[cluster]; ok {
		if secretVersion == "" || c.secretVersion == secretVersion {
			return c, nil
		}
		log.FromContext(ctx).Info("kubeconfig Secret changed; rebuilding the workload cluster client", "cluster", cluster)
		t.stopLocked(cluster)
	}
	c, err := t.build(ctx, cluster)
	if err != nil {
		return nil, err
	}
	t.clusters[cluster] = c
	return c, nil
}

// Forget tears down the client of a workload cluster (its Secret or Cluster is gone).
func (t *Tracker) Forget(cluster types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopLocked(cluster)
}

// Stop tears down every client.
func (t *Tracker) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for key := range t.clusters {
		t.stopLocked(key)
	}
}

func (t *Tracker) stopLocked(cluster types.NamespacedName) {
	if c, ok := t.clusters[cluster]; ok {
		c.cancel()
		delete(t.clusters, cluster)
	}
}

func (t *Tracker) build(ctx context.Context, cluster types.NamespacedName) (*Cluster, error) {
	secret := &corev1.Secret{}
	key := types.NamespacedName{Namespace: cluster.Namespace, Name: KubeconfigSecretName(cluster.Name)}
	if err := t.secrets.Get(ctx, key, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, ErrNoKubeconfig
		}
		return nil, fmt.Errorf("reading Secret %s: %w", key, err)
	}
	data, ok := secret.Data[KubeconfigKey]
	if !ok || len(data) == 0 {
		return nil, fmt.Errorf("secret %s has no %q key with a kubeconfig", key, KubeconfigKey)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(data)
	if err != nil {
		return nil, fmt.Errorf("secret %s: invalid kubeconfig: %w", key, err)
	}
	cfg.QPS, cfg.Burst = t.opts.QPS, t.opts.Burst
	cfg.UserAgent = "machinepool-operator"
	cfg.Timeout = 30 * time.Second

	nodeCache, err := ctrlcache.New(cfg, ctrlcache.Options{
		Scheme:           t.scheme,
		DefaultTransform: stripUnread,
		// Without a per-cluster REST mapper lookup the cache would ask discovery on first use; Nodes are core/v1.
	})
	if err != nil {
		return nil, fmt.Errorf("workload cluster %s: %w", cluster, err)
	}
	if err := nodeCache.IndexField(ctx, &corev1.Node{}, ProviderIDIndex, func(o client.Object) []string {
		if id := o.(*corev1.Node).Spec.ProviderID; id != "" {
			return []string{id}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("workload cluster %s: indexing Nodes: %w", cluster, err)
	}
	informer, err := nodeCache.GetInformer(ctx, &corev1.Node{})
	if err != nil {
		return nil, fmt.Errorf("workload cluster %s: %w", cluster, err)
	}
	if t.onNode != nil {
		notify := func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if node, ok := obj.(*corev1.Node); ok {
				t.onNode(cluster, node)
			}
		}
		if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    notify,
			UpdateFunc: func(_, obj any) { notify(obj) },
			DeleteFunc: notify,
		}); err != nil {
			return nil, fmt.Errorf("workload cluster %s: %w", cluster, err)
		}
	}

	// The cache lives until the client is torn down, not as long as this reconcile.
	cacheCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() { _ = nodeCache.Start(cacheCtx) }()
	syncCtx, syncCancel := context.WithTimeout(ctx, t.opts.SyncTimeout)
	defer syncCancel()
	if !nodeCache.WaitForCacheSync(syncCtx) {
		cancel()
		return nil, fmt.Errorf("workload cluster %s is unreachable: its Node cache did not sync within %s", cluster, t.opts.SyncTimeout)
	}
	c, err := client.New(cfg, client.Options{Scheme: t.scheme, Cache: &client.CacheOptions{Reader: nodeCache}})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("workload cluster %s: %w", cluster, err)
	}
	return &Cluster{Client: c, key: cluster, secretVersion: secret.ResourceVersion, cancel: cancel}, nil
}

// stripUnread drops what no controller reads from cached objects, so memory grows with the Nodes, not with
// their images and field managers.
func stripUnread(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	if node, ok := obj.(*corev1.Node); ok {
		node.Status.Images = nil
	}
	return obj, nil
}

// NodesByProviderID returns the Nodes whose spec.providerID is id (normally one).
func (c *Cluster) NodesByProviderID(ctx context.Context, id string) ([]corev1.Node, error) {
	list := &corev1.NodeList{}
	if err := c.List(ctx, list, client.MatchingFields{ProviderIDIndex: id}); err != nil {
		return nil, fmt.Errorf("workload cluster %s: listing Nodes: %w", c.key, err)
	}
	return list.Items, nil
}
