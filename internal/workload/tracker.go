package workload

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/transport"
	ctrlcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	mpmetrics "github.com/machinepool-operator/machinepool-operator/internal/metrics"
)

// Node indexes of a workload cluster's cache.
const (
	// fullKeyIndex indexes Nodes by FullKey(spec.providerID).
	fullKeyIndex = "providerID.full"
	// instanceKeyIndex indexes Nodes by InstanceKey(spec.providerID).
	instanceKeyIndex = "providerID.instance"
	// ownerIndex indexes Nodes by the MachinePool their annotations name: "<namespace>/<name>".
	ownerIndex = "machinepool.owner"
)

// ErrNoKubeconfig says that the cluster's kubeconfig Secret does not exist (yet).
var ErrNoKubeconfig = errors.New("the workload cluster's kubeconfig Secret does not exist")

// KubeconfigSecretName is the name of a cluster's kubeconfig Secret.
func KubeconfigSecretName(clusterName string) string {
	return clusterName + corev1beta1.KubeconfigSecretSuffix
}

// ClusterOfKubeconfigSecret returns the cluster a "<cluster>-kubeconfig" Secret name belongs to.
func ClusterOfKubeconfigSecret(secretName string) (string, bool) {
	cluster, ok := strings.CutSuffix(secretName, corev1beta1.KubeconfigSecretSuffix)
	return cluster, ok && cluster != ""
}

// Handler is told about every added, changed or deleted Node of a workload cluster, and (with a nil Node)
// about a change of the cluster's health.
type Handler func(cluster types.NamespacedName, node *corev1.Node)

// ObjectHandler is told about every added or changed object of a kind a subscriber asked to watch.
type ObjectHandler func(cluster types.NamespacedName, obj client.Object)

// Options tune the clients of workload clusters.
type Options struct {
	// QPS and Burst limit the requests sent to each workload cluster.
	QPS   float32
	Burst int
	// SyncTimeout bounds how long a new client waits for its Node cache to fill; an unreachable cluster fails
	// after it.
	SyncTimeout time.Duration
	// HealthInterval is how often each cluster's API server is probed; a failed probe marks the cluster
	// unhealthy until one succeeds.
	HealthInterval time.Duration
	// WrapTransport, when set, wraps the HTTP transport of every workload client (instrumentation).
	WrapTransport transport.WrapperFunc
	// UserAgent names the manager in the workload clusters' audit logs; default "machinepool-operator".
	UserAgent string
}

// Tracker keeps one client per workload cluster for every controller of the manager: the manager builds one
// and hands it to each controller, which subscribes to the events it needs. A cluster's client lives while
// any user still holds it (Get adds a user, Release drops one), so one controller cannot tear down a client
// another still uses; it is rebuilt only when its kubeconfig Secret changes.
type Tracker struct {
	secrets client.Reader
	scheme  *runtime.Scheme
	opts    Options

	mu       sync.Mutex
	entries  map[types.NamespacedName]*entry
	handlers []Handler
	watches  []kindWatch
}

// kindWatch is a subscription to another kind than Nodes.
type kindWatch struct {
	obj     client.Object
	handler ObjectHandler
}

// entry serialises the building of one cluster's client without holding up the others.
type entry struct {
	mu sync.Mutex
	c  *Cluster
	// users hold the client; guarded by the Tracker's mu, not the entry's (which a build holds for long).
	users map[string]bool
}

// NewTracker returns a Tracker that reads kubeconfig Secrets with secrets (an uncached reader: Secret data is
// read only when a client is built).
func NewTracker(secrets client.Reader, scheme *runtime.Scheme, opts Options) *Tracker {
	if opts.QPS <= 0 {
		opts.QPS = 500
	}
	if opts.Burst <= 0 {
		opts.Burst = 1000
	}
	if opts.SyncTimeout <= 0 {
		opts.SyncTimeout = 15 * time.Second
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = 10 * time.Second
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "machinepool-operator"
	}
	return &Tracker{secrets: secrets, scheme: scheme, opts: opts, entries: map[types.NamespacedName]*entry{}}
}

