package main_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
)

var _ = Describe("the manager binary with the simulated cloud", func() {
	It("runs a SimMachinePool under the core controller to Running, and through scale up and down", func() {
		startManager() // every controller: machinepool and simmachinepool
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "sim-"}}
		Expect(k8s.Create(ctx, ns)).To(Succeed())
		// Cluster API's Cluster CRD is installed in this suite, so the pool waits for its Cluster; here the test
		// reports the Cluster's infrastructure ready, as Cluster API's cluster controller would.
		cluster := newObject("cluster.x-k8s.io/v1beta1", "Cluster", ns.Name, "local")
		Expect(k8s.Create(ctx, cluster)).To(Succeed())
		mergeStatus(cluster, map[string]any{"infrastructureReady": true})
		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "local-kubeconfig"},
			Data: map[string][]byte{"value": workloadKubeconfig}})).To(Succeed())
		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "pool-bootstrap"},
			Data: map[string][]byte{"value": []byte("#cloud-config\n")}})).To(Succeed())
		Expect(k8s.Create(ctx, &infrav1beta1.SimMachinePool{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "pool"},
			Spec: infrav1beta1.SimMachinePoolSpec{Simulation: &infrav1beta1.Simulation{
				BootDelay: &metav1.Duration{Duration: 200 * time.Millisecond},
			}},
		})).To(Succeed())
		pool := &corev1beta1.MachinePool{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "pool"},
			Spec: corev1beta1.MachinePoolSpec{ClusterName: "local", Replicas: ptr.To[int32](3),
				Template: corev1beta1.MachineTemplateSpec{Spec: corev1beta1.MachineSpec{
					ClusterName: "local", Version: ptr.To("v1.30.0"),
					Bootstrap:         corev1beta1.Bootstrap{DataSecretName: ptr.To("pool-bootstrap")},
					InfrastructureRef: corev1.ObjectReference{APIVersion: infrav1beta1.GroupVersion.String(), Kind: "SimMachinePool", Name: "pool", Namespace: ns.Name},
				}}},
		}
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		status := func() corev1beta1.MachinePoolStatus {
			got := &corev1beta1.MachinePool{}
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pool), got)).To(Succeed())
			return got.Status
		}
		running := func(n int32) OmegaMatcher {
			return And(HaveField("Phase", "Running"), HaveField("ReadyReplicas", n), HaveField("NodeRefs", HaveLen(int(n))))
		}
		Eventually(status).WithTimeout(60 * time.Second).Should(running(3))

		scale(pool, 5)
		Eventually(status).WithTimeout(60 * time.Second).Should(running(5))

		scale(pool, 2)
		Eventually(status).WithTimeout(60 * time.Second).Should(running(2))
		simNodes := func() int {
			list := &corev1.NodeList{}
			Expect(nodes.List(ctx, list)).To(Succeed())
			n := 0
			for _, node := range list.Items {
				if node.Annotations["cluster.x-k8s.io/cluster-namespace"] == ns.Name {
					n++
				}
			}
			return n
		}
		Eventually(simNodes).WithTimeout(60*time.Second).Should(Equal(2), "the Nodes of scaled-in instances are retired")
	})
})
