//go:build bench

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/machinepool-operator/machinepool-operator/test/support"
)

// TestScenarios is the benchmark harness of `make bench`: control planes with audit logs, the manager
// binary as its own process (--controllers=machinepool: the figures measure the core controller), and the
// harness playing the infrastructure provider, the bootstrap provider and the kubelets with the generic
// fixture kinds. A workload written sim:POOLSxREPLICAS runs every controller instead, on SimMachinePools with
// MachinePool Machines (Cluster API's Machine CRD installed), the simulated cloud launching instances and
// registering Nodes: what a standalone install costs. POOLSxREPLICAS/CLUSTERS spreads the pools round-robin over
// that many workload clusters, each its own control plane (default 1).
//
// BENCH_MANAGER_BIN runs a prebuilt manager binary (to compare two builds); BENCH_MANAGER_ARGS adds manager
// flags, BENCH_MANAGER_ENV its environment (GOMEMLIMIT=64MiB GOGC=50); BENCH_PROFILE_DIR (and
// BENCH_PROFILE_SECONDS, default 10) writes a CPU profile of the manager and of the API servers per scenario;
// BENCH_AUDIT=off runs the API servers without audit logs (no request counts) to show what logging costs;
// BENCH_POOL_VERSION=v1beta1 writes and polls the pools in v1beta1, through the manager's conversion webhook
// (default v1beta2, the stored version); BENCH_SERVE_V1BETA1=false stops the CRD serving v1beta1 (no conversions
// at all). For each workload (BENCH_WORKLOADS, default 50x10,200x10,5x200) it records the manager's start with
// no pools (its memory floor), then runs create, scale up by R/2, scale down by R/2, one pool scaled up by R/2
// (one-pool) and BENCH_IDLE (default 10s) without any change (idle), and reports seconds to convergence, manager
// CPU seconds, peak RSS and Go heap, the manager's API requests by cluster and verb and where its time went, as
// a table and as JSON lines (BENCH_OUT). BENCH_RUNS repeats each workload on fresh control planes and adds the
// medians, with the spread, of every scenario.
func TestScenarios(t *testing.T) {
	ctrllog.SetLogger(logr.Discard()) // the harness's clients; the manager logs to its own file
	workloads := os.Getenv("BENCH_WORKLOADS")
	if workloads == "" {
		workloads = "50x10,200x10,5x200"
	}
	runs := envInt("BENCH_RUNS", 1)
	out := os.Getenv("BENCH_OUT")
	if out == "" {
		out = filepath.Join(t.TempDir(), "bench.jsonl")
	}
	results, err := os.Create(out) //nolint:gosec // the path the user asked for
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = results.Close() }()
	write := func(v any) {
		raw, _ := json.Marshal(v)
		_, _ = results.Write(append(raw, '\n'))
	}
	bin := buildManager(t)
	for _, spec := range strings.Split(workloads, ",") {
		w, err := parseWorkload(spec)
		if err != nil {
			t.Fatal(err)
		}
		printHeader()
		var all [][]result
		// A subtest per run: its control planes and manager stop before the next run starts.
		t.Run(strings.NewReplacer(":", "-", "/", "-").Replace(w.name), func(t *testing.T) {
			for run := 1; run <= runs; run++ {
				t.Run(fmt.Sprintf("run-%d", run), func(t *testing.T) {
					rs := runWorkload(t, bin, w, run)
					for _, r := range rs {
						write(r)
						printRow(r, runs)
					}
					all = append(all, rs)
				})
			}
		})
		summaries := summarize(all)
		if runs > 1 {
			printSummaries(summaries)
			for _, s := range summaries {
				write(s)
			}
		}
		printMemory(w.name, summaries)
	}
	fmt.Printf("\nresults: %s\n", out)
}

// workload is one entry of BENCH_WORKLOADS: [sim:]POOLSxREPLICAS[/CLUSTERS].
type workloadSpec struct {
	// name is the entry as the results name it (without a /1).
	name                      string
	pools, replicas, clusters int
	sim                       bool
}

