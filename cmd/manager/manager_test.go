package main_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/machinepool-operator/machinepool-operator/test/support"
)

func freePort() int {
	GinkgoHelper()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startManager runs the manager binary with the given extra flags and stops it when the spec ends.
func startManager(args ...string) (*gexec.Session, string) {
	GinkgoHelper()
	probe := fmt.Sprintf("127.0.0.1:%d", freePort())
	args = append([]string{
		"--kubeconfig=" + kubeconfig, "--metrics-bind-address=0", "--health-probe-bind-address=" + probe,
	}, append(slices.Clone(webhookArgs), args...)...)
	session, err := gexec.Start(exec.CommandContext(context.Background(), managerBin, args...), GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { session.Terminate().Wait(10 * time.Second) })
	support.WaitForConversion(testEnv.Config)
	return session, "http://" + probe
}

func statusOf(url string) int {
	resp, err := http.Get(url) //nolint:gosec,noctx // local test endpoint
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	return resp.StatusCode
}

var _ = Describe("the manager binary", func() {
	It("serves /healthz and /readyz, with the MachinePool gate on by default", func() {
		session, probe := startManager()
		Eventually(func() int { return statusOf(probe + "/readyz") }).WithTimeout(30 * time.Second).Should(Equal(http.StatusOK))
		Expect(statusOf(probe + "/healthz")).To(Equal(http.StatusOK))
		Eventually(session.Err).Should(gbytes.Say(`starting manager.*machinePoolGate=true`))
		Consistently(session).WithTimeout(2 * time.Second).ShouldNot(gexec.Exit())
	})

	It("runs no controller with the MachinePool gate off and says how to turn it on", func() {
		session, probe := startManager("--feature-gates=MachinePool=false")
		Eventually(session.Err).WithTimeout(30 * time.Second).Should(gbytes.Say(`no controller runs.*--feature-gates=MachinePool=true`))
		Eventually(func() int { return statusOf(probe + "/healthz") }).WithTimeout(30 * time.Second).Should(Equal(http.StatusOK))
	})

	It("stops cleanly on SIGTERM", func() {
		session, probe := startManager()
		Eventually(func() int { return statusOf(probe + "/readyz") }).WithTimeout(30 * time.Second).Should(Equal(http.StatusOK))
		session.Terminate()
		Eventually(session).WithTimeout(30 * time.Second).Should(gexec.Exit(0))
	})

	It("runs shards side by side, each electing a leader on its own Lease, and hands the Lease back on SIGTERM", func() {
		holder := func(name string) func() string {
			return func() string {
				lease := &coordinationv1.Lease{}
				if err := k8s.Get(ctx, client.ObjectKey{Namespace: "default", Name: name}, lease); err != nil || lease.Spec.HolderIdentity == nil {
					return ""
				}
				return *lease.Spec.HolderIdentity
			}
		}
		startManager("--leader-elect", "--leader-elect-namespace=default", "--watch-filter=a")
		b, _ := startManager("--leader-elect", "--leader-elect-namespace=default", "--watch-filter=b", "--webhook-port=0")
		Eventually(holder("machinepool-operator-a.cluster.x-k8s.io")).WithTimeout(30 * time.Second).ShouldNot(BeEmpty())
		Eventually(holder("machinepool-operator-b.cluster.x-k8s.io")).WithTimeout(30*time.Second).ShouldNot(BeEmpty(), "shard b is not blocked by shard a")
		Eventually(b.Err).Should(gbytes.Say(`Successfully acquired lease.*default/machinepool-operator-b\.cluster\.x-k8s\.io`))

		b.Terminate()
		Eventually(b).WithTimeout(30 * time.Second).Should(gexec.Exit(0))
		Expect(holder("machinepool-operator-b.cluster.x-k8s.io")()).To(BeEmpty(), "the Lease is released at once, not left to expire")
		Expect(holder("machinepool-operator-a.cluster.x-k8s.io")()).NotTo(BeEmpty())
	})

	DescribeTable("refuses bad flags with exit code 2 and a message naming the flag",
		func(flag, message string) {
			session, err := gexec.Start(exec.CommandContext(context.Background(), managerBin, "--kubeconfig="+kubeconfig, flag), GinkgoWriter, GinkgoWriter)
			Expect(err).NotTo(HaveOccurred())
			Eventually(session).WithTimeout(30 * time.Second).Should(gexec.Exit(2))
			Expect(string(session.Err.Contents())).To(ContainSubstring(message))
		},
		Entry("unknown controller", "--controllers=machinepool,nodes", `--controllers: unknown controller "nodes"; known: machinepool, machinepoolmachine, machinehealthcheck, simmachinepool`),
		Entry("webhook port out of range", "--webhook-port=70000", "--webhook-port: 70000 is not a port"),
		Entry("unsupported TLS version", "--tls-min-version=VersionTLS10", "use VersionTLS12 or VersionTLS13"),
		Entry("zero concurrency", "--machinepool-concurrency=0", "--machinepool-concurrency must be positive"),
		Entry("sub-second heartbeat", "--sim-heartbeat-interval=500ms", "--sim-heartbeat-interval must be 0 (off) or at least 1s, not 500ms"),
		Entry("leader election without a namespace, out of cluster", "--leader-elect", "--leader-elect-namespace is required with --leader-elect outside a cluster"),
		Entry("invalid watch filter", "--watch-filter=not a label!", "--watch-filter"),
		Entry("unknown feature gate", "--feature-gates=NoSuchGate=true", "unrecognized feature gate: NoSuchGate"),
	)

	It("fails with a clear error when no API server is reachable", func() {
		session, err := gexec.Start(exec.CommandContext(context.Background(), managerBin, "--kubeconfig=/nonexistent/kubeconfig", "--webhook-port=0",
			"--metrics-bind-address=0", "--health-probe-bind-address=0"), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session).WithTimeout(30 * time.Second).Should(gexec.Exit(1))
		Expect(string(session.Err.Contents())).To(ContainSubstring("no Kubernetes API to talk to"))
	})
})
