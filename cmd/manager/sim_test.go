package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
)

var _ = Describe("the manager binary with the simulated cloud", func() {
	It("runs a SimMachinePool under the core controller to Running, and through scale up and down", func() {
		startManager() // every controller: machinepool and simmachinepool
		ns, pool := newSimWorld(3)
		status := poolStatusOf(pool)
		Eventually(status).WithTimeout(60 * time.Second).Should(runningWith(3))

		scale(pool, 5)
		Eventually(status).WithTimeout(60 * time.Second).Should(runningWith(5))

		scale(pool, 2)
		Eventually(status).WithTimeout(60 * time.Second).Should(runningWith(2))
		Eventually(func() int { return len(simNodesOf(ns)) }).WithTimeout(60*time.Second).Should(Equal(2), "the Nodes of scaled-in instances are retired")
	})

	It("replaces an instance terminated out of band and retires its Node", func() {
		startManager("--sim-heartbeat-interval=2s")
		ns, pool := newSimWorld(3)
		Eventually(poolStatusOf(pool)).WithTimeout(60 * time.Second).Should(runningWith(3))
		before := simNodesOf(ns)

		By("terminating an instance in the simulated cloud's own state, as someone would in a cloud console")
		cm := &corev1.ConfigMap{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sim-cloud-pool"}, cm)).To(Succeed())
		var state map[string]any
		Expect(json.Unmarshal([]byte(cm.Data["state"]), &state)).To(Succeed())
		first := state["instances"].([]any)[0].(map[string]any)
		first["terminatingAt"], first["reason"] = time.Now().UTC().Format(time.RFC3339Nano), "TerminatedOutOfBand"
		raw, err := json.Marshal(state)
		Expect(err).NotTo(HaveOccurred())
		cm.Data["state"] = string(raw)
		Expect(k8s.Update(ctx, cm)).To(Succeed())
		gone := "sim://local/pool/" + first["id"].(string)
		Expect(before).To(ContainElement(gone))

		Eventually(func() []string { return simNodesOf(ns) }).WithTimeout(60*time.Second).Should(And(HaveLen(3), Not(ContainElement(gone))),
			"a replacement joined and the terminated instance's Node was retired")
		Eventually(poolStatusOf(pool)).WithTimeout(60 * time.Second).Should(runningWith(3))
	})

	It("changes nothing while the Cluster is paused", func() {
		startManager()
		ns, pool := newSimWorld(2)
		Eventually(poolStatusOf(pool)).WithTimeout(60 * time.Second).Should(runningWith(2))
		cluster := newObject("cluster.x-k8s.io/v1beta1", "Cluster", ns, "local")
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
		Expect(unstructured.SetNestedField(cluster.Object, true, "spec", "paused")).To(Succeed())
		Expect(k8s.Update(ctx, cluster)).To(Succeed())

		smpPaused := func() bool {
			smp := &infrav1beta1.SimMachinePool{}
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "pool"}, smp)).To(Succeed())
			for _, c := range smp.Status.Conditions {
				if c.Type == corev1beta1.PausedCondition {
					return c.Status == corev1.ConditionTrue
				}
			}
			return false
		}
		scale(pool, 4)
		Eventually(smpPaused).WithTimeout(30 * time.Second).Should(BeTrue())
		Consistently(func() []string { return simNodesOf(ns) }).WithTimeout(3 * time.Second).Should(HaveLen(2))
	})

	It("keeps every instance across a kill -9 of the manager", func() {
		session, _ := startManager()
		ns, pool := newSimWorld(3)
		Eventually(poolStatusOf(pool)).WithTimeout(60 * time.Second).Should(runningWith(3))
		before := simNodesOf(ns)

		session.Kill()
		Eventually(session).WithTimeout(10 * time.Second).Should(gexec.Exit())
		startManager()
		Consistently(func() []string { return simNodesOf(ns) }).WithTimeout(5 * time.Second).Should(ConsistOf(before))
		Eventually(poolStatusOf(pool)).WithTimeout(60 * time.Second).Should(runningWith(3))
		Expect(simNodesOf(ns)).To(ConsistOf(before), "no instance lost or duplicated")
	})
})

