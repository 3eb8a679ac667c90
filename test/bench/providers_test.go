//go:build bench

package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	"github.com/machinepool-operator/machinepool-operator/internal/conversion"
)

// The generic fixture kinds the harness plays the providers of.
const (
	infraAPIVersion     = "infrastructure.cluster.x-k8s.io/v1beta1"
	bootstrapAPIVersion = "bootstrap.cluster.x-k8s.io/v1beta1"
)

// scenarioHarness plays the providers and the kubelets.
type scenarioHarness struct {
	t    *testing.T
	mgmt *plane
	// wls are the workload clusters' planes: pool i runs in wls[clusterOf(i)], named clusterName(clusterOf(i)).
	wls       []*plane
	pools     int
	instances map[int][]string // provider IDs per pool
	targets   map[int]int      // replicas per pool
	// kubelets bounds the Node registrations in flight, across pools.
	kubelets chan struct{}
	// sim runs SimMachinePools: the simulated cloud, not the harness, plays the provider and the kubelets.
	sim bool
	// v1beta1 makes the harness write and poll MachinePools in v1beta1 (BENCH_POOL_VERSION=v1beta1), so the
	// API server converts every request and watch event through the manager's /convert; by default it uses
	// v1beta2, the stored version (kubectl's default), and the figures measure the controller.
	v1beta1 bool
}

// poolObject is an empty MachinePool of the version the harness uses, named ns/name.
func (h *scenarioHarness) poolObject(name string) client.Object {
	if h.v1beta1 {
		return &corev1beta1.MachinePool{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	}
	return &corev1beta2.MachinePool{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

// machinePool is pool i's MachinePool, in its workload cluster.
func (h *scenarioHarness) machinePool(i, replicas int) *corev1beta1.MachinePool {
	mp := pool(ns, poolName(i), int32(replicas)) //nolint:gosec // a handful of replicas
	mp.Spec.ClusterName = h.clusterName(h.clusterOf(i))
	mp.Spec.Template.Spec.ClusterName = mp.Spec.ClusterName
	return mp
}

// createPool creates the pool in the version the harness uses.
func (h *scenarioHarness) createPool(ctx context.Context, mp *corev1beta1.MachinePool) error {
	if h.v1beta1 {
		return h.mgmt.c.Create(ctx, mp)
	}
	v2 := &corev1beta2.MachinePool{}
	if err := (conversion.Converter{}).ToV1beta2(ctx, mp, v2); err != nil {
		return err
	}
	delete(v2.Annotations, conversion.DataAnnotation) // a v1beta2 manifest, as a user writes it
	return h.mgmt.c.Create(ctx, v2)
}

// poolStatus is what convergence checks of a pool, from either version.
type poolStatus struct {
	name                                 string
	generation, observedGeneration       int64
	replicas, ready, available, nodeRefs int
}

// listPools reads every pool in the version the harness uses.
func (h *scenarioHarness) listPools(ctx context.Context) ([]poolStatus, error) {
	var out []poolStatus
	if h.v1beta1 {
		list := &corev1beta1.MachinePoolList{}
		if err := h.mgmt.c.List(ctx, list, client.InNamespace(ns)); err != nil {
			return nil, err
		}
		for _, p := range list.Items {
			s := p.Status
			out = append(out, poolStatus{p.Name, p.Generation, s.ObservedGeneration, int(s.Replicas), int(s.ReadyReplicas), int(s.AvailableReplicas), len(s.NodeRefs)})
		}
		return out, nil
	}
	list := &corev1beta2.MachinePoolList{}
	if err := h.mgmt.c.List(ctx, list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	for _, p := range list.Items {
		s := p.Status
		out = append(out, poolStatus{p.Name, p.Generation, s.ObservedGeneration, int(ptr.Deref(s.Replicas, 0)), int(ptr.Deref(s.ReadyReplicas, 0)),
			int(ptr.Deref(s.AvailableReplicas, 0)), len(s.NodeRefs)})
	}
	return out, nil
}

// convergeTimeout bounds a scenario (BENCH_TIMEOUT, a duration, overrides it).
var convergeTimeout = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("BENCH_TIMEOUT")); err == nil {
		return d
	}
	return 10 * time.Minute
}()

const ns = "bench"

// clusterOf is the index of pool i's workload cluster: pools go round-robin.
func (h *scenarioHarness) clusterOf(i int) int { return i % len(h.wls) }

// clusterName names a workload cluster: "bench" when there is one (as before there were several), else bench-<c>.
func (h *scenarioHarness) clusterName(c int) string {
	if len(h.wls) == 1 {
		return "bench"
	}
	return fmt.Sprintf("bench-%d", c)
}

// setup writes the namespace, each workload cluster's kubeconfig Secret and the bootstrap data Secret.
func (h *scenarioHarness) setup(ctx context.Context) {
	must(h.t, h.mgmt.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	for c, wl := range h.wls {
		must(h.t, h.mgmt.c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: h.clusterName(c) + "-kubeconfig"},
			Data: map[string][]byte{"value": wl.managerCfg}}))
	}
	must(h.t, h.mgmt.c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bench-data"},
		Data: map[string][]byte{"value": []byte("#cloud-config\n")}}))
	h.instances = map[int][]string{}
	h.targets = map[int]int{}
	h.kubelets = make(chan struct{}, 32)
}