func parseWorkload(spec string) (workloadSpec, error) {
	w := workloadSpec{clusters: 1}
	size, sim := strings.CutPrefix(strings.TrimSpace(spec), "sim:")
	size, clusters, spread := strings.Cut(size, "/")
	_, err := fmt.Sscanf(size, "%dx%d", &w.pools, &w.replicas)
	if spread && err == nil {
		w.clusters, err = strconv.Atoi(clusters)
	}
	if err != nil || w.pools < 1 || w.replicas < 1 || w.clusters < 1 {
		return w, fmt.Errorf("BENCH_WORKLOADS: %q is not [sim:]POOLSxREPLICAS[/CLUSTERS]", spec)
	}
	w.sim = sim
	w.name = fmt.Sprintf("%dx%d", w.pools, w.replicas)
	if w.clusters > 1 {
		w.name += fmt.Sprintf("/%d", w.clusters)
	}
	if sim {
		w.name = "sim:" + w.name
	}
	return w, nil
}

// result is one scenario's figures.
type result struct {
	Workload string `json:"workload"`
	Scenario string `json:"scenario"`
	// Run counts the runs of the workload from 1 (BENCH_RUNS).
	Run      int `json:"run"`
	Pools    int `json:"pools"`
	Replicas int `json:"replicas"`
	// Clusters is the number of workload clusters; Nodes the Nodes in them at the end, NodesChanged the Nodes
	// the scenario added or retired.
	Clusters     int     `json:"clusters"`
	Nodes        int     `json:"nodes"`
	NodesChanged int     `json:"nodesChanged"`
	Seconds      float64 `json:"seconds"`
	// HarnessSeconds is how long the harness itself took to write the change and play the providers and
	// kubelets: a floor under Seconds on this machine.
	HarnessSeconds float64 `json:"harnessSeconds"`
	CPUSeconds     float64 `json:"cpuSeconds"`
	// ControlPlaneCPUSeconds is the CPU time every kube-apiserver and etcd used in the scenario: the machine's
	// other big consumer. ControlPlaneRSSMiB is their resident memory at the end.
	ControlPlaneCPUSeconds float64 `json:"controlPlaneCPUSeconds"`
	ControlPlaneRSSMiB     float64 `json:"controlPlaneRSSMiB"`
	// HarnessCPUSeconds is the CPU time of the harness process (providers, kubelets, convergence polling).
	HarnessCPUSeconds float64 `json:"harnessCPUSeconds"`
	// PeakRSSMiB is the manager's peak RSS in the scenario (since its start for "start"), RSSMiB its RSS after
	// the scenario settled: RSSAnonMiB of it anonymous (heap, stacks, runtime), the rest file-backed (the binary's
	// pages), which no GC setting changes.
	PeakRSSMiB         float64        `json:"peakRSSMiB"`
	RSSMiB             float64        `json:"rssMiB"`
	RSSAnonMiB         float64        `json:"rssAnonMiB"`
	ManagementRequests map[string]int `json:"managementRequests"`
	// WorkloadRequests is summed over the workload clusters; with more than one, WorkloadRequestsByCluster has
	// each cluster's.
	WorkloadRequests          map[string]int            `json:"workloadRequests"`
	WorkloadRequestsByCluster map[string]map[string]int `json:"workloadRequestsByCluster,omitempty"`
	// ManagementByResource and WorkloadByResource count the same requests by "verb resource[/subresource]".
	ManagementByResource map[string]int `json:"managementByResource"`
	WorkloadByResource   map[string]int `json:"workloadByResource"`
	// ManagementRequestsPerPool is the management requests per pool changed; CPUSecondsPer1kNodes the manager's
	// CPU seconds per 1,000 Nodes added or retired.
	ManagementRequestsPerPool float64 `json:"managementRequestsPerPool,omitempty"`
	CPUSecondsPer1kNodes      float64 `json:"cpuSecondsPer1kNodes,omitempty"`
	// IdleOther holds the idle scenario's requests that are neither watch (re)starts, health probes nor lease
	// renewals, by "verb resource".
	IdleOther map[string]int `json:"idleOther,omitempty"`
	// Manager is where the manager's time went, from its own metrics, over the same window as the requests.
	Manager managerMetrics `json:"manager"`
	// ManagerEnv is BENCH_MANAGER_ENV, the manager's extra environment (GOMEMLIMIT, GOGC).
	ManagerEnv string `json:"managerEnv,omitempty"`
	Machine    string `json:"machine"`
}

