// Command quickstart runs the whole MachinePool loop on this machine: a management and a workload control plane
// (kube-apiserver + etcd from the envtest cache), our CRDs, the manager binary, and the Cluster-less sample;
// then it scales the pool 3 -> 5 -> 2 with kubectl and shows what a user would see. `make quickstart` runs it;
// KEEP=1 leaves everything running until Ctrl-C.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/machinepool-operator/machinepool-operator/test/support"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "\nquickstart failed: %v\n", err)
		os.Exit(1)
	}
}

type quickstart struct {
	dir            string
	kubectl        string
	mgmt, workload string // kubeconfig paths
	managerLog     string
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

func run() error {
	managerBin := os.Getenv("MANAGER_BIN")
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if managerBin == "" || assets == "" {
		return errors.New("run me through `make quickstart` (it sets MANAGER_BIN and KUBEBUILDER_ASSETS)")
	}
	dir, err := os.MkdirTemp("", "machinepool-quickstart-")
	if err != nil {
		return err
	}
	q := &quickstart{dir: dir, kubectl: filepath.Join(assets, "kubectl"), managerLog: filepath.Join(dir, "manager.log")}
	start := time.Now()

	step("starting a management and a workload control plane (kube-apiserver + etcd, data in %s)", dir)
	mgmtEnv := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	if _, err := mgmtEnv.Start(); err != nil {
		return fmt.Errorf("starting the management control plane: %w", err)
	}
	defer func() { _ = mgmtEnv.Stop() }()
	workloadEnv := &envtest.Environment{}
	if _, err := workloadEnv.Start(); err != nil {
		return fmt.Errorf("starting the workload control plane: %w", err)
	}
	defer func() { _ = workloadEnv.Stop() }()
	if q.mgmt, err = writeKubeconfig(mgmtEnv, filepath.Join(dir, "management.kubeconfig")); err != nil {
		return err
	}
	if q.workload, err = writeKubeconfig(workloadEnv, filepath.Join(dir, "workload.kubeconfig")); err != nil {
		return err
	}
	// The MachinePool CRD stores v1beta2 and converts v1beta1 through the manager's webhook: point it at the
	// manager, on envtest's local webhook address with its certificate, as an install points it at the Service.
	webhookArgs, err := support.ConversionArgs(mgmtEnv)
	if err != nil {
		return err
	}
	fmt.Println("    our CRDs are installed in the management cluster; MachinePool conversion goes to the manager")

	step("running the manager (controllers machinepool and simmachinepool, MachinePool gate on); log: %s", q.managerLog)
	logFile, err := os.Create(q.managerLog)
	if err != nil {
		return err
	}
	defer logFile.Close()
	manager := exec.CommandContext(context.Background(), managerBin, append([]string{"--kubeconfig=" + q.mgmt, "--metrics-bind-address=0",
		"--health-probe-bind-address=0", "--sim-heartbeat-interval=10s"}, webhookArgs...)...)
	manager.Stdout, manager.Stderr = logFile, logFile
	if err := manager.Start(); err != nil {
		return fmt.Errorf("starting the manager: %w", err)
	}
	defer func() {
		_ = manager.Process.Signal(syscall.SIGTERM)
		_ = manager.Wait()
	}()

	ready, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := support.ConversionReady(ready, mgmtEnv.Config); err != nil {
		return fmt.Errorf("%w (manager log: %s)", err, q.managerLog)
	}

	step("applying config/samples/cluster-less.yaml (MachinePool + SimMachinePool + bootstrap and kubeconfig Secrets)")
	if err := q.applySample(); err != nil {
		return err
	}
	for _, replicas := range []int{3, 5, 2} {
		if replicas != 3 {
			step("kubectl scale mp/workers --replicas=%d", replicas)
			if _, err := q.mgmtctl("scale", "mp/workers", fmt.Sprintf("--replicas=%d", replicas)); err != nil {
				return err
			}
		}
		if err := q.waitRunning(replicas); err != nil {
			return fmt.Errorf("%w (manager log: %s)", err, q.managerLog)
		}
	}

	step("final state (%s)", time.Since(start).Round(time.Second))
	q.show()
	if os.Getenv("KEEP") == "" {
		fmt.Println("\nquickstart passed: the pool went to Running and scaled 3 -> 5 -> 2; cleaning up.")
		defer os.RemoveAll(dir) // after the deferred stops; a failed run keeps its logs
		return nil
	}
	fmt.Printf(`
Everything keeps running until Ctrl-C. Explore with:
  export KUBECONFIG=%s   # management cluster
  %s get mp,simmachinepool -o wide
  %s scale mp/workers --replicas=4
  %s --kubeconfig=%s get nodes   # workload cluster
Manager log: %s
`, q.mgmt, q.kubectl, q.kubectl, q.kubectl, q.workload, q.managerLog)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	return nil
}

func writeKubeconfig(env *envtest.Environment, path string) (string, error) {
	admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", err
	}
	raw, err := admin.KubeConfig()
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, raw, 0o600)
}

func (q *quickstart) ctl(kubeconfig string, args ...string) (string, error) {
	cmd := exec.CommandContext(context.Background(), q.kubectl, append([]string{"--kubeconfig=" + kubeconfig}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

func (q *quickstart) mgmtctl(args ...string) (string, error) { return q.ctl(q.mgmt, args...) }

// applySample applies the Cluster-less sample with the workload kubeconfig in its kubeconfig Secret.
func (q *quickstart) applySample() error {
	raw, err := os.ReadFile(filepath.Join("config", "samples", "cluster-less.yaml"))
	if err != nil {
		return err
	}
	kubeconfig, err := os.ReadFile(q.workload)
	if err != nil {
		return err
	}
	quoted, err := json.Marshal(string(kubeconfig))
	if err != nil {
		return err
	}
	manifest := filepath.Join(q.dir, "cluster-less.yaml")
	if err := os.WriteFile(manifest, []byte(strings.ReplaceAll(string(raw), "REPLACE-WITH-THE-WORKLOAD-CLUSTER-KUBECONFIG", string(quoted))), 0o600); err != nil {
		return err
	}
	out, err := q.mgmtctl("apply", "-f", manifest)
	fmt.Print(indent(out))
	return err
}

// waitRunning shows the pool and Nodes whenever they change until the pool is Running with replicas Ready Nodes.
func (q *quickstart) waitRunning(replicas int) error {
	deadline := time.Now().Add(2 * time.Minute)
	last := ""
	for time.Now().Before(deadline) {
		state, err := q.mgmtctl("get", "mp/workers", "-o", "jsonpath={.status.phase} {.status.readyReplicas} {.status.replicas}")
		if err != nil {
			return err
		}
		if state != last {
			q.show()
			last = state
		}
		if state == fmt.Sprintf("Running %d %d", replicas, replicas) {
			return nil
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("the pool did not reach Running with %d Ready Nodes within 2 minutes", replicas)
}

func (q *quickstart) show() {
	pools, err := q.mgmtctl("get", "mp,simmachinepool")
	if err != nil {
		pools = err.Error()
	}
	nodes, err := q.ctl(q.workload, "get", "nodes", "-o", "custom-columns=NODE:.metadata.name,PROVIDER-ID:.spec.providerID,READY:.status.conditions[?(@.type==\"Ready\")].status,POOL:.metadata.annotations.cluster\\.x-k8s\\.io/owner-name")
	if err != nil {
		nodes = err.Error()
	}
	fmt.Printf("--- %s\n%s%s", time.Now().Format("15:04:05"), indent(pools), indent("workload cluster:\n"+nodes))
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return "    " + strings.Join(lines, "\n    ") + "\n"
}
