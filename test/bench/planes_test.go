//go:build bench

package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	"github.com/machinepool-operator/machinepool-operator/test/support"
)

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

// planeStarts bounds the control planes starting at once: an API server's start is CPU-bound, and ten at once on
// two cores overran envtest's start timeout.
const planeStarts = 4

// startPlanes starts the management plane (serving crds) and the given number of workload planes, a few at a
// time; every plane stops when the test ends.
func startPlanes(t *testing.T, crds []string, workloads int) (mgmt *plane, wls []*plane) {
	planes := make([]*plane, 1+workloads)
	errs := make([]error, len(planes))
	parallel(len(planes), planeStarts, func(i int) {
		if i == 0 {
			planes[i], errs[i] = startPlane(t, crds)
		} else {
			planes[i], errs[i] = startPlane(t, nil)
		}
	})
	must(t, errors.Join(errs...))
	return planes[0], planes[1:]
}

// startPlane starts a control plane; it may run beside other startPlane calls of the same test.
func startPlane(t *testing.T, crds []string) (*plane, error) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "audit-policy.yaml")
	// Only the manager's requests are logged: the harness's own would double the log's cost to the API server.
	auditPolicy := "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n  users: [" + managerUser + "]\n- level: None\n"
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		return nil, err
	}
	p := &plane{}
	p.env = &envtest.Environment{CRDDirectoryPaths: crds, ErrorIfCRDPathMissing: true, ControlPlaneStartTimeout: 2 * time.Minute}
	args := p.env.ControlPlane.GetAPIServer().Configure().
		Set("profiling", "true").Set("max-requests-inflight", "2000").Set("max-mutating-requests-inflight", "1000")
	if os.Getenv("BENCH_AUDIT") != "off" {
		p.auditLog = filepath.Join(dir, "audit.log")
		args.Set("audit-log-path", p.auditLog).Set("audit-policy-file", policy).Set("audit-log-format", "json").
			Set("audit-log-mode", "batch").Set("audit-log-batch-max-wait", "1s")
	}
	cfg, err := p.env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting a control plane: %w", err)
	}
	t.Cleanup(func() { _ = p.env.Stop() })
	p.pids = controlPlanePIDs(t, cfg.Host)
	if p.http, err = rest.HTTPClientFor(cfg); err != nil {
		return nil, err
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
		return nil, err
	}
	user, err := p.env.AddUser(envtest.User{Name: managerUser, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, err
	}
	if p.managerCfg, err = user.KubeConfig(); err != nil {
		return nil, err
	}
	return p, nil
}

// auditFlush is how long the API server's batch audit writer may hold an event (its max wait, plus margin).
const auditFlush = 1500 * time.Millisecond

// requests counts the manager's requests in the audit log between two moments (watches when they start,
// everything else when it completes), by verb and by "verb resource[/subresource]"; a request for no object
// (a health probe, discovery) counts under its path, e.g. "get /readyz". Wait auditFlush after `to` first.
func (p *plane) requests(t *testing.T, from, to time.Time) (byVerb, byResource map[string]int) {
	if p.auditLog == "" {
		return nil, nil
	}
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
			Verb       string `json:"verb"`
			Stage      string `json:"stage"`
			RequestURI string `json:"requestURI"`
			User       struct {
				Username string `json:"username"`
			} `json:"user"`
			Received metav1.MicroTime `json:"requestReceivedTimestamp"`
			Object   *struct {
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
		var resource string
		switch {
		case e.Object == nil:
			u, _ := url.Parse(e.RequestURI)
			resource = u.Path
		case e.Object.Subresource != "":
			resource = e.Object.Resource + "/" + e.Object.Subresource
		default:
			resource = e.Object.Resource
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

// statusMiB reads a memory figure of a process (VmRSS, VmHWM) from /proc/<pid>/status, in MiB.
func statusMiB(pid int, field string) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, field+":") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
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

// controlPlaneRSS is the resident memory of the planes' API servers and etcds, in MiB.
func controlPlaneRSS(planes ...*plane) float64 {
	var sum float64
	for _, p := range planes {
		for _, pid := range p.pids {
			sum += statusMiB(pid, "VmRSS")
		}
	}
	return sum
}
