//go:build autoscaler

package autoscaler_test

import (
	"context"
	"errors"
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
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
	workloadcluster "github.com/machinepool-operator/machinepool-operator/internal/workload"
	"github.com/machinepool-operator/machinepool-operator/test/support"
)

const (
	ns     = "autoscaled"
	appsNS = "apps"
)

var (
	mgmtEnv, workloadEnv *envtest.Environment
	k8s                  client.Client
	workload             *kubernetes.Clientset
	autoscalerBin        string
	mgmtKubeconfig       string
	workloadKubeconfig   string
	workloadRaw          []byte
	manager, autoscaler  *gexec.Session
	ctx, cancel          = context.WithCancel(context.Background())
)

func TestAutoscaler(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(3 * time.Minute)
	SetDefaultEventuallyPollingInterval(500 * time.Millisecond)
	RunSpecs(t, "cluster-autoscaler Suite")
}

var _ = BeforeSuite(func() {
	out, err := exec.CommandContext(ctx, filepath.Join("..", "..", "hack", "autoscaler.sh")).Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 3 {
		Skip("no cluster-autoscaler source: " + strings.TrimSpace(string(exit.Stderr)))
	}
	Expect(err).NotTo(HaveOccurred(), "building the cluster-autoscaler")
	autoscalerBin = strings.TrimSpace(string(out))

	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(corev1beta1.AddToScheme(scheme)).To(Succeed())
	Expect(infrav1beta1.AddToScheme(scheme)).To(Succeed())
	Expect(capi.AddToScheme(scheme)).To(Succeed())
	external := filepath.Join("..", "..", "config", "crd", "external")
	// Standalone: our CRDs and Cluster API's Machine CRDs (as the chart installs them), no Cluster CRD.
	mgmtEnv = &envtest.Environment{
		CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases"),
			filepath.Join(external, "cluster.x-k8s.io_machines.yaml"),
			filepath.Join(external, "cluster.x-k8s.io_machinesets.yaml"),
			filepath.Join(external, "cluster.x-k8s.io_machinedeployments.yaml"),
			filepath.Join(external, "cluster.x-k8s.io_machinehealthchecks.yaml")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := mgmtEnv.Start()
	Expect(err).NotTo(HaveOccurred(), "run `make capi-crds`")
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	workloadEnv = &envtest.Environment{}
	wcfg, err := workloadEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	workload, err = kubernetes.NewForConfig(wcfg)
	Expect(err).NotTo(HaveOccurred())

	dir := GinkgoT().TempDir()
	mgmtKubeconfig = support.WriteAdminKubeconfig(mgmtEnv, filepath.Join(dir, "management.kubeconfig"))
	workloadKubeconfig = support.WriteAdminKubeconfig(workloadEnv, filepath.Join(dir, "workload.kubeconfig"))
	workloadRaw, err = os.ReadFile(workloadKubeconfig)
	Expect(err).NotTo(HaveOccurred())

	managerBin, err := gexec.Build("github.com/machinepool-operator/machinepool-operator/cmd/manager")
	Expect(err).NotTo(HaveOccurred())
	manager, err = gexec.Start(exec.CommandContext(ctx, managerBin, append([]string{"--kubeconfig=" + mgmtKubeconfig,
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--sim-heartbeat-interval=5s"},
		support.ConversionByManager(mgmtEnv)...)...), GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	support.WaitForConversion(cfg)
	go scheduler(ctx)
})

var _ = AfterSuite(func() {
	cancel()
	for _, s := range []*gexec.Session{autoscaler, manager} {
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

// scheduler plays the parts of a control plane that envtest does not run: kube-controller-manager's node
// lifecycle controller (it lifts the node.kubernetes.io/not-ready taint the API server puts on every new Node
// once the Node is Ready), and kube-scheduler for the apps namespace: it binds a pending Pod to a schedulable
// Ready Node with room for its CPU request and marks it Running, or marks it Unschedulable (what the
// autoscaler looks for).
func scheduler(ctx context.Context) {
	defer GinkgoRecover()
	for ctx.Err() == nil {
		liftNotReadyTaints(ctx)
		schedulePending(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func liftNotReadyTaints(ctx context.Context) {
	nodes, err := workload.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if !ready(n) {
			continue
		}
		var keep []corev1.Taint
		for _, t := range n.Spec.Taints {
			if t.Key != corev1.TaintNodeNotReady {
				keep = append(keep, t)
			}
		}
		if len(keep) != len(n.Spec.Taints) {
			n.Spec.Taints = keep
			_, _ = workload.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		}
	}
}

func ready(n *corev1.Node) bool {
	_, ok := workloadcluster.ReadySince(n)
	return ok
}

func schedulePending(ctx context.Context) {
	pods, err := workload.CoreV1().Pods(appsNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	nodes, err := workload.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	used := map[string]int64{}
	for _, p := range pods.Items {
		if p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
			used[p.Spec.NodeName] += cpuRequest(&p)
		}
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.Spec.NodeName != "" || pod.DeletionTimestamp != nil {
			continue
		}
		target := ""
		for _, n := range nodes.Items {
			if schedulable(&n) && n.Status.Allocatable.Cpu().MilliValue()-used[n.Name] >= cpuRequest(pod) {
				target = n.Name
				break
			}
		}
		if target == "" {
			if markUnschedulable(ctx, pod) {
				for _, n := range nodes.Items {
					GinkgoWriter.Printf("scheduler: Pod %s fits no Node; %s: unschedulable=%v taints=%v allocatable cpu=%s used=%dm conditions=%v\n",
						pod.Name, n.Name, n.Spec.Unschedulable, n.Spec.Taints, n.Status.Allocatable.Cpu(), used[n.Name], n.Status.Conditions)
				}
			}
			continue
		}
		if err := workload.CoreV1().Pods(appsNS).Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: pod.Name},
			Target: corev1.ObjectReference{Kind: "Node", Name: target}}, metav1.CreateOptions{}); err != nil {
			GinkgoWriter.Printf("scheduler: binding Pod %s to %s: %v\n", pod.Name, target, err)
			continue
		}
		GinkgoWriter.Printf("scheduler: bound Pod %s to %s\n", pod.Name, target)
		used[target] += cpuRequest(pod)
		bound, err := workload.CoreV1().Pods(appsNS).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			continue
		}
		bound.Status.Phase = corev1.PodRunning
		bound.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		_, _ = workload.CoreV1().Pods(appsNS).UpdateStatus(ctx, bound, metav1.UpdateOptions{})
	}
}

func schedulable(n *corev1.Node) bool {
	if n.Spec.Unschedulable || n.DeletionTimestamp != nil {
		return false
	}
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			return false
		}
	}
	return ready(n)
}

func markUnschedulable(ctx context.Context, pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonUnschedulable {
			return false
		}
	}
	pod.Status.Phase = corev1.PodPending
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: corev1.PodReasonUnschedulable, Message: "0/N nodes are available: Insufficient cpu.", LastTransitionTime: metav1.Now()}}
	_, _ = workload.CoreV1().Pods(appsNS).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	return true
}