func printHeader() {
	fmt.Printf("\n%-12s %-11s %8s %8s %8s %8s %8s %8s %8s %13s  %-40s %s\n", "workload", "scenario", "seconds", "harness", "cpu s", "cp cpu s",
		"h cpu s", "rss MiB", "heap MiB", "convert n/s", "management requests", "workload requests")
}

func printRow(r result, runs int) {
	name := r.Workload
	if runs > 1 {
		name += fmt.Sprintf("#%d", r.Run)
	}
	fmt.Printf("%-12s %-11s %8.2f %8.2f %8.2f %8.2f %8.2f %8.0f %8.1f %13s  %-40s %s\n", name, r.Scenario, r.Seconds, r.HarnessSeconds, r.CPUSeconds,
		r.ControlPlaneCPUSeconds, r.HarnessCPUSeconds, r.PeakRSSMiB, r.Manager.HeapInuseMiB,
		fmt.Sprintf("%.0f/%.2f", r.Manager.ConversionRequests, r.Manager.ConversionSeconds), formatCounts(r.ManagementRequests), formatCounts(r.WorkloadRequests))
	if r.Scenario == "idle" && r.ManagementRequests != nil {
		fmt.Printf("  %s\n", idleVerdict(r))
	}
}

func formatCounts(c map[string]int) string {
	if c == nil {
		return "- (not counted: BENCH_AUDIT=off)"
	}
	total := 0
	var parts []string
	for _, v := range sortedKeys(c) {
		total += c[v]
		parts = append(parts, fmt.Sprintf("%s %d", v, c[v]))
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// idle is the length of the idle scenario (BENCH_IDLE, a duration).
var idle = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("BENCH_IDLE")); err == nil && d > 0 {
		return d
	}
	return 10 * time.Second
}()

// runWorkload starts fresh control planes and a manager and runs every scenario of the workload on them.
func runWorkload(t *testing.T, bin string, w workloadSpec, run int) []result {
	s := newSession(t, bin, w, run)
	out := []result{s.startFigures()}
	all := make([]int, w.pools)
	for i := range all {
		all[i] = i
	}
	r := w.replicas
	for _, sc := range []struct {
		name   string
		target int
		pools  []int
	}{
		{"create", r, all}, {"scale-up", r + r/2, all}, {"scale-down", r, all},
		// One pool of many scaled: only that pool should be reconciled.
		{"one-pool", r + r/2, all[:1]},
		// Nothing changes for BENCH_IDLE: what the manager asks of the API servers in steady state.
		{"idle", r, nil},
	} {
		out = append(out, s.scenario(context.Background(), sc.name, sc.target, sc.pools))
	}
	return out
}

// session is one run of a workload: its control planes, manager and harness.
type session struct {
	t                          *testing.T
	w                          workloadSpec
	run                        int
	mgmt                       *plane
	wls                        []*plane
	planes                     []*plane // mgmt, then wls
	mgr                        *managerProc
	h                          *scenarioHarness
	profileDir, profileSeconds string
	// started and ready are when the manager started and when it first answered conversions; cpuAtStart is the
	// control planes' CPU seconds when it started.
	started, ready time.Time
	cpuAtStart     float64
}

