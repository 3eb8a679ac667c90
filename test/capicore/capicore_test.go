package capicore_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
	"github.com/machinepool-operator/machinepool-operator/test/support"
)

const ns = "capi-core"

var (
	root                 = filepath.Join("..", "..")
	mgmtEnv, workloadEnv *envtest.Environment
	k8s, nodes           client.Client
	workloadRaw          []byte
	capiManager, ours    *gexec.Session
	ctx                  = context.Background()
)

func TestClusterAPICore(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(2 * time.Minute)
	SetDefaultEventuallyPollingInterval(250 * time.Millisecond)
	RunSpecs(t, "Cluster API core Suite")
}

var _ = BeforeSuite(func() {
	abs, err := filepath.Abs(root)
	Expect(err).NotTo(HaveOccurred())
	capiBin := filepath.Join(abs, "bin", "capi-manager")
	out, err := exec.CommandContext(ctx, "make", "-s", "-C", abs, capiBin).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "building Cluster API's manager: %s", out)

	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(corev1beta1.AddToScheme(scheme)).To(Succeed())
	Expect(infrav1beta1.AddToScheme(scheme)).To(Succeed())
	Expect(capi.AddToScheme(scheme)).To(Succeed())

	// Every CRD of Cluster API's core provider (its MachinePool CRD, not ours), and our infrastructure CRDs.
	crds := []string{filepath.Join(root, "config", "crd", "external", "core")}
	infraCRDs, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "infrastructure.cluster.x-k8s.io_*.yaml"))
	Expect(err).NotTo(HaveOccurred())
	mgmtEnv = &envtest.Environment{CRDDirectoryPaths: append(crds, infraCRDs...), ErrorIfCRDPathMissing: true}
	cfg, err := mgmtEnv.Start()
	Expect(err).NotTo(HaveOccurred(), "run `make capi-crds`")
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	workloadEnv = &envtest.Environment{}
	wcfg, err := workloadEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	nodes, err = client.New(wcfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	dir := GinkgoT().TempDir()
	mgmtKubeconfig := support.WriteAdminKubeconfig(mgmtEnv, filepath.Join(dir, "management.kubeconfig"))
	workloadRaw = support.AdminKubeconfig(workloadEnv)

	// Cluster API's manager always serves its webhooks; nothing calls them here (no webhook configuration is
	// installed), but the server needs a certificate to start.
	certDir := filepath.Join(dir, "certs")
	writeSelfSignedCert(certDir)
	capiManager, err = gexec.Start(exec.CommandContext(ctx, capiBin, "--kubeconfig="+mgmtKubeconfig,
		fmt.Sprintf("--webhook-port=%d", support.FreePort()), "--webhook-cert-dir="+certDir,
		"--diagnostics-address=0", "--insecure-diagnostics", "--health-addr=0",
		"--feature-gates=MachinePool=true"), GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())

	managerBin, err := gexec.Build("github.com/machinepool-operator/machinepool-operator/cmd/manager")
	Expect(err).NotTo(HaveOccurred())
	ours, err = gexec.Start(exec.CommandContext(ctx, managerBin, "--kubeconfig="+mgmtKubeconfig, "--controllers=simmachinepool",
		"--webhook-port=0", "--metrics-bind-address=0", "--health-probe-bind-address=0", "--sim-heartbeat-interval=5s"),
		GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	for _, s := range []*gexec.Session{ours, capiManager} {
		if s != nil {
			s.Terminate().Wait(15 * time.Second)
		}
	}
	gexec.CleanupBuildArtifacts()
	for _, env := range []*envtest.Environment{mgmtEnv, workloadEnv} {
		if env != nil {
			Expect(env.Stop()).To(Succeed())
		}
	}
})

func writeSelfSignedCert(dir string) {
	GinkgoHelper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	Expect(err).NotTo(HaveOccurred())
	keyDER, err := x509.MarshalECPrivateKey(key)
	Expect(err).NotTo(HaveOccurred())
	Expect(os.MkdirAll(dir, 0o700)).To(Succeed())
	Expect(os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)).To(Succeed())
	Expect(os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)).To(Succeed())
}

func pool() *corev1beta1.MachinePool {
	p := &corev1beta1.MachinePool{}
	_ = k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "workers"}, p)
	return p
}

func machines() []capi.Machine {
	list := &capi.MachineList{}
	_ = k8s.List(ctx, list, client.InNamespace(ns))
	return list.Items
}

func names[T any](items []T, name func(*T) string) []string {
	var out []string
	for i := range items {
		out = append(out, name(&items[i]))
	}
	return out
}

func machineNames() []string {
	return names(machines(), func(m *capi.Machine) string { return m.Name })
}

