package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	"github.com/machinepool-operator/machinepool-operator/internal/controller/machinepool"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
	"github.com/machinepool-operator/machinepool-operator/test/support"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// reconciles is the number of MachinePool reconciles this process has run.
func reconciles(b *testing.B) uint64 {
	families, err := metrics.Registry.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		var n uint64
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == "machinepool" {
					n += uint64(m.GetCounter().GetValue())
				}
			}
		}
		return n
	}
	return 0
}

type harness struct {
	b                    *testing.B
	scheme               *runtime.Scheme
	mgmtCfg              *rest.Config
	mgmt, workloadClient client.Client
	mgmtCount, wlCount   *requestCounter
}

// startManager runs the MachinePool controller in this process with fresh caches; the returned func stops it.
func (h *harness) startManager() func() {
	cfg := rest.CopyConfig(h.mgmtCfg)
	cfg.QPS, cfg.Burst = 50, 100 // the manager's defaults
	cfg.Wrap(h.mgmtCount.wrap)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:     h.scheme,
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Client:     client.Options{Cache: &client.CacheOptions{Unstructured: true}},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}, // a restart in the same process
	})
	if err != nil {
		h.b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tracker := workload.NewTracker(mgr.GetAPIReader(), mgr.GetScheme(), workload.Options{WrapTransport: h.wlCount.wrap})
	if err := mgr.Add(tracker); err != nil {
		h.b.Fatal(err)
	}
	r := &machinepool.Reconciler{Client: mgr.GetClient(), Workload: tracker}
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		h.b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = mgr.Start(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// BenchmarkNodeMapping measures, for one workload cluster with BENCH_POOLS pools of BENCH_REPLICAS Nodes
// (default 200 x 10 = 2,000 Nodes), a full resync (a restarted manager reconciling every pool) and one Node
// change: time, reconciles and API requests to the management and the workload cluster, by verb.
func BenchmarkNodeMapping(b *testing.B) {
	pools, replicas := envInt("BENCH_POOLS", 200), envInt("BENCH_REPLICAS", 10)
	ctx := context.Background()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, corev1beta1.AddToScheme, corev1beta2.AddToScheme} {
		if err := add(scheme); err != nil {
			b.Fatal(err)
		}
	}
	mgmtEnv := &envtest.Environment{CRDDirectoryPaths: []string{
		filepath.Join("..", "..", "config", "crd", "bases"), filepath.Join("..", "..", "test", "fixtures"),
	}, ErrorIfCRDPathMissing: true}
	mgmtCfg, err := mgmtEnv.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = mgmtEnv.Stop() }()
	convCtx, stopConversion := context.WithCancel(ctx)
	defer stopConversion()
	if err := support.StartConversion(convCtx, mgmtEnv); err != nil {
		b.Fatal(err)
	}
	wlEnv := &envtest.Environment{}
	wlCfg, err := wlEnv.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = wlEnv.Stop() }()
	admin, err := wlEnv.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		b.Fatal(err)
	}

	// The harness's own clients (playing users, providers and kubelets) are not rate limited and not counted.
	fast := func(cfg *rest.Config) client.Client {
		cfg = rest.CopyConfig(cfg)
		cfg.QPS, cfg.Burst = 5000, 10000
		c, err := client.New(cfg, client.Options{Scheme: scheme})
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	h := &harness{b: b, scheme: scheme, mgmtCfg: mgmtCfg, mgmt: fast(mgmtCfg), workloadClient: fast(wlCfg),
		mgmtCount: newRequestCounter(), wlCount: newRequestCounter()}

	ns := "bench"
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(h.mgmt.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	cluster := &unstructured.Unstructured{}
	cluster.SetAPIVersion("cluster.x-k8s.io/v1beta1")
	cluster.SetKind("Cluster")
	cluster.SetNamespace(ns)
	cluster.SetName("bench")
	must(h.mgmt.Create(ctx, cluster))
	must(unstructured.SetNestedField(cluster.Object, true, "status", "infrastructureReady"))
	must(h.mgmt.Status().Update(ctx, cluster))
	must(h.mgmt.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bench-kubeconfig"},
		Data: map[string][]byte{"value": kubeconfig}}))

	stop := h.startManager()
	t0 := time.Now()
	parallel(pools, 16, func(i int) {
		name := fmt.Sprintf("pool-%03d", i)
		ids := make([]any, replicas)
		for j := range ids {
			ids[j] = fmt.Sprintf("generic:///bench/%s/i-%d", name, j)
		}
		boot := object("bootstrap.cluster.x-k8s.io/v1beta1", "GenericBootstrapConfig", ns, name)
		must(h.mgmt.Create(ctx, boot))
		must(unstructured.SetNestedMap(boot.Object, map[string]any{"ready": true, "dataSecretName": name}, "status"))
		must(h.mgmt.Status().Update(ctx, boot))
		infra := object("infrastructure.cluster.x-k8s.io/v1beta1", "GenericMachinePool", ns, name)
		must(unstructured.SetNestedSlice(infra.Object, ids, "spec", "providerIDList"))
		must(h.mgmt.Create(ctx, infra))
		must(unstructured.SetNestedMap(infra.Object, map[string]any{"ready": true, "replicas": int64(replicas)}, "status"))
		must(h.mgmt.Status().Update(ctx, infra))
		// Nodes register before the pool exists: the harness kubelets are quick.
		for _, id := range ids {
			n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{GenerateName: name + "-"}, Spec: corev1.NodeSpec{ProviderID: id.(string)}}
			must(h.workloadClient.Create(ctx, n))
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
			must(h.workloadClient.Status().Update(ctx, n))
		}
		must(h.mgmt.Create(ctx, pool(ns, name, int32(replicas))))
	})
	running := waitRunning(b, h.mgmt, ns, pools)
	b.Logf("create: %d pools x %d Nodes Running after %s (objects created by the harness during it)", pools, replicas, running.Sub(t0).Round(time.Millisecond))
	stop()

	b.ResetTimer()
	for b.Loop() {
		// Full resync: a restarted manager lists everything once and reconciles every pool.
		h.mgmtCount.snapshot()
		h.wlCount.snapshot()
		before := reconciles(b)
		start := time.Now()
		stop = h.startManager()
		settled := waitSettled(b, before, uint64(pools))
		mgmt, wl := h.mgmtCount.snapshot(), h.wlCount.snapshot()
		b.Logf("full resync: %d reconciles in %s; management requests %s; workload requests %s",
			reconciles(b)-before, settled.Sub(start).Round(time.Millisecond), format(mgmt), format(wl))
		b.ReportMetric(settled.Sub(start).Seconds(), "resync-s")
		b.ReportMetric(float64(total(mgmt)), "resync-mgmt-requests")
		b.ReportMetric(float64(total(wl)), "resync-workload-requests")

		// One Node change: one Node of one pool goes NotReady.
		list := &corev1.NodeList{}
		must(h.workloadClient.List(ctx, list))
		var node *corev1.Node
		for i := range list.Items {
			if list.Items[i].Spec.ProviderID == "generic:///bench/pool-007/i-3" {
				node = &list.Items[i]
			}
		}
		if node == nil {
			b.Fatal("node pool-007/i-3 not found")
		}
		before = reconciles(b)
		start = time.Now()
		node.Status.Conditions[0].Status = corev1.ConditionFalse
		node.Status.Conditions[0].LastTransitionTime = metav1.Now()
		must(h.workloadClient.Status().Update(ctx, node))
		seen := waitReady(b, h.mgmt, ns, "pool-007", int32(replicas-1))
		time.Sleep(2 * time.Second) // let any further reconcile the change caused show up in the counts
		mgmt, wl = h.mgmtCount.snapshot(), h.wlCount.snapshot()
		b.Logf("one Node change: pool status updated after %s; %d reconciles; list calls: management %d, workload %d; management requests %s; workload requests %s",
			seen.Sub(start).Round(time.Millisecond), reconciles(b)-before, mgmt["list"], wl["list"], format(mgmt), format(wl))
		b.ReportMetric(float64(reconciles(b)-before), "change-reconciles")
		b.ReportMetric(float64(mgmt["list"]+wl["list"]), "change-lists")
		stop()
	}
}