// Subscribe tells h about the Node and health changes of every workload cluster, from now on. Controllers
// subscribe when they are set up.
func (t *Tracker) Subscribe(h Handler) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.handlers = append(t.handlers, h)
}

// Watch makes every workload cluster's cache watch obj's kind as well (reduced to what controllers read, see
// stripUnread), telling h about each added or changed object. Call it when setting up, before clients are built.
func (t *Tracker) Watch(obj client.Object, h ObjectHandler) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.watches = append(t.watches, kindWatch{obj: obj, handler: h})
}

// Start waits for ctx to end and then tears down every client: add the Tracker to the manager that runs the
// controllers using it.
func (t *Tracker) Start(ctx context.Context) error {
	<-ctx.Done()
	t.stop()
	return nil
}

func (t *Tracker) notify(cluster types.NamespacedName, node *corev1.Node) {
	t.mu.Lock()
	handlers := t.handlers
	t.mu.Unlock()
	for _, h := range handlers {
		h(cluster, node)
	}
}

// Cluster is a cached client of one workload cluster.
type Cluster struct {
	// Client reads Nodes from the cache and writes to the workload cluster's API server.
	client.Client
	// Direct reads from the API server, for the rare reads of other kinds (a drained Node's Pods) that are not
	// worth a cache of every object of the kind.
	Direct        client.Reader
	key           types.NamespacedName
	secretVersion string
	cancel        context.CancelFunc
	// unhealthy holds the last probe's error while the API server does not answer.
	unhealthy atomic.Pointer[error]
	// unhealthySince and recoveredAt are when the API server last stopped answering and last answered again
	// (Unix nanoseconds; 0 for never).
	unhealthySince, recoveredAt atomic.Int64
	// writeSlots bounds the writes Each has in flight to this cluster, across all callers.
	writeSlots chan struct{}
}

// MaxWritesInFlight is how many writes Each sends to one workload cluster at once, across all reconciles: a
// pool of hundreds adopts or retires its Nodes in parallel, many small pools together add no more load than that.
const MaxWritesInFlight = 16

