//go:build bench

package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	"github.com/machinepool-operator/machinepool-operator/internal/conversion"
	"github.com/machinepool-operator/machinepool-operator/test/support"
)

// TestScenarios is the benchmark harness of `make bench`: both control planes with audit logs, the manager
// binary as its own process (--controllers=machinepool: the figures measure the core controller), and the
// harness playing the infrastructure provider, the bootstrap provider and the kubelets with the generic
// fixture kinds. A workload written sim:POOLSxREPLICAS runs every controller instead, on SimMachinePools with
// MachinePool Machines (Cluster API's Machine CRD installed), the simulated cloud launching instances and
// registering Nodes: what a standalone install costs. BENCH_MANAGER_BIN runs a prebuilt manager binary (to
// compare two builds); BENCH_MANAGER_ARGS adds manager flags; BENCH_PROFILE_DIR (and BENCH_PROFILE_SECONDS, default 10)
// writes a CPU profile of the manager per scenario; BENCH_AUDIT=off runs the API servers without audit logs (no
// request counts) to show what logging costs; BENCH_POOL_VERSION=v1beta1 writes and polls the pools in
// v1beta1, through the manager's conversion webhook (default v1beta2, the stored version);
// BENCH_SERVE_V1BETA1=false stops the CRD serving v1beta1 (no conversions at all). For each workload (pools x replicas, BENCH_WORKLOADS,
// default 50x10,200x10,5x200) it runs create, scale up by R/2, scale down by R/2, one pool scaled up by R/2
// (one-pool) and 10 s without any change (idle), and reports seconds to convergence, manager CPU seconds, peak
// RSS, the manager's API requests by cluster and verb and where its time went, as a table and as JSON lines
// (BENCH_OUT).
func TestScenarios(t *testing.T) {
	ctrllog.SetLogger(logr.Discard()) // the harness's clients; the manager logs to its own file
	workloads := os.Getenv("BENCH_WORKLOADS")
	if workloads == "" {
		workloads = "50x10,200x10,5x200"
	}
	out := os.Getenv("BENCH_OUT")
	if out == "" {
		out = filepath.Join(t.TempDir(), "bench.jsonl")
	}
	results, err := os.Create(out) //nolint:gosec // the path the user asked for
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = results.Close() }()
	fmt.Printf("\n%-8s %-11s %8s %8s %8s %8s %8s %8s %13s  %-40s %s\n", "workload", "scenario", "seconds", "harness", "cpu s", "cp cpu s", "h cpu s", "rss MiB", "convert n/s", "management requests", "workload requests")
	for _, w := range strings.Split(workloads, ",") {
		var pools, replicas int
		size, sim := strings.CutPrefix(w, "sim:")
		if _, err := fmt.Sscanf(size, "%dx%d", &pools, &replicas); err != nil {
			t.Fatalf("BENCH_WORKLOADS: %q is not POOLSxREPLICAS or sim:POOLSxREPLICAS", w)
		}
		// A subtest per workload: its control planes and manager stop before the next workload starts.
		t.Run(strings.ReplaceAll(w, ":", "-"), func(t *testing.T) {
			for _, r := range runWorkload(t, pools, replicas, sim) {
				raw, _ := json.Marshal(r)
				_, _ = results.Write(append(raw, '\n'))
				fmt.Printf("%-8s %-11s %8.2f %8.2f %8.2f %8.2f %8.2f %8.0f %13s  %-40s %s\n", r.Workload, r.Scenario, r.Seconds, r.HarnessSeconds, r.CPUSeconds, r.ControlPlaneCPUSeconds, r.HarnessCPUSeconds, r.PeakRSSMiB,
					fmt.Sprintf("%.0f/%.2f", r.Manager.ConversionRequests, r.Manager.ConversionSeconds), formatCounts(r.ManagementRequests), formatCounts(r.WorkloadRequests))
			}
		})
	}
	fmt.Printf("\nresults: %s\n", out)
}

