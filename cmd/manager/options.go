package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"
	logsv1 "k8s.io/component-base/logs/api/v1"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/machinepool-operator/machinepool-operator/internal/feature"
)

// options are the manager's command-line flags.
type options struct {
	metricsAddr         string
	probeAddr           string
	pprofAddr           string
	leaderElect         bool
	leaderElectionNS    string
	leaseDuration       time.Duration
	renewDeadline       time.Duration
	retryPeriod         time.Duration
	namespace           string
	watchFilter         string
	controllers         []string
	webhookPort         int
	webhookCertDir      string
	tlsMinVersion       string
	poolConcurrency     int
	syncPeriod          time.Duration
	kubeAPIQPS          float32
	kubeAPIBurst        int
	workloadClientQPS   float32
	workloadClientBurst int
	simHeartbeat        time.Duration
	logs                *logsv1.LoggingConfiguration
}

// newFlagSet binds the manager's flags to o. The Go flag set contributes --kubeconfig.
func newFlagSet(o *options) *pflag.FlagSet {
	fs := pflag.NewFlagSet("manager", pflag.ContinueOnError)
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080",
		"Address the metrics endpoint binds to (host:port); \"0\" turns it off.")
	fs.StringVar(&o.pprofAddr, "pprof-bind-address", "",
		"Address Go's pprof endpoints (/debug/pprof/) bind to (host:port), for profiling; empty turns them off.")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081",
		"Address the /healthz and /readyz endpoints bind to (host:port).")
	fs.BoolVar(&o.leaderElect, "leader-elect", false,
		"Elect a leader so that only one replica of the manager reconciles at a time.")
	fs.StringVar(&o.leaderElectionNS, "leader-elect-namespace", "",
		"Namespace of the leader-election Lease; empty means the namespace the manager runs in.")
	fs.DurationVar(&o.leaseDuration, "leader-elect-lease-duration", 15*time.Second,
		"How long non-leaders wait before they try to take over leadership.")
	fs.DurationVar(&o.renewDeadline, "leader-elect-renew-deadline", 10*time.Second,
		"How long the leader keeps retrying to renew its lease before it gives up leadership.")
	fs.DurationVar(&o.retryPeriod, "leader-elect-retry-period", 2*time.Second,
		"How long clients wait between attempts to take or renew leadership.")
	fs.StringVar(&o.namespace, "namespace", "",
		"Only watch and reconcile objects in this namespace; empty means every namespace.")
	fs.StringVar(&o.watchFilter, "watch-filter", "",
		"Only reconcile objects labelled "+watchFilterLabel+"=<value>; empty reconciles every object.")
	fs.StringSliceVar(&o.controllers, "controllers", knownControllers,
		"Controllers to run, comma-separated: "+strings.Join(knownControllers, ", ")+
			". Where Cluster API's core provider reconciles MachinePools, run only simmachinepool.")
	fs.IntVar(&o.webhookPort, "webhook-port", 9443,
		"Port the admission webhook server listens on; 0 turns the webhook server off (for out-of-cluster runs).")
	fs.StringVar(&o.webhookCertDir, "webhook-cert-dir", "/tmp/k8s-webhook-server/serving-certs",
		"Directory holding tls.crt and tls.key for the webhook server.")
	fs.StringVar(&o.tlsMinVersion, "tls-min-version", "VersionTLS12",
		"Minimum TLS version of the webhook server: VersionTLS12 or VersionTLS13.")
	fs.IntVar(&o.poolConcurrency, "machinepool-concurrency", 10,
		"Number of MachinePools reconciled at once.")
	fs.DurationVar(&o.syncPeriod, "sync-period", 10*time.Minute,
		"How often every watched object is reconciled again even without a change.")
	fs.Float32Var(&o.kubeAPIQPS, "kube-api-qps", 200,
		"Queries per second the manager may send to the management cluster's API server.")
	fs.IntVar(&o.kubeAPIBurst, "kube-api-burst", 400,
		"Burst of queries the manager may send to the management cluster's API server.")
	fs.Float32Var(&o.workloadClientQPS, "workload-client-qps", 500,
		"Queries per second the manager may send to each workload cluster's API server.")
	fs.IntVar(&o.workloadClientBurst, "workload-client-burst", 1000,
		"Burst of queries the manager may send to each workload cluster's API server.")
	fs.DurationVar(&o.simHeartbeat, "sim-heartbeat-interval", 40*time.Second,
		"How often a simulated instance refreshes its Node's Ready condition; longer keeps large simulated pools cheap, 0 turns heartbeats off (status written on registration and on changes only).")
	feature.MutableGates.AddFlag(fs)

	o.logs = logsv1.NewLoggingConfiguration()
	logsv1.AddFlags(o.logs, fs)

	goFlags := flag.NewFlagSet("", flag.ContinueOnError)
	ctrlconfig.RegisterFlags(goFlags)
	fs.AddGoFlagSet(goFlags)
	return fs
}