// Each calls write for 0..n-1, concurrently within the cluster's MaxWritesInFlight, and joins the errors.
func (c *Cluster) Each(n int, write func(i int) error) error {
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(n, cap(c.writeSlots)) {
		wg.Go(func() {
			for i := range next {
				c.writeSlots <- struct{}{}
				errs[i] = write(i)
				<-c.writeSlots
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

// Get returns the client of a workload cluster for user (a name for whatever holds it, such as
// "MachinePool ns/name"), building it on first use and rebuilding it when the kubeconfig Secret's
// resourceVersion differs from secretVersion (the caller's view of the Secret, from a watch; "" accepts any).
// The client stays until every user has released it. It returns ErrNoKubeconfig when the Secret does not exist.
func (t *Tracker) Get(ctx context.Context, cluster types.NamespacedName, user, secretVersion string) (*Cluster, error) {
	t.mu.Lock()
	e, ok := t.entries[cluster]
	if !ok {
		e = &entry{users: map[string]bool{}}
		t.entries[cluster] = e
	}
	e.users[user] = true
	t.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.c != nil {
		if secretVersion == "" || e.c.secretVersion == secretVersion {
			return e.c, nil
		}
		log.FromContext(ctx).Info("kubeconfig Secret changed; rebuilding the workload cluster client", "cluster", cluster)
		e.c.cancel()
		e.c = nil
	}
	c, err := t.build(ctx, cluster)
	if err != nil {
		return nil, err
	}
	e.c = c
	return c, nil
}

// Lookup returns the client of a workload cluster if one is built, without building one or becoming a user.
func (t *Tracker) Lookup(cluster types.NamespacedName) *Cluster {
	t.mu.Lock()
	e, ok := t.entries[cluster]
	t.mu.Unlock()
	if !ok {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.c
}

// Release drops user from every workload cluster it holds (its object is gone, or no longer needs the
// cluster), tearing down the clients nobody holds any more.
func (t *Tracker) Release(user string) {
	t.mu.Lock()
	var unused []types.NamespacedName
	for key, e := range t.entries {
		if e.users[user] {
			delete(e.users, user)
			if len(e.users) == 0 {
				unused = append(unused, key)
			}
		}
	}
	t.mu.Unlock()
	for _, key := range unused {
		t.teardown(key, true)
	}
}

// Users returns how many users hold a workload cluster.
func (t *Tracker) Users(cluster types.NamespacedName) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.entries[cluster]; ok {
		return len(e.users)
	}
	return 0
}

// teardown stops a cluster's client; onlyUnused keeps it when a user took it meanwhile.
func (t *Tracker) teardown(cluster types.NamespacedName, onlyUnused bool) {
	t.mu.Lock()
	e, ok := t.entries[cluster]
	if ok && onlyUnused {
		ok = len(e.users) == 0
	}
	if ok {
		delete(t.entries, cluster)
	}
	t.mu.Unlock()
	if !ok {
		return
	}
	e.mu.Lock()
	if e.c != nil {
		e.c.cancel()
		e.c = nil
	}
	e.mu.Unlock()
	mpmetrics.WorkloadClusterUp.DeleteLabelValues(cluster.Namespace, cluster.Name)
}

// stop tears down every client.
func (t *Tracker) stop() {
	t.mu.Lock()
	keys := make([]types.NamespacedName, 0, len(t.entries))
	for k := range t.entries {
		keys = append(keys, k)
	}
	t.mu.Unlock()
	for _, k := range keys {
		t.teardown(k, false)
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
	data, ok := secret.Data[corev1beta1.KubeconfigDataKey]
	if !ok || len(data) == 0 {
		return nil, fmt.Errorf("secret %s has no %q key with a kubeconfig", key, corev1beta1.KubeconfigDataKey)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(data)
	if err != nil {
		return nil, fmt.Errorf("secret %s holds an invalid kubeconfig: %w", key, err)
	}
	cfg.QPS, cfg.Burst = t.opts.QPS, t.opts.Burst
	if t.opts.WrapTransport != nil {
		cfg.Wrap(t.opts.WrapTransport)
	}
	cfg.UserAgent = t.opts.UserAgent
	cfg.Timeout = 30 * time.Second
	// Only built-in kinds are read and written here: protobuf costs the API server (and this process) less
	// than JSON for every Node list, watch event and patch response, as kubelets and core controllers do.
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON

	// The cache's watches run for minutes; a client timeout would cut each one short and open it again.
	watchCfg := rest.CopyConfig(cfg)
	watchCfg.Timeout = 0
	nodeCache, err := ctrlcache.New(watchCfg, ctrlcache.Options{Scheme: t.scheme, DefaultTransform: stripUnread})
	if err != nil {
		return nil, fmt.Errorf("workload cluster %s: %w", cluster, err)
	}
	for name, fn := range map[string]client.IndexerFunc{
		fullKeyIndex:     providerIDIndexer(FullKey, nodeProviderID),
		instanceKeyIndex: InstanceKeyIndexer(nodeProviderID),
		ownerIndex:       nodeOwner,
	} {
		if err := nodeCache.IndexField(ctx, &corev1.Node{}, name, fn); err != nil {
			return nil, fmt.Errorf("workload cluster %s: indexing Nodes: %w", cluster, err)
		}
	}
	informer, err := nodeCache.GetInformer(ctx, &corev1.Node{})
	if err != nil {
		return nil, fmt.Errorf("workload cluster %s: %w", cluster, err)
	}
	notify := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if node, ok := obj.(*corev1.Node); ok {
			t.notify(cluster, node)
		}
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: notify,
		UpdateFunc: func(oldObj, obj any) {
			if changedForPools(oldObj, obj) {
				notify(obj)
			}
		},
		DeleteFunc: notify,
	}); err != nil {
		return nil, fmt.Errorf("workload cluster %s: %w", cluster, err)
	}

	t.mu.Lock()
	watches := t.watches
	t.mu.Unlock()
	for _, w := range watches {
		inf, err := nodeCache.GetInformer(ctx, w.obj)
		if err != nil {
			return nil, fmt.Errorf("workload cluster %s: %w", cluster, err)
		}
		notify := func(obj any) {
			if o, ok := obj.(client.Object); ok {
				w.handler(cluster, o)
			}
		}
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: notify, UpdateFunc: func(_, obj any) { notify(obj) },
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
		return nil, fmt.Errorf("workload cluster %s is unreachable: its Nodes could not be listed within %s (is its API server up, and may the kubeconfig's user list Nodes?)", cluster, t.opts.SyncTimeout)
	}
	c, err := client.New(cfg, client.Options{Scheme: t.scheme, Cache: &client.CacheOptions{Reader: nodeCache}})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("workload cluster %s: %w", cluster, err)
	}
	direct, err := client.New(cfg, client.Options{Scheme: t.scheme})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("workload cluster %s: %w", cluster, err)
	}
	wc := &Cluster{Client: c, Direct: direct, key: cluster, secretVersion: secret.ResourceVersion, cancel: cancel,
		writeSlots: make(chan struct{}, MaxWritesInFlight)}
	probe, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("workload cluster %s: %w", cluster, err)
	}
	mpmetrics.WorkloadClusterUp.WithLabelValues(cluster.Namespace, cluster.Name).Set(1)
	go t.watchHealth(cacheCtx, wc, probe)
	return wc, nil
}

// watchHealth probes the cluster's API server (/readyz) and reports every change of health through the
// handler, so the cluster's pools show it and recover without polling of their own.
func (t *Tracker) watchHealth(ctx context.Context, wc *Cluster, probe *discovery.DiscoveryClient) {
	ticker := time.NewTicker(t.opts.HealthInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		probeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := probe.RESTClient().Get().AbsPath("/readyz").Do(probeCtx).Error()
		cancel()
		if ctx.Err() != nil {
			return
		}
		up := 1.0
		if err != nil {
			up = 0
		}
		mpmetrics.WorkloadClusterUp.WithLabelValues(wc.key.Namespace, wc.key.Name).Set(up)
		var changed bool
		if err != nil {
			err = fmt.Errorf("workload cluster %s does not answer: %w", wc.key, err)
			if changed = wc.unhealthy.Swap(&err) == nil; changed {
				wc.unhealthySince.Store(time.Now().UnixNano())
			}
		} else if changed = wc.unhealthy.Swap(nil) != nil; changed {
			wc.recoveredAt.Store(time.Now().UnixNano())
		}
		if changed {
			t.notify(wc.key, nil)
		}
	}
}

// Healthy returns nil while the cluster's API server answers, else the last probe's error.
func (c *Cluster) Healthy() error {
	if err := c.unhealthy.Load(); err != nil {
		return *err
	}
	return nil
}

// UnhealthySince returns when the API server last stopped answering the health probe (zero if it never did).
func (c *Cluster) UnhealthySince() time.Time { return unixNano(c.unhealthySince.Load()) }

// RecoveredAt returns when the API server last answered the health probe again after it had stopped (zero if
// it never stopped): what this client saw of the cluster before then may have been stale.
func (c *Cluster) RecoveredAt() time.Time { return unixNano(c.recoveredAt.Load()) }

func unixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// changedForPools says whether a Node update changes anything a pool, Machine or health check reads: provider
// ID, the status of any condition (a health check may watch any type), Cluster API's annotations, labels in the
// domains Machines manage, taints or deletion. Heartbeats and other status churn are dropped here, before any
// reconcile.
func changedForPools(oldObj, obj any) bool {
	o, ok1 := oldObj.(*corev1.Node)
	n, ok2 := obj.(*corev1.Node)
	if !ok1 || !ok2 {
		return true
	}
	if o.Spec.ProviderID != n.Spec.ProviderID || !o.DeletionTimestamp.Equal(n.DeletionTimestamp) ||
		!equality.Semantic.DeepEqual(o.Spec.Taints, n.Spec.Taints) {
		return true
	}
	for _, k := range []string{corev1beta1.ClusterNameAnnotation, corev1beta1.ClusterNamespaceAnnotation, corev1beta1.OwnerKindAnnotation, corev1beta1.OwnerNameAnnotation,
		corev1beta1.MachineAnnotation, corev1beta1.LabelsFromMachineAnnotation} {
		if o.Annotations[k] != n.Annotations[k] {
			return true
		}
	}
	if !maps.Equal(NodeLabels(o.Labels), NodeLabels(n.Labels)) {
		return true
	}
	return conditionsChanged(o.Status.Conditions, n.Status.Conditions)
}

// conditionsChanged says whether a condition was added, removed, or changed its status or transition time;
// heartbeats, reasons and messages alone do not count.
func conditionsChanged(old, cur []corev1.NodeCondition) bool {
	if len(old) != len(cur) {
		return true
	}
	for _, c := range cur {
		found := false
		for _, o := range old {
			if o.Type == c.Type {
				found = o.Status == c.Status && o.LastTransitionTime.Equal(&c.LastTransitionTime)
				break
			}
		}
		if !found {
			return true
		}
	}
	return false
}

// ReadySince returns when a Node's Ready condition last changed, and whether the Node is Ready now.
func ReadySince(n *corev1.Node) (time.Time, bool) {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.LastTransitionTime.Time, c.Status == corev1.ConditionTrue
		}
	}
	return time.Time{}, false
}

