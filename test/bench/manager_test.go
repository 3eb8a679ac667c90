//go:build bench

package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/machinepool-operator/machinepool-operator/test/support"
)

// buildManager builds the manager binary once for every workload and run, unless BENCH_MANAGER_BIN names one.
func buildManager(t *testing.T) string {
	if bin := os.Getenv("BENCH_MANAGER_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "manager")
	cmd := exec.CommandContext(context.Background(), "go", "build", "-o", bin, "github.com/machinepool-operator/machinepool-operator/cmd/manager")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the manager: %v: %s", err, out)
	}
	return bin
}

// managerProc is the manager process with its /proc figures and its endpoints.
type managerProc struct {
	cmd                    *exec.Cmd
	metricsAddr, pprofAddr string
}

// startManager runs the manager binary against the management plane, with its log in the test's directory
// (printed when the test fails): BENCH_MANAGER_ARGS adds flags, BENCH_MANAGER_ENV (space-separated NAME=value,
// e.g. GOMEMLIMIT=64MiB GOGC=50) environment variables. It stops when the test ends.
func startManager(t *testing.T, bin string, mgmt *plane, sim bool) *managerProc {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "manager.kubeconfig")
	must(t, os.WriteFile(kubeconfig, mgmt.managerCfg, 0o600))
	logFile, err := os.Create(filepath.Join(dir, "manager.log"))
	must(t, err)
	m := &managerProc{metricsAddr: fmt.Sprintf("127.0.0.1:%d", freeLocalPort(t)), pprofAddr: fmt.Sprintf("127.0.0.1:%d", freeLocalPort(t))}
	webhookArgs, err := support.ConversionArgs(mgmt.env)
	must(t, err)
	args := append([]string{"--kubeconfig=" + kubeconfig,
		"--metrics-bind-address=" + m.metricsAddr, "--pprof-bind-address=" + m.pprofAddr, "--health-probe-bind-address=0"}, webhookArgs...)
	if !sim {
		args = append(args, "--controllers=machinepool")
	}
	args = append(args, strings.Fields(os.Getenv("BENCH_MANAGER_ARGS"))...) // e.g. --workload-client-qps=500
	m.cmd = exec.CommandContext(context.Background(), bin, args...)
	m.cmd.Env = append(os.Environ(), strings.Fields(os.Getenv("BENCH_MANAGER_ENV"))...)
	m.cmd.Stdout, m.cmd.Stderr = logFile, logFile
	must(t, m.cmd.Start())
	t.Cleanup(func() {
		_ = m.cmd.Process.Signal(os.Interrupt)
		_ = m.cmd.Wait()
		if t.Failed() {
			raw, _ := os.ReadFile(logFile.Name())
			lines := strings.Split(string(raw), "\n")
			t.Logf("the manager's last log lines:\n%s", strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	})
	return m
}

func (m *managerProc) cpuSeconds() float64 { return cpuSecondsOf(m.cmd.Process.Pid) }

// resetPeak restarts the peak RSS (VmHWM) at the current RSS.
func (m *managerProc) resetPeak() {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", m.cmd.Process.Pid), []byte("5"), 0o600)
}

func (m *managerProc) peakRSSMiB() float64 { return statusMiB(m.cmd.Process.Pid, "VmHWM") }

// rssMiB is the manager's resident memory and the anonymous part of it.
func (m *managerProc) rssMiB() (rss, anon float64) {
	return statusMiB(m.cmd.Process.Pid, "VmRSS"), statusMiB(m.cmd.Process.Pid, "RssAnon")
}

// collectGarbage has the manager run a garbage collection (its heap profile endpoint's gc=1), so that the heap
// figures scraped next hold its live objects only, not whatever garbage the last cycle left.
func (m *managerProc) collectGarbage(t *testing.T) {
	resp, err := http.Get("http://" + m.pprofAddr + "/debug/pprof/heap?gc=1") //nolint:noctx,gosec // the manager this harness started
	if err != nil {
		t.Logf("forcing a garbage collection: %v", err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
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
