package providers_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
)

// Cluster API Provider AWS v2.13.0: its kinds serve v1beta2 only, and its CRDs' contract label is
// cluster.x-k8s.io/v1beta1: v1beta1_v1beta2.
var (
	awsMachinePoolGVK        = schema.GroupVersionKind{Group: "infrastructure.cluster.x-k8s.io", Version: "v1beta2", Kind: "AWSMachinePool"}
	awsManagedMachinePoolGVK = schema.GroupVersionKind{Group: "infrastructure.cluster.x-k8s.io", Version: "v1beta2", Kind: "AWSManagedMachinePool"}
	awsMachineGVK            = schema.GroupVersionKind{Group: "infrastructure.cluster.x-k8s.io", Version: "v1beta2", Kind: "AWSMachine"}
)

// CAPA's finalizers (exp/api/v1beta2/finalizers.go, api/v1beta2/awsmachine_types.go).
const (
	awsMachinePoolFinalizer        = "awsmachinepool.infrastructure.cluster.x-k8s.io"
	awsManagedMachinePoolFinalizer = "awsmanagedmachinepools.infrastructure.cluster.x-k8s.io"
	awsMachineFinalizer            = "awsmachine.infrastructure.cluster.x-k8s.io"
)

const awsZone = "us-east-1a"

var (
	instanceSeq atomic.Int64
	// privateDNS maps an EC2 instance's provider ID to its private DNS name (its Node's name).
	privateDNS sync.Map
)

// awsInstance launches an EC2 instance. CAPA writes its provider ID as aws:///<availability zone>/<instance
// ID>, which is also what the AWS cloud provider gives its Node; the kubelet registers under the instance's
// private DNS name.
func awsInstance() instance {
	n := instanceSeq.Add(1)
	in := instance{providerID: fmt.Sprintf("aws:///%s/i-%017x", awsZone, 0x0a11ce0000000000+n),
		node: fmt.Sprintf("ip-10-0-%d-%d.ec2.internal", n/250, n%250+1)}
	privateDNS.Store(in.providerID, in.node)
	return in
}

func instanceID(providerID string) string { return providerID[strings.LastIndex(providerID, "/")+1:] }

// awsMachinePoolCloud plays CAPA's AWSMachinePool controller (exp/controllers/awsmachinepool_controller.go,
// reconcileNormal once the Auto Scaling Group exists) and the group. With machinePoolMachines (CAPA's
// MachinePoolMachines feature gate) it reports status.infrastructureMachineKind AWSMachine and keeps one
// AWSMachine per instance (awsmachinepool_machines.go).
func awsMachinePoolCloud(w *world, name string, pool poolRef, machinePoolMachines bool) *cloud {
	c := &cloud{gvk: awsMachinePoolGVK, key: w.key(name), pool: pool, finalizer: awsMachinePoolFinalizer, launch: awsInstance}
	c.write = func(u *unstructured.Unstructured, instances []instance) {
		annotations := u.GetAnnotations()
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations["cluster-api-provider-aws"] = "true"
		u.SetAnnotations(annotations)
		// spec.providerID is the group's ARN; spec.providerIDList one aws:///<zone>/<id> per instance.
		set(u, "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:6f1c2e8a-41d2-4c3b-9a77-0d5e3b2a9c10:autoScalingGroupName/"+name,
			"spec", "providerID")
		set(u, stringList(providerIDs(instances)), "spec", "providerIDList")
		statuses := make([]any, len(instances))
		for i, in := range instances {
			// UpdateInstanceStatuses: the version it looks up never reaches the status (it sets a copy).
			statuses[i] = map[string]any{"instanceID": instanceID(in.providerID)}
		}
		set(u, statuses, "status", "instances")
		set(u, true, "status", "ready")
		set(u, int64(len(instances)), "status", "replicas")
		set(u, "lt-0c2a7d4e5f6a7b8c9", "status", "launchTemplateID")
		set(u, "1", "status", "launchTemplateVersion")
		set(u, conditionsV1beta1("Ready", "ASGReady", "LaunchTemplateReady"), "status", "conditions")
		if machinePoolMachines {
			set(u, "AWSMachine", "status", "infrastructureMachineKind")
		}
	}
	if machinePoolMachines {
		c.perInstance = func(infra *unstructured.Unstructured, instances []instance) {
			// "Patch now so that the status and selectors are available", before anything else.
			c.update(func(u *unstructured.Unstructured) { set(u, "AWSMachine", "status", "infrastructureMachineKind") })
			keepAWSMachines(w, infra, pool, instances)
		}
	}
	return c
}