// newSimWorld creates, in a new namespace, a Cluster whose infrastructure is ready (Cluster API's CRDs are
// installed in this suite), the kubeconfig and bootstrap Secrets, and a MachinePool on a SimMachinePool.
func newSimWorld(replicas int32) (string, *corev1beta1.MachinePool) {
	GinkgoHelper()
	return newSimWorldWith(replicas, workloadKubeconfig)
}

// newSimWorldWith is newSimWorld reaching the workload cluster with the given kubeconfig; each change is applied
// to the Cluster, SimMachinePool and MachinePool before they are created.
func newSimWorldWith(replicas int32, workloadKubeconfig []byte, changes ...func(client.Object)) (string, *corev1beta1.MachinePool) {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "sim-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	cluster := newObject("cluster.x-k8s.io/v1beta1", "Cluster", ns.Name, "local")
	apply := func(o client.Object) client.Object {
		for _, change := range changes {
			change(o)
		}
		return o
	}
	Expect(k8s.Create(ctx, apply(cluster))).To(Succeed())
	mergeStatus(cluster, map[string]any{"infrastructureReady": true})
	Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "local-kubeconfig"},
		Data: map[string][]byte{"value": workloadKubeconfig}})).To(Succeed())
	Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "pool-bootstrap"},
		Data: map[string][]byte{"value": []byte("#cloud-config\n")}})).To(Succeed())
	Expect(k8s.Create(ctx, apply(&infrav1beta1.SimMachinePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "pool"},
		Spec: infrav1beta1.SimMachinePoolSpec{Simulation: &infrav1beta1.Simulation{
			BootDelay: &metav1.Duration{Duration: 200 * time.Millisecond},
		}},
	}))).To(Succeed())
	pool := &corev1beta1.MachinePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "pool"},
		Spec: corev1beta1.MachinePoolSpec{ClusterName: "local", Replicas: ptr.To(replicas),
			Template: corev1beta1.MachineTemplateSpec{Spec: corev1beta1.MachineSpec{
				ClusterName: "local", Version: ptr.To("v1.30.0"),
				Bootstrap:         corev1beta1.Bootstrap{DataSecretName: ptr.To("pool-bootstrap")},
				InfrastructureRef: corev1.ObjectReference{APIVersion: infrav1beta1.GroupVersion.String(), Kind: "SimMachinePool", Name: "pool", Namespace: ns.Name},
			}}},
	}
	Expect(k8s.Create(ctx, apply(pool))).To(Succeed())
	DeferCleanup(func() {
		if !CurrentSpecReport().Failed() {
			return
		}
		// What a user would look at: both objects' status and the workload Nodes.
		smp := &infrav1beta1.SimMachinePool{}
		_ = k8s.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "pool"}, smp)
		got := &corev1beta1.MachinePool{}
		_ = k8s.Get(ctx, client.ObjectKeyFromObject(pool), got)
		list := &corev1.NodeList{}
		_ = nodes.List(ctx, list)
		var names []string
		for _, n := range list.Items {
			names = append(names, n.Name+" "+n.Spec.ProviderID)
		}
		AddReportEntry("state", fmt.Sprintf("SimMachinePool spec.providerIDList=%v status=%+v\nMachinePool spec.providerIDList=%v status=%+v\nNodes=%v",
			smp.Spec.ProviderIDList, smp.Status, got.Spec.ProviderIDList, got.Status, names))
	})
	return ns.Name, pool
}

func poolStatusOf(pool *corev1beta1.MachinePool) func() corev1beta1.MachinePoolStatus {
	return func() corev1beta1.MachinePoolStatus {
		got := &corev1beta1.MachinePool{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pool), got)).To(Succeed())
		return got.Status
	}
}

func runningWith(n int32) OmegaMatcher {
	return And(HaveField("Phase", "Running"), HaveField("ReadyReplicas", n), HaveField("NodeRefs", HaveLen(int(n))))
}