func infraMachineNames() []string {
	list := &infrav1beta1.SimMachinePoolMachineList{}
	_ = k8s.List(ctx, list, client.InNamespace(ns))
	return names(list.Items, func(m *infrav1beta1.SimMachinePoolMachine) string { return m.Name })
}

func nodeNames() []string {
	list := &corev1.NodeList{}
	_ = nodes.List(ctx, list)
	return names(list.Items, func(n *corev1.Node) string { return n.Name })
}

func instanceID(providerID string) string { return providerID[strings.LastIndex(providerID, "/")+1:] }

var _ = Describe("the Sim provider under Cluster API v1.7.1's core controllers", Ordered, func() {
	It("becomes a Running pool with Machines that Cluster API's Machine controller reports", func() {
		Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "demo-kubeconfig",
			Labels: map[string]string{"cluster.x-k8s.io/cluster-name": "demo"}}, Data: map[string][]byte{"value": workloadRaw}})).To(Succeed())
		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "workers-data",
			Labels: map[string]string{"cluster.x-k8s.io/cluster-name": "demo"}}, Data: map[string][]byte{"value": []byte("#cloud-config\n")}})).To(Succeed())
		Expect(k8s.Create(ctx, &infrav1beta1.SimCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "demo"},
			Spec: infrav1beta1.SimClusterSpec{KubeconfigSecretName: "demo-kubeconfig"}})).To(Succeed()) //nolint:gosec // a Secret name, not a credential
		cluster := &unstructured.Unstructured{}
		cluster.SetAPIVersion("cluster.x-k8s.io/v1beta1")
		cluster.SetKind("Cluster")
		cluster.SetNamespace(ns)
		cluster.SetName("demo")
		Expect(unstructured.SetNestedMap(cluster.Object, map[string]any{"apiVersion": infrav1beta1.GroupVersion.String(),
			"kind": "SimCluster", "name": "demo", "namespace": ns}, "spec", "infrastructureRef")).To(Succeed())
		Expect(k8s.Create(ctx, cluster)).To(Succeed())
		Expect(k8s.Create(ctx, &infrav1beta1.SimMachinePool{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "workers"},
			Spec: infrav1beta1.SimMachinePoolSpec{InstanceType: "sim.small",
				Simulation: &infrav1beta1.Simulation{BootDelay: &metav1.Duration{}}}})).To(Succeed())
		Expect(k8s.Create(ctx, &corev1beta1.MachinePool{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "workers"},
			Spec: corev1beta1.MachinePoolSpec{ClusterName: "demo", Replicas: ptr.To[int32](2),
				Template: corev1beta1.MachineTemplateSpec{Spec: corev1beta1.MachineSpec{
					ClusterName: "demo", Version: ptr.To("v1.30.0"),
					Bootstrap:         corev1beta1.Bootstrap{DataSecretName: ptr.To("workers-data")},
					InfrastructureRef: corev1.ObjectReference{APIVersion: infrav1beta1.GroupVersion.String(), Kind: "SimMachinePool", Name: "workers", Namespace: ns},
				}}},
		})).To(Succeed())

		By("Cluster API's cluster controller taking the SimCluster's readiness")
		Eventually(func() bool {
			_ = k8s.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)
			ready, _, _ := unstructured.NestedBool(cluster.Object, "status", "infrastructureReady")
			return ready
		}).Should(BeTrue())

		By("marking the control plane initialized, as the README says, where no control-plane provider runs")
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			patch := []byte(`{"status":{"conditions":[{"type":"ControlPlaneInitialized","status":"True","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}`)
			return k8s.Status().Patch(ctx, cluster, client.RawPatch("application/merge-patch+json", patch))
		})).To(Succeed())

		Eventually(func() corev1beta1.MachinePoolStatus { return pool().Status }).Should(And(
			HaveField("Phase", "Running"), HaveField("ReadyReplicas", BeEquivalentTo(2)), HaveField("NodeRefs", HaveLen(2))))
		Eventually(func() []string {
			var out []string
			for _, m := range machines() {
				if m.Status.NodeRef != nil {
					out = append(out, m.Status.Phase+"/"+m.Status.NodeRef.Name)
				}
			}
			return out
		}).Should(ConsistOf("Running/"+machineNames()[0], "Running/"+machineNames()[1]))
		Expect(machineNames()).To(ConsistOf(infraMachineNames()))
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sim-cloud-workers"}, &corev1.ConfigMap{})).To(Succeed(), "the scaling group's state")
	})

	It("removes the instance whose Machine carries delete-machine when the pool shrinks", func() {
		ids := pool().Spec.ProviderIDList
		Expect(ids).To(HaveLen(2))
		victim, keep := instanceID(ids[1]), instanceID(ids[0]) // the newest: the default policy would pick the oldest
		m := &capi.Machine{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: victim}, m)).To(Succeed())
		before := m.DeepCopy()
		if m.Annotations == nil {
			m.Annotations = map[string]string{}
		}
		m.Annotations["cluster.x-k8s.io/delete-machine"] = "yes"
		Expect(k8s.Patch(ctx, m, client.MergeFrom(before))).To(Succeed())
		p := pool()
		Expect(k8s.SubResource("scale").Patch(ctx, p, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"replicas":1}}`)))).To(Succeed())

		Eventually(machineNames).Should(ConsistOf(keep))
		Eventually(infraMachineNames).Should(ConsistOf(keep))
		Eventually(nodeNames).Should(ConsistOf(keep))
		Eventually(func() []string { return pool().Spec.ProviderIDList }).Should(HaveLen(1))
	})

	It("replaces the instance whose Machine Cluster API's MachineHealthCheck marks, as Cluster API's MachinePool controller does not", func() {
		Expect(machineNames()).To(HaveLen(1))
		victim := machineNames()[0]
		hc := &capi.MachineHealthCheck{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "workers"},
			Spec: capi.MachineHealthCheckSpec{ClusterName: "demo",
				Selector:            metav1.LabelSelector{MatchLabels: map[string]string{corev1beta1.MachinePoolNameLabel: "workers"}},
				UnhealthyConditions: []capi.UnhealthyCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Timeout: metav1.Duration{Duration: 5 * time.Minute}}},
				MaxUnhealthy:        ptr.To(intstr.FromString("100%")),
			},
		}
		Expect(k8s.Create(ctx, hc)).To(Succeed())
		Eventually(func() int32 {
			_ = k8s.Get(ctx, client.ObjectKeyFromObject(hc), hc)
			return hc.Status.CurrentHealthy
		}).Should(BeEquivalentTo(1), "Cluster API's health check judges the pool's Machine healthy")

		By("asking for remediation through the remediate-machine annotation, which Cluster API's health check turns into OwnerRemediated=False")
		m := &capi.Machine{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: victim}, m)).To(Succeed())
		before := m.DeepCopy()
		if m.Annotations == nil {
			m.Annotations = map[string]string{}
		}
		m.Annotations[capi.RemediateMachineAnnotation] = ""
		Expect(k8s.Patch(ctx, m, client.MergeFrom(before))).To(Succeed())

		By("the SimMachinePool controller deleting the Machine; Cluster API's Machine controller drains it and the instance is replaced")
		Eventually(machineNames).ShouldNot(ContainElement(victim))
		Eventually(func() []string {
			var out []string
			for _, m := range machines() {
				if m.Status.Phase == "Running" {
					out = append(out, m.Name)
				}
			}
			return out
		}).Should(And(HaveLen(1), Not(ContainElement(victim))))
		Eventually(nodeNames).ShouldNot(ContainElement(victim))
		Eventually(func() corev1beta1.MachinePoolStatus { return pool().Status }).Should(HaveField("ReadyReplicas", BeEquivalentTo(1)))
		smp := &infrav1beta1.SimMachinePool{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "workers"}, smp)).To(Succeed())
		Eventually(func() *corev1beta1.Condition {
			_ = k8s.Get(ctx, client.ObjectKeyFromObject(smp), smp)
			return conditions.Get(smp.Status.Conditions, corev1beta1.MachinesHealthyCondition)
		}).Should(And(Not(BeNil()), HaveField("Status", corev1.ConditionTrue)))
		Expect(k8s.Delete(ctx, hc)).To(Succeed())
	})

	It("deletes the pool: its Machines, SimMachinePoolMachines and instances go with it", func() {
		left := nodeNames()
		Expect(k8s.Delete(ctx, pool())).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "workers"}, &corev1beta1.MachinePool{}))
		}).Should(BeTrue())
		// The SimMachinePool waits for its SimMachinePoolMachines, not for the Machines: Cluster API's Machine
		// controller drops a Machine's finalizer just after its infra machine is gone, so that may come last.
		Expect(infraMachineNames()).To(BeEmpty())
		Eventually(machineNames).Should(BeEmpty())
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "workers"}, &infrav1beta1.SimMachinePool{}))).To(BeTrue())
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sim-cloud-workers"}, &corev1.ConfigMap{}))).To(BeTrue(),
			"the scaling group and its state are gone")
		// Cluster API v1.7.1 leaves the last Node: its Machine controller deletes Nodes only while the cluster has
		// control-plane Machines (there are none here), and its MachinePool controller deletes on pool deletion
		// only the Nodes whose provider IDs already left spec.providerIDList. Our machinepool controller deletes
		// them all.
		Consistently(nodeNames, 3*time.Second).Should(ConsistOf(left))
	})
})