func cpuRequest(p *corev1.Pod) int64 {
	var m int64
	for _, c := range p.Spec.Containers {
		m += c.Resources.Requests.Cpu().MilliValue()
	}
	return m
}

// app creates a bare Pod asking for most of a sim.small Node's CPU: one per Node. Bare Pods also keep the
// autoscaler from removing their Node, so the empty Node is the only one it may pick.
func app(name string) {
	GinkgoHelper()
	_, err := workload.CoreV1().Pods(appsNS).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")}}}}},
	}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
}

func deleteApp(name string) {
	GinkgoHelper()
	Expect(workload.CoreV1().Pods(appsNS).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})).To(Succeed())
}

func nodeOf(name string) func() string {
	return func() string {
		p, err := workload.CoreV1().Pods(appsNS).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return ""
		}
		return p.Spec.NodeName
	}
}

func nodeNames() []string {
	list, err := workload.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	var names []string
	for _, n := range list.Items {
		names = append(names, n.Name)
	}
	return names
}

func poolReplicas() int32 {
	p := &corev1beta1.MachinePool{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "workers"}, p); err != nil || p.Spec.Replicas == nil {
		return -1
	}
	return *p.Spec.Replicas
}

func readyReplicas() int32 {
	p := &corev1beta1.MachinePool{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "workers"}, p); err != nil {
		return -1
	}
	return p.Status.ReadyReplicas
}

func machineExists(name string) func() bool {
	return func() bool {
		return !apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &capi.Machine{}))
	}
}