// newSession starts the control planes and the manager, and sets up what the pools will need.
func newSession(t *testing.T, bin string, w workloadSpec, run int) *session {
	root := filepath.Join("..", "..")
	crds := []string{filepath.Join(root, "config", "crd", "bases"),
		filepath.Join(root, "test", "fixtures", "genericmachinepool.yaml"), filepath.Join(root, "test", "fixtures", "genericbootstrapconfig.yaml")}
	if w.sim {
		// Cluster API's Machine CRDs (make capi-crds), not its Cluster CRD: standalone pools keep MachinePool Machines.
		for _, kind := range []string{"machines", "machinesets", "machinedeployments"} {
			crds = append(crds, filepath.Join(root, "config", "crd", "external", "cluster.x-k8s.io_"+kind+".yaml"))
		}
	}
	begin := time.Now()
	mgmt, wls := startPlanes(t, crds, w.clusters)
	mgmtRSS, wlRSS := controlPlaneRSS(mgmt), controlPlaneRSS(wls...)
	fmt.Printf("  control planes: management + %d workload, started in %.1f s; RSS %.0f MiB (management %.0f, workload %.0f each)\n",
		len(wls), time.Since(begin).Seconds(), mgmtRSS+wlRSS, mgmtRSS, wlRSS/float64(len(wls)))

	s := &session{t: t, w: w, run: run, mgmt: mgmt, wls: wls, planes: append([]*plane{mgmt}, wls...)}
	s.profileDir, s.profileSeconds = os.Getenv("BENCH_PROFILE_DIR"), os.Getenv("BENCH_PROFILE_SECONDS")
	if s.profileSeconds == "" {
		s.profileSeconds = "10"
	}
	ctx := context.Background()
	s.cpuAtStart, s.started = controlPlaneCPU(s.planes...), time.Now()
	s.mgr = startManager(t, bin, mgmt, w.sim)
	ready, cancelReady := context.WithTimeout(ctx, time.Minute)
	defer cancelReady()
	if err := support.ConversionReady(ready, mgmt.cfg); err != nil {
		t.Fatal(err)
	}
	s.ready = time.Now()
	if os.Getenv("BENCH_SERVE_V1BETA1") == "false" {
		stopServingV1beta1(ctx, t, mgmt.c)
	}
	s.h = &scenarioHarness{t: t, mgmt: mgmt, wls: wls, pools: w.pools, sim: w.sim, v1beta1: os.Getenv("BENCH_POOL_VERSION") == "v1beta1"}
	s.h.setup(ctx)
	return s
}

// startFigures is the "start" row: the manager with no pools (only the conversion check's paused probe pool
// came and went) and its caches synced: its memory floor, and what its start asked of the API servers. Seconds
// is the time from its start to its first answered conversion.
func (s *session) startFigures() result {
	s.h.settle()
	r := s.result("start", 0, 0)
	r.Seconds = s.ready.Sub(s.started).Seconds()
	r.CPUSeconds = s.mgr.cpuSeconds()
	r.ControlPlaneCPUSeconds = controlPlaneCPU(s.planes...) - s.cpuAtStart
	r.PeakRSSMiB = s.mgr.peakRSSMiB()
	s.finish(&r, sample{}, s.started, nil)
	return r
}