// result is one scenario's figures.
type result struct {
	Workload string  `json:"workload"`
	Scenario string  `json:"scenario"`
	Pools    int     `json:"pools"`
	Replicas int     `json:"replicas"`
	Seconds  float64 `json:"seconds"`
	// HarnessSeconds is how long the harness itself took to write the change and play the providers and
	// kubelets: a floor under Seconds on this machine.
	HarnessSeconds float64 `json:"harnessSeconds"`
	CPUSeconds     float64 `json:"cpuSeconds"`
	// ControlPlaneCPUSeconds is the CPU time both kube-apiservers and etcds used in the scenario: the machine's
	// other big consumer.
	ControlPlaneCPUSeconds float64 `json:"controlPlaneCPUSeconds"`
	// HarnessCPUSeconds is the CPU time of the harness process (providers, kubelets, convergence polling).
	HarnessCPUSeconds  float64        `json:"harnessCPUSeconds"`
	PeakRSSMiB         float64        `json:"peakRSSMiB"`
	ManagementRequests map[string]int `json:"managementRequests"`
	WorkloadRequests   map[string]int `json:"workloadRequests"`
	// ManagementByResource and WorkloadByResource count the same requests by "verb resource[/subresource]".
	ManagementByResource map[string]int `json:"managementByResource"`
	WorkloadByResource   map[string]int `json:"workloadByResource"`
	// Manager is where the manager's time went, from its own metrics, over the same window as the requests.
	Manager managerMetrics `json:"manager"`
	Machine string         `json:"machine"`
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

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

const managerUser = "mpo-manager"

// plane is one control plane with an audit log, the harness's client and a kubeconfig for the manager's user.
type plane struct {
	// pids are the plane's kube-apiserver and etcd processes.
	pids       []int
	env        *envtest.Environment
	c          client.Client
	auditLog   string
	managerCfg []byte
	// host is the API server's host:port, as the manager's client metrics label it.
	host string
	// cfg and http reach the API server as the harness's admin user (its profiles).
	cfg  *rest.Config
	http *http.Client
}

func startPlane(t *testing.T, crds []string) *plane {
	dir := t.TempDir()
	policy := filepath.Join(dir, "audit-policy.yaml")
	// Only the manager's requests are logged: the harness's own would double the log's cost to the API server.
	auditPolicy := "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n  users: [" + managerUser + "]\n- level: None\n"
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &plane{}
	p.env = &envtest.Environment{CRDDirectoryPaths: crds, ErrorIfCRDPathMissing: true}
	args := p.env.ControlPlane.GetAPIServer().Configure().
		Set("profiling", "true").Set("max-requests-inflight", "2000").Set("max-mutating-requests-inflight", "1000")
	if os.Getenv("BENCH_AUDIT") != "off" {
		p.auditLog = filepath.Join(dir, "audit.log")
		args.Set("audit-log-path", p.auditLog).Set("audit-policy-file", policy).Set("audit-log-format", "json").
			Set("audit-log-mode", "batch").Set("audit-log-batch-max-wait", "1s")
	}
	cfg, err := p.env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.env.Stop() })
	p.pids = controlPlanePIDs(t, cfg.Host)
	if p.http, err = rest.HTTPClientFor(cfg); err != nil {
		t.Fatal(err)
	}
	p.cfg = cfg
	p.host = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(cfg.Host, "https://"), "http://"), "/")
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 5000, 10000
	if len(crds) == 0 {
		// The workload plane serves built-in kinds only; the harness's kubelets speak protobuf, as kubelets do.
		cfg.ContentType = runtime.ContentTypeProtobuf
	}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = corev1beta1.AddToScheme(scheme)
	_ = corev1beta2.AddToScheme(scheme)
	if p.c, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		t.Fatal(err)
	}
	user, err := p.env.AddUser(envtest.User{Name: managerUser, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.managerCfg, err = user.KubeConfig(); err != nil {
		t.Fatal(err)
	}
	return p
}

// requests counts the manager's requests in the audit log between two moments (watches when they start,
// everything else when it completes), by verb and by "verb resource[/subresource]".
func (p *plane) requests(t *testing.T, from, to time.Time) (byVerb, byResource map[string]int) {
	if p.auditLog == "" {
		return nil, nil
	}
	time.Sleep(1500 * time.Millisecond) // the batch writer's max wait
	f, err := os.Open(p.auditLog)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	byVerb, byResource = map[string]int{}, map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e struct {
			Verb  string `json:"verb"`
			Stage string `json:"stage"`
			User  struct {
				Username string `json:"username"`
			} `json:"user"`
			Received metav1.MicroTime `json:"requestReceivedTimestamp"`
			Object   struct {
				Resource    string `json:"resource"`
				Subresource string `json:"subresource"`
			} `json:"objectRef"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.User.Username != managerUser {
			continue
		}
		if e.Received.Before(&metav1.MicroTime{Time: from}) || e.Received.After(to) {
			continue
		}
		if (e.Verb == "watch") != (e.Stage == "ResponseStarted") {
			continue
		}
		byVerb[e.Verb]++
		resource := e.Object.Resource
		if e.Object.Subresource != "" {
			resource += "/" + e.Object.Subresource
		}
		byResource[e.Verb+" "+resource]++
	}
	return byVerb, byResource
}

// controlPlanePIDs finds the kube-apiserver serving host and the etcd it stores into, by their command lines.
func controlPlanePIDs(t *testing.T, host string) []int {
	host = strings.TrimSuffix(host, "/")
	port := host[strings.LastIndex(host, ":")+1:]
	cmdlines := map[int]string{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(d, "cmdline")) //nolint:gosec // /proc
		if err == nil {
			cmdlines[pid] = strings.ReplaceAll(string(raw), "\x00", " ")
		}
	}
	var pids []int
	etcdURL := ""
	for pid, cmd := range cmdlines {
		if strings.Contains(cmd, "kube-apiserver") && strings.Contains(cmd, "--secure-port="+port+" ") {
			pids = append(pids, pid)
			for _, f := range strings.Fields(cmd) {
				if v, ok := strings.CutPrefix(f, "--etcd-servers="); ok {
					etcdURL = v
				}
			}
		}
	}
	for pid, cmd := range cmdlines {
		if etcdURL != "" && strings.Contains(cmd, "etcd") && !strings.Contains(cmd, "kube-apiserver") && strings.Contains(cmd, etcdURL) {
			pids = append(pids, pid)
		}
	}
	if len(pids) != 2 {
		t.Logf("control plane at %s: found processes %v, not an apiserver and an etcd: their CPU is not reported", host, pids)
	}
	return pids
}

// stopServingV1beta1 makes the MachinePool CRD serve v1beta2 only (BENCH_SERVE_V1BETA1=false): the API server
// then keeps no v1beta1 watch cache, whose every event is a conversion review, so a run with and one without
// shows what serving v1beta1 costs.
func stopServingV1beta1(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	if os.Getenv("BENCH_POOL_VERSION") == "v1beta1" {
		t.Fatal("BENCH_SERVE_V1BETA1=false needs the harness on v1beta2 (unset BENCH_POOL_VERSION)")
	}
	crd := &unstructured.Unstructured{}
	crd.SetAPIVersion("apiextensions.k8s.io/v1")
	crd.SetKind("CustomResourceDefinition")
	if err := c.Get(ctx, client.ObjectKey{Name: support.MachinePoolCRD}, crd); err != nil {
		t.Fatal(err)
	}
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for _, v := range versions {
		if v := v.(map[string]any); v["name"] == "v1beta1" {
			v["served"] = false
		}
	}
	if err := unstructured.SetNestedSlice(crd.Object, versions, "spec", "versions"); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, crd); err != nil {
		t.Fatal(err)
	}
}

// cpuSecondsOf is the user + system CPU time of a process.
func cpuSecondsOf(pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

// managerProc is the manager process with its /proc figures.
type managerProc struct{ cmd *exec.Cmd }

func (m *managerProc) cpuSeconds() float64 { return cpuSecondsOf(m.cmd.Process.Pid) }

func (m *managerProc) resetPeak() {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", m.cmd.Process.Pid), []byte("5"), 0o600)
}

func (m *managerProc) peakRSSMiB() float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// The generic fixture kinds the harness plays the providers of.
const (
	infraAPIVersion     = "infrastructure.cluster.x-k8s.io/v1beta1"
	bootstrapAPIVersion = "bootstrap.cluster.x-k8s.io/v1beta1"
)

func runWorkload(t *testing.T, pools, replicas int, sim bool) []result {
	root := filepath.Join("..", "..")
	crds := []string{filepath.Join(root, "config", "crd", "bases"),
		filepath.Join(root, "test", "fixtures", "genericmachinepool.yaml"), filepath.Join(root, "test", "fixtures", "genericbootstrapconfig.yaml")}
	if sim {
		// Cluster API's Machine CRDs (make capi-crds), not its Cluster CRD: standalone pools keep MachinePool Machines.
		for _, kind := range []string{"machines", "machinesets", "machinedeployments"} {
			crds = append(crds, filepath.Join(root, "config", "crd", "external", "cluster.x-k8s.io_"+kind+".yaml"))
		}
	}
	mgmt := startPlane(t, crds)
	wl := startPlane(t, nil)
	ctx := context.Background()

	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "manager.kubeconfig")
	if err := os.WriteFile(kubeconfig, mgmt.managerCfg, 0o600); err != nil {
		t.Fatal(err)
	}
	bin := os.Getenv("BENCH_MANAGER_BIN")
	if bin == "" {
		bin = filepath.Join(dir, "manager")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/machinepool-operator/machinepool-operator/cmd/manager").CombinedOutput(); err != nil {
			t.Fatalf("building the manager: %v: %s", err, out)
		}
	}
	logFile, err := os.Create(filepath.Join(dir, "manager.log"))
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freeLocalPort(t))
	webhookArgs, err := support.ConversionArgs(mgmt.env)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--kubeconfig=" + kubeconfig,
		"--metrics-bind-address=" + metricsAddr, "--health-probe-bind-address=0"}, webhookArgs...)
	if !sim {
		args = append(args, "--controllers=machinepool")
	}
	args = append(args, strings.Fields(os.Getenv("BENCH_MANAGER_ARGS"))...) // e.g. --workload-client-qps=500
	profileDir, profileSeconds := os.Getenv("BENCH_PROFILE_DIR"), os.Getenv("BENCH_PROFILE_SECONDS")
	pprofAddr := ""
	if profileDir != "" {
		pprofAddr = fmt.Sprintf("127.0.0.1:%d", freeLocalPort(t))
		args = append(args, "--pprof-bind-address="+pprofAddr)
		if profileSeconds == "" {
			profileSeconds = "10"
		}
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	mgr := &managerProc{cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			raw, _ := os.ReadFile(logFile.Name())
			lines := strings.Split(string(raw), "\n")
			t.Logf("the manager's last log lines:\n%s", strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	})

	ready, cancelReady := context.WithTimeout(ctx, time.Minute)
	defer cancelReady()
	if err := support.ConversionReady(ready, mgmt.cfg); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("BENCH_SERVE_V1BETA1") == "false" {
		stopServingV1beta1(ctx, t, mgmt.c)
	}
	h := &scenarioHarness{t: t, mgmt: mgmt, wl: wl, pools: pools, sim: sim, v1beta1: os.Getenv("BENCH_POOL_VERSION") == "v1beta1"}
	h.setup(ctx)
	name := fmt.Sprintf("%dx%d", pools, replicas)
	if sim {
		name = "sim:" + name
	}
	var out []result
	all := make([]int, pools)
	for i := range all {
		all[i] = i
	}
	for _, sc := range []struct {
		name   string
		target int
		pools  []int
	}{
		{"create", replicas, all}, {"scale-up", replicas + replicas/2, all}, {"scale-down", replicas, all},
		// One pool of many scaled: only that pool should be reconciled.
		{"one-pool", replicas + replicas/2, all[:1]},
		// Nothing changes for idleSeconds: what the manager asks of the API servers in steady state.
		{"idle", replicas, nil},
	} {
		h.settle()
		m0 := scrape(metricsAddr)
		mgr.resetPeak()
		cpu0 := mgr.cpuSeconds()
		cp0 := controlPlaneCPU(mgmt, wl)
		self0 := cpuSecondsOf(os.Getpid())
		var profiled []<-chan struct{}
		if profileDir != "" {
			prefix := filepath.Join(profileDir, name+"-"+sc.name)
			profiled = append(profiled, profile(t, http.DefaultClient, "http://"+pprofAddr, profileSeconds, prefix+".pprof"),
				profile(t, mgmt.http, mgmt.cfg.Host, profileSeconds, prefix+"-management-apiserver.pprof"),
				profile(t, wl.http, wl.cfg.Host, profileSeconds, prefix+"-workload-apiserver.pprof"))
		}
		start := time.Now()
		h.apply(ctx, sc.name, sc.target, sc.pools)
		applied := time.Now()
		if sc.pools == nil {
			time.Sleep(idleSeconds * time.Second)
		} else {
			h.waitConverged(ctx)
		}
		end := time.Now()
		cp1 := controlPlaneCPU(mgmt, wl)
		self1 := cpuSecondsOf(os.Getpid())
		r := result{Workload: name, Scenario: sc.name, Pools: len(sc.pools), Replicas: sc.target,
			Seconds: end.Sub(start).Seconds(), HarnessSeconds: applied.Sub(start).Seconds(), CPUSeconds: mgr.cpuSeconds() - cpu0, ControlPlaneCPUSeconds: cp1 - cp0, HarnessCPUSeconds: self1 - self0, PeakRSSMiB: mgr.peakRSSMiB(), Machine: machine()}
		h.settle() // late reconciles count too
		settled := time.Now()
		r.Manager = managerFigures(m0, scrape(metricsAddr), mgmt.host, wl.host)
		for _, p := range profiled {
			<-p
		}
		r.ManagementRequests, r.ManagementByResource = mgmt.requests(t, start, settled)
		r.WorkloadRequests, r.WorkloadByResource = wl.requests(t, start, settled)
		out = append(out, r)
	}
	return out
}

// profile fetches a CPU profile over the next seconds from a pprof endpoint (base URL, with the client that may
// call it) into path; the channel closes when it is written. Without a base URL it does nothing.
func profile(t *testing.T, hc *http.Client, base, seconds, path string) <-chan struct{} {
	done := make(chan struct{})
	if base == "" {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		resp, err := hc.Get(strings.TrimSuffix(base, "/") + "/debug/pprof/profile?seconds=" + seconds) //nolint:noctx,gosec // a control plane or manager this harness started, bounded by seconds
		if err != nil {
			t.Logf("profile: %v", err)
			return
		}
		defer func() { _ = resp.Body.Close() }()
		f, err := os.Create(path) //nolint:gosec // the directory the user asked for
		if err != nil {
			t.Logf("profile: %v", err)
			return
		}
		defer func() { _ = f.Close() }()
		_, _ = io.Copy(f, resp.Body)
	}()
	return done
}

func freeLocalPort(t *testing.T) int {
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

func controlPlaneCPU(planes ...*plane) float64 {
	var sum float64
	for _, p := range planes {
		for _, pid := range p.pids {
			sum += cpuSecondsOf(pid)
		}
	}
	return sum
}

func machine() string {
	raw, _ := os.ReadFile("/proc/cpuinfo")
	cores, model := 0, ""
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "processor") {
			cores++
		}
		if strings.HasPrefix(line, "model name") && model == "" {
			model = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
		}
	}
	return fmt.Sprintf("%d cores, %s", cores, model)
}

// harness plays the providers and the kubelets.
type scenarioHarness struct {
	t         *testing.T
	mgmt, wl  *plane
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

// idleSeconds is the length of the idle scenario.
const idleSeconds = 10

const ns = "bench"

func (h *scenarioHarness) setup(ctx context.Context) {
	must(h.t, h.mgmt.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	must(h.t, h.mgmt.c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bench-kubeconfig"},
		Data: map[string][]byte{"value": h.wl.managerCfg}}))
	must(h.t, h.mgmt.c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bench-data"},
		Data: map[string][]byte{"value": []byte("#cloud-config\n")}}))
	h.instances = map[int][]string{}
	h.targets = map[int]int{}
	h.kubelets = make(chan struct{}, 32)
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
			return h.createPool(ctx, pool(ns, name, int32(target))) //nolint:gosec // a handful of replicas
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
				if err := h.wl.c.Create(ctx, node); err != nil {
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
		mp := pool(ns, name, int32(target)) //nolint:gosec // a handful of replicas
		mp.Spec.Template.Spec.Bootstrap = corev1beta1.Bootstrap{DataSecretName: ptr.To("bench-data")}
		mp.Spec.Template.Spec.InfrastructureRef.Kind = "SimMachinePool"
		return h.createPool(ctx, mp)
	})
}

// waitConverged polls until every pool shows its target, its status is current, and retired Nodes are gone.
func (h *scenarioHarness) waitConverged(ctx context.Context) {
	deadline := time.Now().Add(convergeTimeout)
	for time.Now().Before(deadline) {
		if h.converged(ctx) {
			return
		}
		time.Sleep(100 * time.Millisecond)
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
	total := 0
	for _, p := range list {
		var i int
		if _, err := fmt.Sscanf(p.name, "pool-%d", &i); err != nil {
			return false
		}
		target := h.targets[i]
		total += target
		if p.observedGeneration != p.generation || p.replicas != target || p.ready != target || p.available != target || p.nodeRefs != target {
			return false
		}
	}
	nodes := &metav1.PartialObjectMetadataList{}
	nodes.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NodeList"))
	if err := h.wl.c.List(ctx, nodes); err != nil || len(nodes.Items) != total {
		return false
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