// validate checks the flags' values together.
func (o *options) validate() error {
	var problems []string
	for _, c := range o.controllers {
		if !slices.Contains(knownControllers, c) {
			problems = append(problems, fmt.Sprintf("--controllers: unknown controller %q; known: %s", c, strings.Join(knownControllers, ", ")))
		}
	}
	if o.webhookPort < 0 || o.webhookPort > 65535 {
		problems = append(problems, fmt.Sprintf("--webhook-port: %d is not a port; use 1-65535, or 0 to turn the webhook server off", o.webhookPort))
	}
	if _, err := tlsVersion(o.tlsMinVersion); err != nil {
		problems = append(problems, err.Error())
	}
	if o.watchFilter != "" {
		if _, err := labels.Parse(watchFilterLabel + "=" + o.watchFilter); err != nil {
			problems = append(problems, fmt.Sprintf("--watch-filter: %q is not a valid label value: %v", o.watchFilter, err))
		}
	}
	for _, p := range []struct {
		name  string
		value float64
	}{
		{"--machinepool-concurrency", float64(o.poolConcurrency)},
		{"--kube-api-qps", float64(o.kubeAPIQPS)},
		{"--kube-api-burst", float64(o.kubeAPIBurst)},
		{"--workload-client-qps", float64(o.workloadClientQPS)},
		{"--workload-client-burst", float64(o.workloadClientBurst)},
	} {
		if p.value <= 0 {
			problems = append(problems, fmt.Sprintf("%s must be positive, not %v", p.name, p.value))
		}
	}
	if o.simHeartbeat != 0 && o.simHeartbeat < time.Second {
		problems = append(problems, fmt.Sprintf("--sim-heartbeat-interval must be 0 (off) or at least 1s, not %s", o.simHeartbeat))
	}
	if o.syncPeriod <= 0 {
		problems = append(problems, fmt.Sprintf("--sync-period must be positive, not %s", o.syncPeriod))
	}
	if o.leaderElect && o.leaderElectionNS == "" && !inCluster() {
		problems = append(problems, "--leader-elect-namespace is required with --leader-elect outside a cluster (in a Pod it defaults to the Pod's namespace)")
	}
	if o.leaderElect && o.renewDeadline >= o.leaseDuration {
		problems = append(problems, fmt.Sprintf("--leader-elect-renew-deadline (%s) must be shorter than --leader-elect-lease-duration (%s)", o.renewDeadline, o.leaseDuration))
	}
	if len(problems) > 0 {
		return fmt.Errorf("invalid flags:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

// inCluster says whether the manager runs in a Pod, where its service account's namespace is mounted.
func inCluster() bool {
	_, err := os.Stat("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
	return err == nil
}

// tlsVersion maps --tls-min-version to a crypto/tls constant.
func tlsVersion(name string) (uint16, error) {
	switch name {
	case "VersionTLS12":
		return tls.VersionTLS12, nil
	case "VersionTLS13":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("--tls-min-version: %q is not supported; use VersionTLS12 or VersionTLS13", name)
}

// simHeartbeatInterval is the simulated kubelets' heartbeat as simprovider.Options takes it: negative for none.
func (o *options) simHeartbeatInterval() time.Duration {
	if o.simHeartbeat == 0 {
		return -1
	}
	return o.simHeartbeat
}