// scenario changes the given pools to target replicas (none: stays idle for BENCH_IDLE) and measures until
// convergence.
func (s *session) scenario(ctx context.Context, name string, target int, pools []int) result {
	h := s.h
	h.settle()
	m0 := scrape(s.mgr.metricsAddr)
	s.mgr.resetPeak()
	cpu0 := s.mgr.cpuSeconds()
	cp0 := controlPlaneCPU(s.planes...)
	self0 := cpuSecondsOf(os.Getpid())
	nodes0 := h.nodes()
	profiled := s.profile(name)
	start := time.Now()
	h.apply(ctx, name, target, pools)
	applied := time.Now()
	if pools == nil {
		time.Sleep(idle)
	} else {
		h.waitConverged(ctx)
	}
	end := time.Now()
	r := s.result(name, len(pools), target)
	r.Seconds, r.HarnessSeconds = end.Sub(start).Seconds(), applied.Sub(start).Seconds()
	r.CPUSeconds = s.mgr.cpuSeconds() - cpu0
	r.ControlPlaneCPUSeconds = controlPlaneCPU(s.planes...) - cp0
	r.HarnessCPUSeconds = cpuSecondsOf(os.Getpid()) - self0
	r.PeakRSSMiB = s.mgr.peakRSSMiB()
	r.NodesChanged = abs(r.Nodes - nodes0)
	h.settle() // late reconciles count too
	s.finish(&r, m0, start, profiled)
	return r
}

// result is a scenario's figures that need no measurement window.
func (s *session) result(name string, pools, target int) result {
	return result{Workload: s.w.name, Scenario: name, Run: s.run, Pools: pools, Replicas: target, Clusters: len(s.wls), Nodes: s.h.nodes(),
		ManagerEnv: os.Getenv("BENCH_MANAGER_ENV"), Machine: machine()}
}

// finish adds what is read once the scenario has settled: the manager's metrics since m0, its memory, and the
// requests in the audit logs since start.
func (s *session) finish(r *result, m0 sample, start time.Time, profiled []<-chan struct{}) {
	settled := time.Now()
	r.RSSMiB, r.RSSAnonMiB = s.mgr.rssMiB()
	r.ControlPlaneRSSMiB = controlPlaneRSS(s.planes...)
	hosts := make([]string, len(s.wls))
	for c, wl := range s.wls {
		hosts[c] = wl.host
	}
	s.mgr.collectGarbage(s.t)
	r.Manager = managerFigures(m0, scrape(s.mgr.metricsAddr), s.mgmt.host, hosts)
	for _, p := range profiled {
		<-p
	}
	if s.mgmt.auditLog != "" {
		time.Sleep(auditFlush)
		r.ManagementRequests, r.ManagementByResource = s.mgmt.requests(s.t, start, settled)
		r.WorkloadRequests, r.WorkloadByResource = map[string]int{}, map[string]int{}
		for c, wl := range s.wls {
			byVerb, byResource := wl.requests(s.t, start, settled)
			addCounts(r.WorkloadRequests, byVerb)
			addCounts(r.WorkloadByResource, byResource)
			if len(s.wls) > 1 {
				if r.WorkloadRequestsByCluster == nil {
					r.WorkloadRequestsByCluster = map[string]map[string]int{}
				}
				r.WorkloadRequestsByCluster[s.h.clusterName(c)] = byVerb
			}
		}
	}
	derive(r)
}

// profile starts CPU profiles of the manager and every API server when BENCH_PROFILE_DIR asks for them.
func (s *session) profile(scenario string) []<-chan struct{} {
	if s.profileDir == "" {
		return nil
	}
	prefix := filepath.Join(s.profileDir, strings.NewReplacer(":", "-", "/", "-").Replace(s.w.name)+"-"+scenario)
	if s.run > 1 {
		prefix += fmt.Sprintf("-run%d", s.run)
	}
	profiled := []<-chan struct{}{profile(s.t, http.DefaultClient, "http://"+s.mgr.pprofAddr, s.profileSeconds, prefix+".pprof"),
		profile(s.t, s.mgmt.http, s.mgmt.cfg.Host, s.profileSeconds, prefix+"-management-apiserver.pprof")}
	for c, wl := range s.wls {
		name := "-workload-apiserver.pprof"
		if len(s.wls) > 1 {
			name = fmt.Sprintf("-workload-%d-apiserver.pprof", c)
		}
		profiled = append(profiled, profile(s.t, wl.http, wl.cfg.Host, s.profileSeconds, prefix+name))
	}
	return profiled
}

func addCounts(to, from map[string]int) {
	for k, v := range from {
		to[k] += v
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
