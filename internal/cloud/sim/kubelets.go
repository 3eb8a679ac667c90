package sim

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/machinepool-operator/machinepool-operator/internal/cloud"
	"github.com/machinepool-operator/machinepool-operator/internal/contract"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

// KubeletOptions make a simulated cloud run its instances' kubelets.
type KubeletOptions struct {
	// Workload reaches the workload clusters the groups name (GroupSpec.Cluster); required.
	Workload *workload.Tracker
	// Secrets reads bootstrap data Secrets (uncached: an instance joins only once its data exists); required.
	Secrets client.Reader
	// Heartbeat is how often a running instance refreshes its Node's Ready condition; default 40s. Negative
	// turns heartbeats off: a Node's status is written when it registers and when it changes, nothing else.
	Heartbeat time.Duration
	// Workers is how many groups are synced at once; default 4.
	Workers int
	// Owns, when set, says whether these kubelets run a group's instances; a group they do not own is let go
	// until the group changes again.
	Owns func(ctx context.Context, group cloud.GroupRef) bool
}

// WithKubelets makes the cloud run a kubelet for each of its instances once it is started (Start): an instance
// that boots registers its Node in the group's workload cluster (when its bootstrap data Secret exists), keeps
// the Node's Ready condition fresh, reports Unknown once it stops, and completes the deletion of Pods on its
// Node, as a kubelet does once their containers stopped. It registers a Pod watch with the tracker, so call it
// before the tracker builds clients.
func WithKubelets(opts KubeletOptions) Option {
	return func(c *Cloud) {
		if opts.Heartbeat == 0 {
			opts.Heartbeat = 40 * time.Second
		}
		if opts.Workers <= 0 {
			opts.Workers = 4
		}
		k := &kubelets{opts: opts, cloud: c, known: map[cloud.GroupRef]bool{},
			queue: workqueue.NewTypedRateLimitingQueueWithConfig(
				workqueue.NewTypedItemExponentialFailureRateLimiter[cloud.GroupRef](500*time.Millisecond, 10*time.Second),
				workqueue.TypedRateLimitingQueueConfig[cloud.GroupRef]{Name: "sim-kubelets"})}
		opts.Workload.Watch(&corev1.Pod{}, k.finishPod)
		c.kubelets = k
	}
}

// kubelets sync the Nodes of one group at a time, whenever the group changes and whenever one of its
// instances is due to boot, stop or send a heartbeat.
type kubelets struct {
	opts  KubeletOptions
	cloud *Cloud
	queue workqueue.TypedRateLimitingInterface[cloud.GroupRef]
	mu    sync.Mutex
	// known are the groups synced since the start; the first sight of one (after a restart) syncs it.
	known map[cloud.GroupRef]bool
}

// markKnown records whether a group is known and says whether it was.
func (k *kubelets) markKnown(group cloud.GroupRef, known bool) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	was := k.known[group]
	if known {
		k.known[group] = true
	} else {
		delete(k.known, group)
	}
	return was
}

// changed tells the kubelets that a group's state changed.
func (c *Cloud) changed(group cloud.GroupRef) {
	if c.kubelets != nil {
		c.kubelets.queue.Add(group)
	}
}

// seen tells the kubelets that a group exists, unchanged: they sync it if they have not since they started.
func (c *Cloud) seen(group cloud.GroupRef) {
	if c.kubelets == nil {
		return
	}
	if !c.kubelets.markKnown(group, true) {
		c.kubelets.queue.Add(group)
	}
}

// Start runs the kubelets until ctx ends (a manager.Runnable). A cloud built without WithKubelets returns at once.
func (c *Cloud) Start(ctx context.Context) error {
	k := c.kubelets
	if k == nil {
		return nil
	}
	go func() {
		<-ctx.Done()
		k.queue.ShutDown()
	}()
	var workers sync.WaitGroup
	for range k.opts.Workers {
		workers.Go(func() {
			for k.next(ctx) {
			}
		})
	}
	workers.Wait()
	return nil
}