// nodes is the number of Nodes the pools' targets make, in all workload clusters.
func (h *scenarioHarness) nodes() int {
	n := 0
	for _, target := range h.targets {
		n += target
	}
	return n
}

func (h *scenarioHarness) settle() { time.Sleep(2 * time.Second) }

func poolName(i int) string { return fmt.Sprintf("pool-%03d", i) }

// apply makes the scenario's change to the given pools and then, as the providers and kubelets would,
// everything that follows from it: Nodes register first, then the infrastructure reports them.
func (h *scenarioHarness) apply(ctx context.Context, scenario string, target int, pools []int) {
	for _, i := range pools {
		h.targets[i] = target
	}
	if h.sim {
		h.applySim(ctx, scenario, target, pools)
		return
	}
	h.parallel(pools, func(i int) error {
		name := poolName(i)
		switch scenario {
		case "create":
			boot := object(bootstrapAPIVersion, "GenericBootstrapConfig", ns, name)
			if err := h.mgmt.c.Create(ctx, boot); err != nil {
				return err
			}
			boot.Object["status"] = map[string]any{"ready": true, "dataSecretName": "bench-data"}
			if err := h.mgmt.c.Status().Update(ctx, boot); err != nil {
				return err
			}
			if err := h.mgmt.c.Create(ctx, object(infraAPIVersion, "GenericMachinePool", ns, name)); err != nil {
				return err
			}
			return h.createPool(ctx, h.machinePool(i, target))
		default:
			return h.mgmt.c.SubResource("scale").Patch(ctx, h.poolObject(name), client.RawPatch("application/merge-patch+json",
				fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, target)))
		}
	})
	// The provider follows: new instances register their Nodes, then the infra object reports the list.
	var mu sync.Mutex
	h.parallel(pools, func(i int) error {
		mu.Lock()
		ids := h.instances[i]
		mu.Unlock()
		// Kubelets register independently of each other: a pool's new Nodes are created concurrently, within the
		// harness-wide bound on writes in flight.
		var errs []error
		var emu sync.Mutex
		var wg sync.WaitGroup
		for j := len(ids); j < target; j++ {
			id := fmt.Sprintf("generic:///bench/p%03d-i%d", i, j)
			ids = append(ids, id)
			h.kubelets <- struct{}{}
			wg.Go(func() {
				defer func() { <-h.kubelets }()
				// A kubelet registers its Node with its status in one create: the API server keeps a Node's status on create.
				node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%03d-i%d", i, j)}, Spec: corev1.NodeSpec{ProviderID: id},
					Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}}}
				if err := h.wls[h.clusterOf(i)].c.Create(ctx, node); err != nil {
					emu.Lock()
					errs = append(errs, err)
					emu.Unlock()
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		ids = ids[:target]
		mu.Lock()
		h.instances[i] = ids
		mu.Unlock()
		infra := object(infraAPIVersion, "GenericMachinePool", ns, poolName(i))
		list := make([]any, len(ids))
		for j, id := range ids {
			list[j] = id
		}
		if err := h.mgmt.c.Patch(ctx, infra, client.RawPatch("application/merge-patch+json", mustJSON(map[string]any{"spec": map[string]any{"providerIDList": list}}))); err != nil {
			return err
		}
		return h.mgmt.c.Status().Patch(ctx, infra, client.RawPatch("application/merge-patch+json",
			mustJSON(map[string]any{"status": map[string]any{"ready": true, "replicas": len(ids)}})))
	})
}