// simNodesOf lists the provider IDs of the workload Nodes the pool of namespace ns adopted.
func simNodesOf(ns string) []string {
	list := &corev1.NodeList{}
	Expect(nodes.List(ctx, list)).To(Succeed())
	var out []string
	for _, node := range list.Items {
		if node.Annotations["cluster.x-k8s.io/cluster-namespace"] == ns {
			out = append(out, node.Spec.ProviderID)
		}
	}
	return out
}

var _ = Describe("two managers sharding pools by --watch-filter", func() {
	It("each reconciles only its shard's pools, their Machines carry the shard's label, and a relabelled pool moves", func() {
		// Each shard is its own management cluster user, so the management API server's audit log tells them
		// apart by user and by user agent; in the workload cluster both use the same kubeconfig (shardedUser's),
		// so only the user agent does.
		start := time.Now()
		startManager("--kubeconfig="+shardKubeconfig("shard-a"), "--watch-filter=a", "--sim-heartbeat-interval=2s")
		startManager("--kubeconfig="+shardKubeconfig("shard-b"), "--watch-filter=b", "--webhook-port=0", "--sim-heartbeat-interval=2s")
		workload := auditedKubeconfig(shardedUser)
		nsA, poolA := newSimWorldWith(2, workload, shardLabel("a"))
		nsB, poolB := newSimWorldWith(2, workload, shardLabel("b"))
		Eventually(poolStatusOf(poolA)).WithTimeout(60 * time.Second).Should(runningWith(2))
		Eventually(poolStatusOf(poolB)).WithTimeout(60 * time.Second).Should(runningWith(2))
		Eventually(func() []string { return machineShards(nsA) }).Should(Equal([]string{"a", "a"}))
		Eventually(func() []string { return machineShards(nsB) }).Should(Equal([]string{"b", "b"}))
		Expect(writers(poolA)).To(And(ContainElement("machinepool-operator (watch-filter=a)"), Not(ContainElement(ContainSubstring("watch-filter=b")))))
		Expect(writers(poolB)).To(And(ContainElement("machinepool-operator (watch-filter=b)"), Not(ContainElement(ContainSubstring("watch-filter=a")))))

		By("the audit logs: each shard touched only its own pool's objects and Nodes, naming itself in its user agent")
		time.Sleep(1500 * time.Millisecond) // the audit log's batch wait
		shardTouches := map[string]string{"a": nsA, "b": nsB}
		nodesOf := map[string][]string{"a": nodeNamesOf(nsA), "b": nodeNamesOf(nsB)}
		for shard, ns := range shardTouches {
			other := map[string]string{"a": "b", "b": "a"}[shard]
			writes := 0
			for _, e := range auditEvents(managementAudit, start) {
				if e.User.Username != "shard-"+shard {
					continue
				}
				Expect(e.UserAgent).To(HavePrefix("machinepool-operator (watch-filter="+shard+")"), "%s %s/%s", e.Verb, e.Object.Resource, e.Object.Name)
				Expect(e.Object.Namespace).NotTo(Equal(shardTouches[other]), "shard %s: %s %s %s/%s", shard, e.Verb, e.Object.Resource, e.Object.Namespace, e.Object.Name)
				if e.Object.Namespace == ns && isWrite(e.Verb) {
					writes++
				}
			}
			Expect(writes).To(BeNumerically(">", 0), "shard %s wrote its own pool's objects", shard)
			nodeWrites := 0
			for _, e := range auditEvents(workloadAudit, start) {
				if !strings.Contains(e.UserAgent, "watch-filter="+shard+")") || e.Object.Resource != "nodes" || e.Object.Name == "" {
					continue
				}
				Expect(nodesOf[other]).NotTo(ContainElement(e.Object.Name), "shard %s: %s Node %s", shard, e.Verb, e.Object.Name)
				if isWrite(e.Verb) {
					Expect(nodesOf[shard]).To(ContainElement(e.Object.Name), "shard %s: %s Node %s", shard, e.Verb, e.Object.Name)
					nodeWrites++
				}
			}
			Expect(nodeWrites).To(BeNumerically(">", 0), "shard %s registered and adopted its pool's Nodes", shard)
		}

		By("relabelling pool a's objects to shard b: its Machines follow, and shard b scales it")
		for _, obj := range []client.Object{&corev1beta1.MachinePool{}, &infrav1beta1.SimMachinePool{}} {
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: nsA, Name: "pool"}, obj)).To(Succeed())
			obj.GetLabels()[corev1beta1.WatchFilterLabel] = "b"
			Expect(k8s.Update(ctx, obj)).To(Succeed())
		}
		Eventually(func() []string { return machineShards(nsA) }).WithTimeout(30 * time.Second).Should(Equal([]string{"b", "b"}))
		scale(poolA, 3)
		Eventually(poolStatusOf(poolA)).WithTimeout(60 * time.Second).Should(runningWith(3))
		Eventually(func() []string { return machineShards(nsA) }).Should(Equal([]string{"b", "b", "b"}))
		Expect(writers(poolA)).To(ContainElement("machinepool-operator (watch-filter=b)"))

		By("shard a let the moved pool's simulated kubelets go: only shard b's heartbeat its Nodes now")
		time.Sleep(3 * time.Second) // shard a's kubelets let go at their next sync, at most one heartbeat away
		since := time.Now()
		time.Sleep(6*time.Second + 1500*time.Millisecond) // three heartbeats, and the audit log's batch wait
		moved := nodeNamesOf(nsA)
		heartbeats := map[string]int{}
		for _, e := range auditEvents(workloadAudit, since) {
			if e.User.Username == shardedUser && e.Object.Resource == "nodes" && slices.Contains(moved, e.Object.Name) && isWrite(e.Verb) {
				heartbeats[e.UserAgent]++
			}
		}
		Expect(heartbeats).To(HaveKey("machinepool-operator (watch-filter=b)"))
		Expect(heartbeats).To(HaveLen(1), "only shard b writes the moved pool's Nodes")
	})
})