func nodeProviderID(o client.Object) string { return o.(*corev1.Node).Spec.ProviderID }

func nodeOwner(o client.Object) []string {
	a := o.GetAnnotations()
	if a[corev1beta1.OwnerKindAnnotation] != "MachinePool" || a[corev1beta1.OwnerNameAnnotation] == "" {
		return nil
	}
	return []string{a[corev1beta1.ClusterNamespaceAnnotation] + "/" + a[corev1beta1.OwnerNameAnnotation]}
}

// stripUnread drops what no controller reads from cached objects, so memory grows with the Nodes, not with
// their images, volumes and field managers.
func stripUnread(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	if node, ok := obj.(*corev1.Node); ok {
		node.Status.Images = nil
		node.Status.VolumesAttached = nil
		node.Status.VolumesInUse = nil
	}
	if pod, ok := obj.(*corev1.Pod); ok {
		// Only a Pod's identity, node and deletion matter here.
		pod.Spec = corev1.PodSpec{NodeName: pod.Spec.NodeName}
		pod.Status = corev1.PodStatus{Phase: pod.Status.Phase}
	}
	return obj, nil
}

// NodeFor returns the Node whose provider ID names the same instance as providerID, or nil: an exact (full
// key) match, else the only Node whose provider ID is a longer or shorter form of it (SameInstance).
func (c *Cluster) NodeFor(ctx context.Context, providerID string) (*corev1.Node, error) {
	full := FullKey(providerID)
	if full == "" {
		return nil, nil
	}
	list := &corev1.NodeList{}
	if err := c.List(ctx, list, client.MatchingFields{fullKeyIndex: full}); err != nil {
		return nil, fmt.Errorf("workload cluster %s: listing Nodes: %w", c.key, err)
	}
	if len(list.Items) > 0 {
		return &list.Items[0], nil
	}
	if err := c.List(ctx, list, client.MatchingFields{instanceKeyIndex: InstanceKey(providerID)}); err != nil {
		return nil, fmt.Errorf("workload cluster %s: listing Nodes: %w", c.key, err)
	}
	var match *corev1.Node
	for i := range list.Items {
		if SameInstance(providerID, list.Items[i].Spec.ProviderID) {
			if match != nil {
				return nil, nil // ambiguous: better no Node than the wrong one
			}
			match = &list.Items[i]
		}
	}
	return match, nil
}

// NodesOwnedBy returns the Nodes whose annotations name the MachinePool namespace/name as their owner.
func (c *Cluster) NodesOwnedBy(ctx context.Context, pool types.NamespacedName) ([]corev1.Node, error) {
	list := &corev1.NodeList{}
	if err := c.List(ctx, list, client.MatchingFields{ownerIndex: pool.Namespace + "/" + pool.Name}); err != nil {
		return nil, fmt.Errorf("workload cluster %s: listing Nodes: %w", c.key, err)
	}
	return list.Items, nil
}