func (k *kubelets) next(ctx context.Context) bool {
	group, shutdown := k.queue.Get()
	if shutdown {
		return false
	}
	defer k.queue.Done(group)
	after, err := k.sync(ctx, group)
	switch {
	case err != nil:
		logf.FromContext(ctx).V(2).Info("simulated kubelets could not sync their Nodes; retrying", "group", group.String(), "err", err.Error())
		k.queue.AddRateLimited(group)
	case after > 0:
		k.queue.Forget(group)
		k.queue.AddAfter(group, after)
	default:
		k.queue.Forget(group)
	}
	return true
}

// user names a group's kubelets as a user of its workload cluster's client.
func user(group cloud.GroupRef) string { return "sim kubelets " + group.String() }

// sync does what the group's kubelets would now, and says when it should run again (0: only on a change).
func (k *kubelets) sync(ctx context.Context, group cloud.GroupRef) (time.Duration, error) {
	k.markKnown(group, true)
	if k.opts.Owns != nil && !k.opts.Owns(ctx, group) {
		k.opts.Workload.Release(user(group))
		k.markKnown(group, false)
		return 0, nil
	}
	state, _, err := k.cloud.store.Load(ctx, group)
	if errors.Is(err, cloud.ErrGroupNotFound) {
		k.opts.Workload.Release(user(group))
		k.markKnown(group, false)
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if state.Cluster == "" {
		return 0, nil // no cluster to join; EnsureGroup names one
	}
	wc, err := k.opts.Workload.Get(ctx, types.NamespacedName{Namespace: group.Namespace, Name: state.Cluster}, user(group), "")
	if err != nil {
		return 0, err // no kubeconfig yet, or unreachable: retried with backoff
	}
	now := k.cloud.now()
	neverReady := map[string]bool{}
	for _, r := range state.Instances {
		neverReady[r.ID] = r.NeverReady
	}
	kubelet := &Kubelet{Workload: wc, Heartbeat: k.opts.Heartbeat, Now: k.cloud.now}
	hasData := map[string]bool{}
	var next time.Time
	var errs []error
	for _, in := range state.view(group, now) {
		dataOf := func() bool {
			ok, known := hasData[in.BootstrapSecret]
			if !known {
				ok = contract.HasBootstrapData(ctx, k.opts.Secrets, types.NamespacedName{Namespace: group.Namespace, Name: in.BootstrapSecret})
				hasData[in.BootstrapSecret] = ok
			}
			return ok
		}
		// The faults of spec.simulation.faults that hit the instance now, and when that changes: syncing then
		// makes a fault start, and a stopped kubelet's Node turn Unknown, on time.
		var injected InstanceFaults
		var faultsChange time.Time
		if in.State == cloud.Running {
			injected, faultsChange = state.faultsOf(in.ID, now)
		}
		injected.NotReady = injected.NotReady || neverReady[in.ID]
		_, due, err := kubelet.Sync(ctx, in, injected, dataOf)
		if err != nil {
			errs = append(errs, err)
		}
		for _, t := range []time.Time{due, in.ChangesAt, faultsChange} {
			if !t.IsZero() && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	if next.IsZero() {
		return 0, nil
	}
	return max(next.Sub(k.cloud.now()), 10*time.Millisecond), nil
}

// finishPod does what a kubelet does for a Pod on its Node that is being deleted: it removes it for good
// (grace period 0), so evictions, drains and deletions complete on a control plane without kubelets. Only
// Pods on the simulated cloud's Nodes are touched.
func (k *kubelets) finishPod(cluster types.NamespacedName, obj client.Object) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.DeletionTimestamp.IsZero() || pod.Spec.NodeName == "" {
		return
	}
	ctx := context.Background()
	wc := k.opts.Workload.Lookup(cluster)
	if wc == nil {
		return
	}
	node := &corev1.Node{}
	if err := wc.Get(ctx, client.ObjectKey{Name: pod.Spec.NodeName}, node); err != nil || !strings.HasPrefix(node.Spec.ProviderID, providerIDPrefix) {
		return
	}
	err := wc.Delete(ctx, pod, client.GracePeriodSeconds(0), client.Preconditions{UID: &pod.UID})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		logf.Log.V(2).Info("a simulated kubelet could not finish a Pod", "pod", client.ObjectKeyFromObject(pod).String(), "err", err.Error())
	}
}
