// Command manager runs machinepool-operator: the MachinePool and SimMachinePool controllers and their
// admission webhooks. It only turns flags into a controller-runtime manager; the logic lives in internal/.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"strings"

	"github.com/spf13/pflag"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	logsv1 "k8s.io/component-base/logs/api/v1"
	_ "k8s.io/component-base/logs/json/register" // --logging-format=json
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/internal/feature"
	mpmetrics "github.com/machinepool-operator/machinepool-operator/internal/metrics"
	mpwebhook "github.com/machinepool-operator/machinepool-operator/internal/webhook"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

// leaderElectionID names the Lease the manager's replicas compete for.
const leaderElectionID = "machinepool-operator.cluster.x-k8s.io"

// shard names what a manager with --watch-filter runs as: its own Lease (shards of one install must not block
// each other) and its user agent (audit logs tell the shards apart). Without a filter: the defaults.
func shard(watchFilter string) (leaseName, userAgent string) {
	if watchFilter == "" {
		return leaderElectionID, "machinepool-operator"
	}
	// A label value may hold upper case, '_' and '.', which a Lease name's segment may not; those become '-', and
	// a short hash of the value keeps two filters that differ only there apart.
	name := strings.Trim(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '-'
	}, watchFilter), "-")
	if name != watchFilter {
		h := fnv.New32a()
		_, _ = h.Write([]byte(watchFilter))
		name = fmt.Sprintf("%s-%08x", name, h.Sum32())
	}
	return "machinepool-operator-" + name + ".cluster.x-k8s.io", "machinepool-operator (watch-filter=" + watchFilter + ")"
}

func main() {
	o := &options{}
	fs := newFlagSet(o)
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := logsv1.ValidateAndApply(o.logs, feature.Gates); err != nil {
		fmt.Fprintln(os.Stderr, "invalid logging flags:", err)
		os.Exit(2)
	}
	ctrl.SetLogger(klog.Background())

	if err := run(ctrl.SetupSignalHandler(), o); err != nil {
		klog.Background().Error(err, "manager stopped")
		os.Exit(1)
	}
}

func newScheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, corev1beta1.AddToScheme, corev1beta2.AddToScheme, infrav1beta1.AddToScheme, capi.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	return scheme, nil
}

func run(ctx context.Context, o *options) error {
	log := ctrl.Log.WithName("setup")
	scheme, err := newScheme()
	if err != nil {
		return err
	}
	restConfig, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("no Kubernetes API to talk to (set --kubeconfig, or run in a cluster): %w", err)
	}
	// Request latency and client-side throttling per API server: what an operator looks at when pools are slow.
	metrics.RegisterRESTClientMetrics(metrics.MetricRequestLatency, metrics.MetricRateLimiterLatency)
	// Ours (machinepool_*), registered once, here.
	if err := mpmetrics.Register(metrics.Registry); err != nil {
		return err
	}
	restConfig.QPS = o.kubeAPIQPS
	restConfig.Burst = o.kubeAPIBurst
	leaseName, userAgent := shard(o.watchFilter)
	restConfig.UserAgent = userAgent

	minTLS, _ := tlsVersion(o.tlsMinVersion) // validated with the flags
	var webhookServer webhook.Server
	if o.webhookPort != 0 {
		webhookServer = webhook.NewServer(webhook.Options{
			Port:    o.webhookPort,
			CertDir: o.webhookCertDir,
			TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.MinVersion = minTLS }},
		})
	}
	cacheOpts := cache.Options{SyncPeriod: &o.syncPeriod}
	if o.namespace != "" {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{o.namespace: {}}
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress: o.probeAddr,
		PprofBindAddress:       o.pprofAddr,
		LeaderElection:         o.leaderElect,
		LeaderElectionID:       leaseName,
		// The manager exits right after it stops, so handing the Lease back at once is safe: the next replica
		// takes over within its retry period instead of waiting out the lease.
		LeaderElectionReleaseOnCancel: true,
		LeaderElectionNamespace:       o.leaderElectionNS,
		LeaseDuration:                 &o.leaseDuration,
		RenewDeadline:                 &o.renewDeadline,
		RetryPeriod:                   &o.retryPeriod,
		Cache:                         cacheOpts,
		// Provider objects of any kind are read as unstructured objects; serve them from the cache too.
		Client:        client.Options{Cache: &client.CacheOptions{Unstructured: true}},
		WebhookServer: webhookServer,
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}

	if webhookServer != nil {
		if err := mpwebhook.SetupWithManager(mgr, mpwebhook.Options{
			Gates:              feature.Gates,
			MachinePool:        o.enabled(machinePoolController),
			MachineHealthCheck: o.enabled(machineHealthCheckController),
			Infrastructure:     o.enabled(simMachinePoolController),
		}); err != nil {
			return fmt.Errorf("registering webhooks: %w", err)
		}
	}

	if err := setupControllers(ctx, mgr, o); err != nil {
		return err
	}

	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	readyz := healthz.Ping
	if webhookServer != nil {
		readyz = webhookServer.StartedChecker()
	}
	if err := mgr.AddReadyzCheck("ready", readyz); err != nil {
		return err
	}

	log.Info("starting manager", "controllers", o.controllers, "webhookPort", o.webhookPort,
		"machinePoolGate", feature.Gates.Enabled(feature.MachinePool))
	return mgr.Start(ctx)
}

// setupControllers registers the selected controllers; with the MachinePool gate off, none of them.
func setupControllers(ctx context.Context, mgr ctrl.Manager, o *options) error {
	log := ctrl.Log.WithName("setup")
	if !feature.Gates.Enabled(feature.MachinePool) {
		log.Info("the MachinePool feature gate is off: no controller runs, and the webhooks refuse MachinePool and SimMachinePool changes; turn it on with --feature-gates=MachinePool=true")
		return nil
	}
	// One client per workload cluster, shared by every controller: one Node watch and one health probe each.
	_, userAgent := shard(o.watchFilter)
	tracker := workload.NewTracker(mgr.GetAPIReader(), mgr.GetScheme(), workload.Options{
		QPS: o.workloadClientQPS, Burst: o.workloadClientBurst, UserAgent: userAgent,
	})
	if err := mgr.Add(tracker); err != nil {
		return err
	}
	opts := controllerOptions{
		watchFilter:     o.watchFilter,
		poolConcurrency: o.poolConcurrency,
		workload:        tracker,
		simHeartbeat:    o.simHeartbeatInterval(),
		poolController:  o.enabled(machinePoolController),
	}
	for _, name := range o.controllers {
		setup, ok := reconcilers[name]
		if !ok {
			log.Info("this build has no reconciler for the controller yet; only its webhooks are served", "controller", name)
			continue
		}
		if err := setup(ctx, mgr, opts); err != nil {
			return fmt.Errorf("setting up controller %s: %w", name, err)
		}
		log.Info("controller registered", "controller", name)
	}
	return nil
}