// shardKubeconfig writes a kubeconfig of a management cluster user whose requests the audit log records.
func shardKubeconfig(user string) string {
	GinkgoHelper()
	u, err := testEnv.AddUser(envtest.User{Name: user, Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	raw, err := u.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	path := filepath.Join(GinkgoT().TempDir(), user+".kubeconfig")
	Expect(os.WriteFile(path, raw, 0o600)).To(Succeed())
	return path
}

// isWrite says whether an audited verb changes an object.
func isWrite(verb string) bool {
	return verb == "create" || verb == "update" || verb == "patch" || verb == "delete"
}

// nodeNamesOf are the names of the workload Nodes of the simulated instances in a namespace.
func nodeNamesOf(ns string) []string {
	list := &corev1.NodeList{}
	Expect(nodes.List(ctx, list)).To(Succeed())
	var out []string
	for _, node := range list.Items {
		if node.Annotations["cluster.x-k8s.io/cluster-namespace"] == ns {
			out = append(out, node.Name)
		}
	}
	return out
}

// shardLabel puts a pool's objects in a shard.
func shardLabel(shard string) func(client.Object) {
	return func(o client.Object) {
		o.SetLabels(map[string]string{corev1beta1.WatchFilterLabel: shard})
	}
}

// machineShards lists the watch-filter label of each Machine in the namespace.
func machineShards(ns string) []string {
	list := &unstructured.UnstructuredList{}
	list.SetAPIVersion("cluster.x-k8s.io/v1beta1")
	list.SetKind("MachineList")
	Expect(k8s.List(ctx, list, client.InNamespace(ns))).To(Succeed())
	var out []string
	for _, m := range list.Items {
		out = append(out, m.GetLabels()[corev1beta1.WatchFilterLabel])
	}
	return out
}

// writers are the field managers that wrote the pool, which a manager names after its user agent.
func writers(pool *corev1beta1.MachinePool) []string {
	got := &corev1beta1.MachinePool{}
	Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pool), got)).To(Succeed())
	var out []string
	for _, mf := range got.ManagedFields {
		out = append(out, mf.Manager)
	}
	return out
}