// awsManagedMachinePoolCloud plays CAPA's AWSManagedMachinePool controller and its EKS managed node group
// (pkg/cloud/services/eks/nodegroup.go setStatus, node group ACTIVE): the provider IDs of the node group's
// Auto Scaling Group instances, replicas, ready; no status.infrastructureMachineKind (the kind has none).
func awsManagedMachinePoolCloud(w *world, name string, pool poolRef) *cloud {
	c := &cloud{gvk: awsManagedMachinePoolGVK, key: w.key(name), pool: pool, finalizer: awsManagedMachinePoolFinalizer, launch: awsInstance}
	c.write = func(u *unstructured.Unstructured, instances []instance) {
		set(u, stringList(providerIDs(instances)), "spec", "providerIDList")
		set(u, true, "status", "ready")
		set(u, int64(len(instances)), "status", "replicas")
		unstructured.RemoveNestedField(u.Object, "status", "failureMessage")
		set(u, conditionsV1beta1("Ready", "EKSNodegroupReady", "IAMNodegroupRolesReady"), "status", "conditions")
	}
	return c
}

// keepAWSMachines plays createAWSMachinesIfNotExists and deleteOrphanedAWSMachines: one AWSMachine per
// instance of the group (generateName "<ASG name>-", the pool's name and cluster labels, a plain owner reference
// to the AWSMachinePool), and for an AWSMachine whose instance left the group, its Machine deleted (the
// AWSMachine itself when no Machine owns it).
func keepAWSMachines(w *world, infra *unstructured.Unstructured, pool poolRef, instances []instance) {
	GinkgoHelper()
	labels := corev1beta1.MachinePoolLabels(w.cluster, pool.Name)
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(awsMachineGVK.GroupVersion().WithKind("AWSMachineList"))
	Expect(k8s.List(ctx, list, client.InNamespace(w.ns), client.MatchingLabels(labels))).To(Succeed())
	existing, wanted := map[string]bool{}, map[string]bool{}
	for i := range list.Items {
		id, _, _ := unstructured.NestedString(list.Items[i].Object, "spec", "providerID")
		existing[id] = true
	}
	for _, in := range instances {
		wanted[in.providerID] = true
		if existing[in.providerID] {
			continue
		}
		m := &unstructured.Unstructured{Object: map[string]any{
			"spec": map[string]any{
				"providerID": in.providerID, "instanceID": instanceID(in.providerID),
				// What CAPA copies from the EC2 instance "for informational purposes".
				"ami": map[string]any{"id": "ami-0e4d9ed95865f3b40"}, "instanceType": "t3.large", "publicIP": false,
				"sshKeyName": "default", "iamInstanceProfile": "nodes.cluster-api-provider-aws.sigs.k8s.io",
				"subnet": map[string]any{"id": "subnet-0a1b2c3d4e5f60718"}, "cloudInit": map[string]any{},
			},
		}}
		m.SetGroupVersionKind(awsMachineGVK)
		m.SetNamespace(w.ns)
		m.SetGenerateName(infra.GetName() + "-")
		m.SetLabels(labels)
		m.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: infra.GetAPIVersion(), Kind: infra.GetKind(), Name: infra.GetName(),
			UID: infra.GetUID(), BlockOwnerDeletion: ptr.To(true)}})
		Expect(k8s.Create(ctx, m)).To(Succeed())
	}
	for i := range list.Items {
		am := &list.Items[i]
		id, _, _ := unstructured.NestedString(am.Object, "spec", "providerID")
		if id == "" || wanted[id] {
			continue
		}
		var victim client.Object = am
		if name := ownerMachine(am); name != "" {
			victim = &capi.Machine{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name}}
		}
		Expect(client.IgnoreNotFound(k8s.Delete(ctx, victim))).To(Succeed())
	}
}

// ownerMachine names the Cluster API Machine among an object's owners (util.GetOwnerMachine), "" if none.
func ownerMachine(u metav1.Object) string {
	for _, ref := range u.GetOwnerReferences() {
		if ref.Kind == "Machine" && strings.HasPrefix(ref.APIVersion, "cluster.x-k8s.io/") {
			return ref.Name
		}
	}
	return ""
}

// playAWSMachineController runs CAPA's AWSMachine controller (controllers/awsmachine_controller.go) for the
// machine pool AWSMachines of a namespace until the spec ends. It does nothing for an AWSMachine no Machine owns
// yet ("Machine Controller has not yet set OwnerRef"); once one does, it adds CAPA's finalizer (after finding
// the instance) and reports the running instance: status.ready, instanceState, addresses, conditions. A deleted
// AWSMachine's instance is gone already (the group terminated it, or the pool's group was deleted), so it loses
// the finalizer.
func playAWSMachineController(w *world) {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				reconcileAWSMachines(w.ns)
			}
		}
	}()
	DeferCleanup(func() { close(stop); <-done })
}