func object(apiVersion, kind, ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

func pool(ns, name string, replicas int32) *corev1beta1.MachinePool {
	return &corev1beta1.MachinePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1beta1.MachinePoolSpec{
			ClusterName: "bench", Replicas: ptr.To(replicas),
			Template: corev1beta1.MachineTemplateSpec{Spec: corev1beta1.MachineSpec{
				ClusterName: "bench",
				Bootstrap: corev1beta1.Bootstrap{ConfigRef: &corev1.ObjectReference{
					APIVersion: "bootstrap.cluster.x-k8s.io/v1beta1", Kind: "GenericBootstrapConfig", Name: name, Namespace: ns}},
				InfrastructureRef: corev1.ObjectReference{
					APIVersion: "infrastructure.cluster.x-k8s.io/v1beta1", Kind: "GenericMachinePool", Name: name, Namespace: ns},
			}},
		},
	}
}

// parallel runs fn(0..n-1) on the given number of workers.
func parallel(n, workers int, fn func(int)) {
	var wg sync.WaitGroup
	work := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range work {
				fn(i)
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}

func waitRunning(b *testing.B, c client.Client, ns string, pools int) time.Time {
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		list := &corev1beta1.MachinePoolList{}
		if err := c.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		running := 0
		for _, p := range list.Items {
			if p.Status.Phase == "Running" && p.Status.ObservedGeneration == p.Generation {
				running++
			}
		}
		if running == pools {
			return time.Now()
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.Fatal("pools did not reach Running within 10 minutes")
	return time.Time{}
}

// waitSettled waits until at least want reconciles ran after before and none ran for a second; it returns the
// time of the last one seen.
func waitSettled(b *testing.B, before, want uint64) time.Time {
	last, lastAt := reconciles(b), time.Now()
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		n := reconciles(b)
		if n != last {
			last, lastAt = n, time.Now()
			continue
		}
		if n-before >= want && time.Since(lastAt) > time.Second {
			return lastAt
		}
	}
	b.Fatal("reconciles did not settle within 10 minutes")
	return time.Time{}
}

func waitReady(b *testing.B, c client.Client, ns, name string, ready int32) time.Time {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		p := &corev1beta1.MachinePool{}
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, p); err != nil {
			b.Fatal(err)
		}
		if p.Status.ReadyReplicas == ready {
			return time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Fatalf("pool %s did not report %d ready replicas within a minute", name, ready)
	return time.Time{}
}
