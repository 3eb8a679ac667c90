package providers_test

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
)

// Cluster API Provider GCP v1.13.1: its pool kinds serve v1beta1 only, and its CRDs' contract label is
// cluster.x-k8s.io/v1beta1: v1beta1.
var (
	gcpMachinePoolGVK        = schema.GroupVersionKind{Group: "infrastructure.cluster.x-k8s.io", Version: "v1beta1", Kind: "GCPMachinePool"}
	gcpManagedMachinePoolGVK = schema.GroupVersionKind{Group: "infrastructure.cluster.x-k8s.io", Version: "v1beta1", Kind: "GCPManagedMachinePool"}
)

// CAPG's finalizers (exp/api/v1beta1/gcpmanagedmachinepool_types.go).
const (
	gcpMachinePoolFinalizer        = "gcpmachinepool.infrastructure.cluster.x-k8s.io"
	gcpManagedMachinePoolFinalizer = "gcpmanagedmachinepool.infrastructure.cluster.x-k8s.io"
)

const (
	gcpProject = "my-project"
	gcpZone    = "europe-west2-a"
)

// gcpInstance launches a Compute Engine instance named <prefix>-<suffix>. CAPG turns its URL
// projects/<project>/zones/<zone>/instances/<name> into the provider ID gce://<project>/<zone>/<name>, which is
// also what the GCE cloud provider gives its Node; the kubelet registers under the instance's name.
func gcpInstance(prefix string) func() instance {
	return func() instance {
		name := fmt.Sprintf("%s-%04x", prefix, instanceSeq.Add(1))
		return instance{providerID: fmt.Sprintf("gce://%s/%s/%s", gcpProject, gcpZone, name), node: name}
	}
}

// gcpMachinePoolCloud plays CAPG's GCPMachinePool controller (exp/controllers/gcpmachinepool_controller.go,
// reconcile once the managed instance group exists) and the group: spec.providerIDList, status.replicas,
// status.ready. Its status.conditions (metav1.Conditions InstanceTemplateReady, ManagedInstanceGroupReady,
// Ready) go in a patch of their own, which Cluster API's patch helper sends apart from the rest of the status,
// and which GCPMachinePool's own CRD refuses (CAPG sets them without a reason, the schema wants one): they are
// left out here, as they never land.
func gcpMachinePoolCloud(w *world, name string, pool poolRef) *cloud {
	c := &cloud{gvk: gcpMachinePoolGVK, key: w.key(name), pool: pool, finalizer: gcpMachinePoolFinalizer, launch: gcpInstance(name)}
	c.write = func(u *unstructured.Unstructured, instances []instance) {
		set(u, stringList(providerIDs(instances)), "spec", "providerIDList")
		set(u, int64(len(instances)), "status", "replicas")
		set(u, true, "status", "ready")
	}
	return c
}

// gcpManagedMachinePoolCloud plays CAPG's GCPManagedMachinePool controller
// (exp/controllers/gcpmanagedmachinepool_controller.go and cloud/services/container/nodepools/reconcile.go,
// node pool RUNNING) and its GKE node pool. On every reconcile CAPG sets status.infrastructureMachineKind to
// infrav1exp.GCPManagedMachinePoolMachineKind, which is "GCPManagedMachinePool": its own kind (it keeps no
// per-instance objects).
func gcpManagedMachinePoolCloud(w *world, name string, pool poolRef) *cloud {
	c := &cloud{gvk: gcpManagedMachinePoolGVK, key: w.key(name), pool: pool, finalizer: gcpManagedMachinePoolFinalizer,
		launch: gcpInstance("gke-" + w.cluster + "-" + name + "-014f89ba")}
	c.write = func(u *unstructured.Unstructured, instances []instance) {
		set(u, "GCPManagedMachinePool", "status", "infrastructureMachineKind")
		set(u, stringList(providerIDs(instances)), "spec", "providerIDList")
		set(u, int64(len(instances)), "status", "replicas")
		set(u, true, "status", "ready")
		now := time.Now().UTC().Truncate(time.Second).Format(time.RFC3339)
		set(u, []any{
			map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": now},
			map[string]any{"type": "GKEMachinePoolCreating", "status": "False", "severity": "Info", "reason": "GKEMachinePoolCreated", "lastTransitionTime": now},
			map[string]any{"type": "GKEMachinePoolReady", "status": "True", "lastTransitionTime": now},
			map[string]any{"type": "GKEMachinePoolUpdating", "status": "False", "severity": "Info", "reason": "GKEMachinePoolUpdated", "lastTransitionTime": now},
		}, "status", "conditions")
	}
	return c
}

// CAPG names the GCPManagedMachinePool's own kind as its infrastructure machine kind, though it keeps no
// per-instance objects. Cluster API v1.14.2 then looks for objects of that kind with the pool's cluster-name and
// pool-name labels; were the pool object to carry both, it would become a Machine's infrastructure, and deleting
// that Machine would delete the whole node pool. Our controller takes a kind equal to the pool's own as "no
// per-instance objects": the pool is an ordinary pool (Running, every Node mapped, no Machine), whatever labels
// the pool object carries, and nothing deletes it but the pool's deletion.
var _ = Describe("GCPManagedMachinePool naming its own kind in status.infrastructureMachineKind", func() {
	It("runs as a pool without MachinePool Machines", func() {
		w := newWorld("demo")
		w.createCluster(nil)
		pool := w.v1beta1Pool("nodes", gcpManagedMachinePoolGVK, 2)
		w.createInfra(gcpManagedMachinePoolGVK, "nodes", map[string]any{"machineType": "e2-medium"})
		c := gcpManagedMachinePoolCloud(w, "nodes", pool)
		c.awaitAdoption()
		launched, _ := c.follow()
		registerNodes(launched)
		pool.expectRunning(c.instances)

		Expect(c.object(Default).Object).To(HaveKeyWithValue("status", HaveKeyWithValue("infrastructureMachineKind", "GCPManagedMachinePool")))
		Eventually(func(g Gomega) {
			g.Expect(w.machines(g)).To(BeEmpty())
			g.Expect(ownerKinds(c.object(g))).To(Equal([]string{"MachinePool"}), "owned by its MachinePool only")
			mp := pool.v1beta1(g)
			g.Expect(mp.Status.Conditions).NotTo(ContainElement(And(HaveField("Type", corev1beta1.MachinesCreatedCondition),
				HaveField("Status", corev1.ConditionFalse))))
			g.Expect(mp.Status.Conditions).To(ContainElement(And(HaveField("Type", corev1beta1.ReadyCondition),
				HaveField("Status", corev1.ConditionTrue))))
		}).Should(Succeed())

		By("labelling the pool object as one of the pool's instances would be: still no Machine")
		Eventually(func() error {
			u := c.object(Default)
			labels := u.GetLabels()
			if labels == nil {
				labels = map[string]string{}
			}
			labels[corev1beta1.MachinePoolNameLabel] = "nodes"
			labels[corev1beta1.ClusterNameLabel] = w.cluster
			u.SetLabels(labels)
			return k8s.Update(ctx, u)
		}).Should(Succeed())

		By("scaling up: still no Machines")
		pool.setReplicas(3)
		launched, _ = c.follow()
		registerNodes(launched)
		pool.expectRunning(c.instances)
		Consistently(func(g Gomega) { g.Expect(w.machines(g)).To(BeEmpty()) }).WithTimeout(time.Second).Should(Succeed())
	})
})