// reconcileAWSMachines is one pass of the AWSMachine controller; a write that conflicts waits for the next.
func reconcileAWSMachines(ns string) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(awsMachineGVK.GroupVersion().WithKind("AWSMachineList"))
	if k8s.List(ctx, list, client.InNamespace(ns)) != nil {
		return
	}
	for i := range list.Items {
		m := &list.Items[i]
		if !m.GetDeletionTimestamp().IsZero() {
			if controllerutil.RemoveFinalizer(m, awsMachineFinalizer) {
				_ = k8s.Update(ctx, m)
			}
			continue
		}
		if ownerMachine(m) == "" {
			continue
		}
		if controllerutil.AddFinalizer(m, awsMachineFinalizer) {
			if k8s.Update(ctx, m) != nil {
				continue
			}
		}
		if ready, _, _ := unstructured.NestedBool(m.Object, "status", "ready"); ready {
			continue
		}
		id, _, _ := unstructured.NestedString(m.Object, "spec", "providerID")
		dns, _ := privateDNS.Load(id)
		m.Object["status"] = map[string]any{
			"ready": true, "instanceState": "running",
			"addresses": []any{
				map[string]any{"type": string(corev1.NodeInternalIP), "address": "10.0.0.10"},
				map[string]any{"type": string(corev1.NodeInternalDNS), "address": dns},
			},
			"conditions": conditionsV1beta1("Ready", "InstanceReady"),
		}
		_ = k8s.Status().Update(ctx, m)
	}
}

var _ = Describe("AWSMachinePool with CAPA's MachinePoolMachines feature gate on", func() {
	It("keeps one Machine per AWSMachine CAPA creates for an instance, through scale-up, scale-in and deletion", func() {
		t := applyTemplate(awsTemplate("cluster-template-machinepool.yaml"))
		w, pool := t.world, t.pool
		c := awsMachinePoolCloud(w, t.infra.GetName(), pool, true)
		playAWSMachineController(w)

		lifecycle(c, func(running []instance) {
			nodeOf := map[string]string{}
			for _, in := range running {
				nodeOf[in.providerID] = in.node
			}
			Eventually(func(g Gomega) {
				list := &unstructured.UnstructuredList{}
				list.SetGroupVersionKind(awsMachineGVK.GroupVersion().WithKind("AWSMachineList"))
				g.Expect(k8s.List(ctx, list, client.InNamespace(w.ns))).To(Succeed())
				g.Expect(list.Items).To(HaveLen(len(running)), "one AWSMachine per instance")
				machines := map[string]capi.Machine{}
				for _, m := range w.machines(g) {
					machines[m.Name] = m
				}
				g.Expect(machines).To(HaveLen(len(running)), "one Machine per AWSMachine")
				for i := range list.Items {
					am := &list.Items[i]
					id, _, _ := unstructured.NestedString(am.Object, "spec", "providerID")
					// The AWSMachine: CAPA's plain owner reference to the pool, our Machine its controller.
					g.Expect(ownerKinds(am)).To(Equal([]string{"AWSMachinePool", "Machine"}))
					g.Expect(controllerOf(am)).To(Equal("Machine " + am.GetName()))
					// The Machine: named after it, controlled by the MachinePool, labelled as Cluster API labels it,
					// referencing it in the version CAPA serves, with its instance's provider ID and Node.
					m, ok := machines[am.GetName()]
					g.Expect(ok).To(BeTrue(), "Machine %s", am.GetName())
					g.Expect(controllerOf(&m)).To(Equal("MachinePool " + pool.Name))
					g.Expect(m.Labels).To(And(HaveKeyWithValue(corev1beta1.MachinePoolNameLabel, pool.Name),
						HaveKeyWithValue(corev1beta1.ClusterNameLabel, w.cluster)))
					g.Expect(m.Spec.InfrastructureRef).To(And(HaveField("APIVersion", "infrastructure.cluster.x-k8s.io/v1beta2"),
						HaveField("Kind", "AWSMachine"), HaveField("Name", am.GetName())))
					g.Expect(m.Spec.ProviderID).To(HaveValue(Equal(id)))
					g.Expect(m.Status.NodeRef).To(HaveField("Name", nodeOf[id]))
					g.Expect(m.Status.Phase).To(Equal(capi.MachinePhaseRunning))
					// The Node names its Machine, where the cluster-autoscaler looks it up.
					n := &corev1.Node{}
					g.Expect(nodes.Get(ctx, client.ObjectKey{Name: nodeOf[id]}, n)).To(Succeed())
					g.Expect(n.Annotations).To(HaveKeyWithValue(corev1beta1.MachineAnnotation, m.Name))
				}
			}).Should(Succeed())
			Eventually(func(g Gomega) corev1beta1.Conditions { return pool.v1beta1(g).Status.Conditions }).
				Should(ContainElement(And(HaveField("Type", corev1beta1.MachinesCreatedCondition), HaveField("Status", corev1.ConditionTrue))))
		})

		By("the pool's Machines and AWSMachines are gone with it")
		Eventually(func(g Gomega) { g.Expect(w.machines(g)).To(BeEmpty()) }).Should(Succeed())
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(awsMachineGVK.GroupVersion().WithKind("AWSMachineList"))
		Eventually(func(g Gomega) []unstructured.Unstructured {
			g.Expect(k8s.List(ctx, list, client.InNamespace(w.ns))).To(Succeed())
			return list.Items
		}).Should(BeEmpty())
	})
})