// applySim makes the scenario's change to SimMachinePool pools; the simulated cloud does the rest.
func (h *scenarioHarness) applySim(ctx context.Context, scenario string, target int, pools []int) {
	h.parallel(pools, func(i int) error {
		name := poolName(i)
		if scenario != "create" {
			return h.mgmt.c.SubResource("scale").Patch(ctx, h.poolObject(name), client.RawPatch("application/merge-patch+json",
				fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, target)))
		}
		smp := object(infraAPIVersion, "SimMachinePool", ns, name)
		smp.Object["spec"] = map[string]any{"simulation": map[string]any{"bootDelay": "200ms"}}
		if err := h.mgmt.c.Create(ctx, smp); err != nil {
			return err
		}
		mp := h.machinePool(i, target)
		mp.Spec.Template.Spec.Bootstrap = corev1beta1.Bootstrap{DataSecretName: ptr.To("bench-data")}
		mp.Spec.Template.Spec.InfrastructureRef.Kind = "SimMachinePool"
		return h.createPool(ctx, mp)
	})
}

// waitConverged polls until every pool shows its target, its status is current, and retired Nodes are gone.
// It polls every 100 ms per 200 pools: each poll lists every pool, so the polling's load on the API server and
// the machine stays the same per second from 200 to 1,000 pools (the convergence time is then known to 0.5 s).
func (h *scenarioHarness) waitConverged(ctx context.Context) {
	deadline := time.Now().Add(convergeTimeout)
	interval := time.Duration((h.pools+199)/200) * 100 * time.Millisecond
	for time.Now().Before(deadline) {
		if h.converged(ctx) {
			return
		}
		time.Sleep(interval)
	}
	list, _ := h.listPools(ctx)
	for _, p := range list {
		h.t.Logf("%+v", p)
	}
	h.t.Fatalf("not converged to %v replicas in %s", h.targets, convergeTimeout)
}

func (h *scenarioHarness) converged(ctx context.Context) bool {
	list, err := h.listPools(ctx)
	if err != nil || len(list) != h.pools {
		return false
	}
	perCluster := make([]int, len(h.wls))
	for _, p := range list {
		var i int
		if _, err := fmt.Sscanf(p.name, "pool-%d", &i); err != nil {
			return false
		}
		target := h.targets[i]
		perCluster[h.clusterOf(i)] += target
		if p.observedGeneration != p.generation || p.replicas != target || p.ready != target || p.available != target || p.nodeRefs != target {
			return false
		}
	}
	total := 0
	for c, wl := range h.wls {
		nodes := &metav1.PartialObjectMetadataList{}
		nodes.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NodeList"))
		if err := wl.c.List(ctx, nodes); err != nil || len(nodes.Items) != perCluster[c] {
			return false
		}
		total += perCluster[c]
	}
	if !h.sim {
		return true
	}
	// One Machine per instance, each with its Node.
	machines := &unstructured.UnstructuredList{}
	machines.SetAPIVersion("cluster.x-k8s.io/v1beta1")
	machines.SetKind("MachineList")
	if err := h.mgmt.c.List(ctx, machines, client.InNamespace(ns)); err != nil || len(machines.Items) != total {
		return false
	}
	for _, m := range machines.Items {
		if phase, _, _ := unstructured.NestedString(m.Object, "status", "phase"); phase != "Running" {
			return false
		}
	}
	return true
}

// parallel runs fn for the given pools, 32 at a time, and fails the test with their errors.
func (h *scenarioHarness) parallel(pools []int, fn func(i int) error) {
	errs := make([]error, len(pools))
	parallel(len(pools), 32, func(j int) { errs[j] = fn(pools[j]) })
	if err := errors.Join(errs...); err != nil {
		h.t.Fatal(err)
	}
}

func mustJSON(v any) []byte {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return raw
}

func must(t *testing.T, err error) {
	if err != nil {
		t.Fatal(err)
	}
}