// autoscalerIdentity gives the autoscaler, in the management cluster, exactly the chart's autoscaler RBAC: the
// chart's ClusterRole and binding (helm template) for a ServiceAccount, and a kubeconfig with its token.
func autoscalerIdentity() string {
	GinkgoHelper()
	abs, err := filepath.Abs(filepath.Join("..", ".."))
	Expect(err).NotTo(HaveOccurred())
	helm := filepath.Join(abs, "bin", "helm")
	out, err := exec.CommandContext(ctx, "make", "-s", "-C", abs, helm).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "building helm: %s", out)
	rendered, err := exec.CommandContext(ctx, helm, "template", "mpo", filepath.Join(abs, "charts", "machinepool-operator"),
		"--show-only", "templates/autoscaler-rbac.yaml", "--set", "autoscaler.rbac.create=true",
		"--set", "autoscaler.rbac.subjects[0].kind=ServiceAccount", "--set", "autoscaler.rbac.subjects[0].name=cluster-autoscaler",
		"--set", "autoscaler.rbac.subjects[0].namespace=kube-system").Output()
	Expect(err).NotTo(HaveOccurred())
	for _, doc := range strings.Split(string(rendered), "\n---") {
		u := &unstructured.Unstructured{}
		Expect(yaml.Unmarshal([]byte(doc), &u.Object)).To(Succeed())
		if len(u.Object) > 0 {
			Expect(k8s.Create(ctx, u)).To(Succeed())
		}
	}
	Expect(k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "cluster-autoscaler"}})).To(Succeed())
	return support.ServiceAccountKubeconfig(mgmtEnv.Config, "kube-system", "cluster-autoscaler", filepath.Join(GinkgoT().TempDir(), "autoscaler.kubeconfig"))
}

var _ = Describe("the real cluster-autoscaler with a SimMachinePool pool", Ordered, func() {
	AfterAll(func() {
		if autoscaler != nil {
			log := string(autoscaler.Err.Contents())
			Expect(log).NotTo(ContainSubstring("forbidden"), "the chart's autoscaler ClusterRole grants all the autoscaler uses")
			// The autoscaler finds a Node's Machine through the Node's cluster.x-k8s.io/machine and
			// cluster-namespace annotations, which the machinepoolmachine controller keeps there.
			Expect(log).NotTo(ContainSubstring("machine not found for node"))
		}
		Expect(support.ConflictErrors(manager.Err.Contents())).To(BeEmpty(),
			"write conflicts are retried without an error-level log line")
	})

	BeforeAll(func() {
		for _, n := range []string{ns} {
			Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}})).To(Succeed())
		}
		_, err := workload.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: appsNS}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "demo-kubeconfig"},
			Data: map[string][]byte{"value": workloadRaw}})).To(Succeed())
		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "workers-data"},
			Data: map[string][]byte{"value": []byte("#cloud-config\n")}})).To(Succeed())
		Expect(k8s.Create(ctx, &infrav1beta1.SimMachinePool{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "workers"},
			Spec: infrav1beta1.SimMachinePoolSpec{InstanceType: "sim.small",
				Simulation: &infrav1beta1.Simulation{BootDelay: &metav1.Duration{Duration: time.Second}}}})).To(Succeed())
		Expect(k8s.Create(ctx, &corev1beta1.MachinePool{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "workers", Annotations: map[string]string{
				"cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size": "0",
				"cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size": "4",
			}},
			Spec: corev1beta1.MachinePoolSpec{ClusterName: "demo", Replicas: ptr.To[int32](1),
				Template: corev1beta1.MachineTemplateSpec{Spec: corev1beta1.MachineSpec{
					ClusterName: "demo", Version: ptr.To("v1.30.0"),
					Bootstrap:         corev1beta1.Bootstrap{DataSecretName: ptr.To("workers-data")},
					InfrastructureRef: corev1.ObjectReference{APIVersion: infrav1beta1.GroupVersion.String(), Kind: "SimMachinePool", Name: "workers"},
				}}},
		})).To(Succeed())
		// A health check on the pool, as users run one: scaling must not look unhealthy to it.
		Expect(k8s.Create(ctx, &capi.MachineHealthCheck{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "workers"},
			Spec: capi.MachineHealthCheckSpec{ClusterName: "demo",
				Selector: metav1.LabelSelector{MatchLabels: map[string]string{corev1beta1.MachinePoolNameLabel: "workers"}},
				UnhealthyConditions: []capi.UnhealthyCondition{
					{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Timeout: metav1.Duration{Duration: time.Minute}},
					{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Timeout: metav1.Duration{Duration: time.Minute}}},
				MaxUnhealthy: ptr.To(intstr.FromString("100%"))}})).To(Succeed())
		Eventually(readyReplicas).Should(BeEquivalentTo(1))
		Eventually(func() int {
			list := &capi.MachineList{}
			_ = k8s.List(ctx, list, client.InNamespace(ns))
			return len(list.Items)
		}).Should(Equal(1))

		var err2 error
		cmd := exec.CommandContext(ctx, autoscalerBin,
			"--cloud-provider=clusterapi",
			"--kubeconfig="+workloadKubeconfig,
			"--cloud-config="+autoscalerIdentity(),
			"--node-group-auto-discovery=clusterapi:namespace="+ns,
			"--scan-interval=2s",
			"--kube-client-qps=50", "--kube-client-burst=100",
			"--scale-down-delay-after-add=5s",
			"--scale-down-delay-after-delete=0s",
			"--scale-down-delay-after-failure=2s",
			"--scale-down-unneeded-time=10s",
			"--scale-down-unready-time=3s",
			"--unremovable-node-recheck-timeout=3s",
			"--max-node-provision-time=2m",
			"--leader-elect=false",
			"--write-status-configmap=false",
			"--skip-nodes-with-system-pods=false",
			"--skip-nodes-with-local-storage=false",
			"--v=3",
		)
		// Our MachinePool CRD serves v1beta2, which makes it the group's preferred version; Cluster API v1.7.1's
		// Machine CRDs serve only v1beta1 (README: MachinePool Machines and the cluster-autoscaler).
		cmd.Env = append(os.Environ(), "CAPI_VERSION=v1beta1")
		autoscaler, err2 = gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err2).NotTo(HaveOccurred())
	})

	var first, second string

	It("scales the pool up for a Pod that fits nowhere", func() {
		app("one")
		Eventually(nodeOf("one")).ShouldNot(BeEmpty())
		first = nodeOf("one")()
		app("two")
		Eventually(poolReplicas).Should(BeEquivalentTo(2))
		Eventually(nodeOf("two")).ShouldNot(BeEmpty())
		second = nodeOf("two")()
		Expect(second).NotTo(Equal(first))
		Eventually(readyReplicas).Should(BeEquivalentTo(2))
	})

	It("scales the pool down by the Node it picks: that Node, its Machine and instance go, the others stay", func() {
		app("three")
		Eventually(poolReplicas).Should(BeEquivalentTo(3))
		Eventually(nodeOf("three")).ShouldNot(BeEmpty())
		third := nodeOf("three")()
		Eventually(readyReplicas).Should(BeEquivalentTo(3))

		By("emptying the second Node: the only one the autoscaler may remove")
		deleteApp("two")
		Eventually(poolReplicas).Should(BeEquivalentTo(2))
		Eventually(machineExists(second)).Should(BeFalse())
		Eventually(nodeNames).Should(ConsistOf(first, third))
		Eventually(readyReplicas).Should(BeEquivalentTo(2))
		Expect(machineExists(first)()).To(BeTrue())
		Expect(machineExists(third)()).To(BeTrue())
		Consistently(nodeNames, 5*time.Second).Should(ConsistOf(first, third))
	})

	It("scales to zero when nothing runs, and from zero for a new Pod, from the SimMachinePool's published capacity", func() {
		deleteApp("one")
		deleteApp("three")
		Eventually(poolReplicas).Should(BeEquivalentTo(0))
		Eventually(nodeNames).Should(BeEmpty())

		app("four")
		Eventually(poolReplicas).Should(BeEquivalentTo(1))
		Eventually(nodeOf("four")).ShouldNot(BeEmpty())
		Eventually(readyReplicas).Should(BeEquivalentTo(1))
	})

	It("kept the health check on the pool satisfied through every scale: no Machine marked or remediated", func() {
		hc := &capi.MachineHealthCheck{}
		Eventually(func() []int32 {
			_ = k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "workers"}, hc)
			return []int32{hc.Status.ExpectedMachines, hc.Status.CurrentHealthy}
		}).Should(Equal([]int32{1, 1}))
		list := &capi.MachineList{}
		Expect(k8s.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		for _, m := range list.Items {
			Expect(conditions.Get(m.Status.Conditions, capi.OwnerRemediatedCondition)).To(BeNil(), "Machine %s", m.Name)
		}
		events := &eventsv1.EventList{}
		Expect(k8s.List(ctx, events, client.InNamespace(ns))).To(Succeed())
		for _, e := range events.Items {
			Expect(e.Reason).NotTo(BeElementOf("MachineRemediated", "MachineMarkedUnhealthy"), "%s: %s", e.Regarding.Name, e.Note)
		}
	})
})
