package faults_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/cloud/sim"
	"github.com/machinepool-operator/machinepool-operator/internal/controller/simmachinepool"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

// simWorld is a MachinePool and its SimMachinePool reconciled against the real simulated cloud, whose kubelets
// run and register their Nodes in the test's API server, which doubles as the workload cluster.
type simWorld struct {
	r   *simmachinepool.Reconciler
	smp *infrav1beta1.SimMachinePool
}

func newSimWorld(replicas int32, simulation *infrav1beta1.Simulation) *simWorld {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "simulated-faults-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	kubeconfig, err := admin.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "demo-kubeconfig"},
		Data: map[string][]byte{"value": kubeconfig}})).To(Succeed())
	Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "workers-data"},
		Data: map[string][]byte{"value": []byte("#cloud-config\n")}})).To(Succeed())

	worldCtx, stop := context.WithCancel(ctx)
	DeferCleanup(stop)
	tracker := workload.NewTracker(k8s, scheme, workload.Options{})
	simCloud := sim.New(&sim.ConfigMapStore{Client: k8s}, sim.WithKubelets(sim.KubeletOptions{Workload: tracker, Secrets: k8s, Heartbeat: 5 * time.Second}))
	go func() { _ = tracker.Start(worldCtx) }()
	go func() { _ = simCloud.Start(worldCtx) }()

	w := &simWorld{r: &simmachinepool.Reconciler{Client: k8s, APIReader: k8s, Cloud: simCloud, Workload: tracker}}
	mp := &corev1beta1.MachinePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "workers"},
		Spec: corev1beta1.MachinePoolSpec{ClusterName: "demo", Replicas: ptr.To(replicas),
			Template: corev1beta1.MachineTemplateSpec{Spec: corev1beta1.MachineSpec{
				ClusterName: "demo", Version: ptr.To("v1.30.0"),
				Bootstrap:         corev1beta1.Bootstrap{DataSecretName: ptr.To("workers-data")},
				InfrastructureRef: corev1.ObjectReference{APIVersion: infrav1beta1.GroupVersion.String(), Kind: "SimMachinePool", Name: "workers"},
			}}},
	}
	Expect(k8s.Create(ctx, mp)).To(Succeed())
	w.smp = &infrav1beta1.SimMachinePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "workers", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: corev1beta1.GroupVersion.String(), Kind: "MachinePool", Name: "workers", UID: mp.UID, Controller: ptr.To(true),
		}}},
		Spec: infrav1beta1.SimMachinePoolSpec{InstanceType: "sim.small", Simulation: simulation},
	}
	Expect(k8s.Create(ctx, w.smp)).To(Succeed())
	return w
}

// reconcile runs one pass of the controller.
func (w *simWorld) reconcile() error {
	_, err := w.r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(w.smp)})
	return err
}

// setFaults sets spec.simulation.faults as a user would, with a merge patch (null removes them).
func (w *simWorld) setFaults(faults string) {
	GinkgoHelper()
	patch := fmt.Sprintf(`{"spec": {"simulation": {"faults": %s}}}`, faults)
	Expect(k8s.Patch(ctx, w.smp, client.RawPatch(client.Merge.Type(), []byte(patch)))).To(Succeed())
	Expect(w.reconcile()).To(Succeed())
}

// readyOf is a Node's Ready condition (zero when the Node or the condition is missing).
func readyOf(name string) corev1.NodeCondition {
	n := &corev1.Node{}
	if err := k8s.Get(ctx, client.ObjectKey{Name: name}, n); err != nil {
		return corev1.NodeCondition{}
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c
		}
	}
	return corev1.NodeCondition{}
}

func readyStatus(name string) func() corev1.ConditionStatus {
	return func() corev1.ConditionStatus { return readyOf(name).Status }
}

// faultStarts are the first-seen times the simulated cloud recorded in its state ConfigMap.
func faultStarts(ns string) map[string]time.Time {
	GinkgoHelper()
	cm := &corev1.ConfigMap{}
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: sim.ConfigMapName("workers")}, cm)).To(Succeed())
	var state struct {
		FaultStarts map[string]time.Time `json:"faultStarts"`
	}
	Expect(json.Unmarshal([]byte(cm.Data["state"]), &state)).To(Succeed())
	return state.FaultStarts
}

var _ = Describe("SimMachinePool controller with faults injected through spec.simulation", func() {
	It("turns exactly the listed instance's Node Unknown after the grace period, and Ready again once the fault is removed", func() {
		w := newSimWorld(3, &infrav1beta1.Simulation{BootDelay: &metav1.Duration{}, NodeMonitorGracePeriod: &metav1.Duration{Duration: 2 * time.Second}})
		var ids []string
		Eventually(func(g Gomega) {
			g.Expect(w.reconcile()).To(Succeed())
			got := &infrav1beta1.SimMachinePool{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(w.smp), got)).To(Succeed())
			g.Expect(got.Status.ReadyReplicas).To(Equal(int32(3)))
			ids = nil
			for _, in := range got.Status.Instances {
				ids = append(ids, in.ID)
				g.Expect(readyOf(in.ID).Status).To(Equal(corev1.ConditionTrue), "Node %s", in.ID)
			}
		}).Should(Succeed())
		Expect(ids).To(HaveLen(3))
		stopped, healthy := ids[1], []string{ids[0], ids[2]}

		w.setFaults(fmt.Sprintf(`[{"type": "KubeletStopped", "instances": [%q]}]`, stopped))
		starts := faultStarts(w.smp.Namespace)
		start, recorded := starts["KubeletStopped:"+stopped]
		Expect(recorded).To(BeTrue(), "the cloud records when it first saw the fault: %v", starts)

		Eventually(readyStatus(stopped)).Should(Equal(corev1.ConditionUnknown))
		c := readyOf(stopped)
		Expect(c.Reason).To(Equal("NodeStatusUnknown"))
		Expect(c.LastTransitionTime.Time).To(BeTemporally("==", start.Add(2*time.Second).Truncate(time.Second)),
			"Unknown from the recorded start plus the 2s grace (in the API's whole seconds)")
		Expect(time.Now()).To(BeTemporally(">=", start.Add(2*time.Second)), "not before the grace period ended")
		Consistently(func(g Gomega) {
			for _, id := range healthy {
				g.Expect(readyOf(id).Status).To(Equal(corev1.ConditionTrue), "Node %s is not hit", id)
			}
			g.Expect(readyOf(stopped).Status).To(Equal(corev1.ConditionUnknown))
		}, "3s", "200ms").Should(Succeed())

		// The health of the pool as the controller reports it follows the Node.
		Eventually(func(g Gomega) {
			g.Expect(w.reconcile()).To(Succeed())
			got := &infrav1beta1.SimMachinePool{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(w.smp), got)).To(Succeed())
			g.Expect(got.Status.ReadyReplicas).To(Equal(int32(2)))
		}).Should(Succeed())

		w.setFaults("null")
		Expect(faultStarts(w.smp.Namespace)).To(BeEmpty(), "a removed fault is forgotten")
		Eventually(readyStatus(stopped)).Should(Equal(corev1.ConditionTrue))
		Expect(readyOf(stopped).LastTransitionTime.Time).To(BeTemporally(">", c.LastTransitionTime.Time), "a new transition")
		Expect(readyOf(stopped).Reason).To(Equal("KubeletReady"))
		for _, id := range healthy {
			Expect(readyOf(id).Status).To(Equal(corev1.ConditionTrue))
		}
	})

	It("refuses faults the simulated cloud cannot apply, saying why", func() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "simulated-faults-"}}
		Expect(k8s.Create(ctx, ns)).To(Succeed())
		create := func(simulation string) error {
			raw := fmt.Sprintf(`{"apiVersion": %q, "kind": "SimMachinePool", "metadata": {"namespace": %q, "generateName": "bad-"}, "spec": {"simulation": %s}}`,
				infrav1beta1.GroupVersion.String(), ns.Name, simulation)
			obj := &unstructured.Unstructured{} // as kubectl sends it: fields left out stay out
			Expect(obj.UnmarshalJSON([]byte(raw))).To(Succeed())
			return k8s.Create(ctx, obj)
		}
		for _, tc := range []struct{ simulation, field, message string }{
			{`{"faults": [{"type": "NotReady", "startTime": "soon"}]}`, "spec.simulation.faults[0].startTime", "must be of type date-time"},
			{`{"nodeMonitorGracePeriod": "forty seconds"}`, "spec.simulation.nodeMonitorGracePeriod", "must be a duration that is not negative"},
			{`{"faults": [{"type": "Crash"}]}`, "spec.simulation.faults[0].type", `supported values: "KubeletStopped", "NotReady", "NeverRegisters"`},
			{`{"faults": [{"instances": ["abcdef-1"]}]}`, "spec.simulation.faults[0].type", "Required value"},
			{`{"faults": [{"type": "NotReady", "instances": ["sim://local/workers/abcdef-1"]}]}`, "spec.simulation.faults[0].instances[0]",
				`must be an instance ID of the simulated cloud, such as "mzxw6y-3"`},
			{`{"faults": [{"type": "NotReady", "instances": ["abcdef-1", "abcdef-1"]}]}`, "spec.simulation.faults[0].instances[1]", "Duplicate value"},
			{`{"faults": [` + strings.Repeat(`{"type": "NotReady"},`, 16) + `{"type": "NotReady"}]}`, "spec.simulation.faults", "must have at most 16 items"},
			{`{"nodeMonitorGracePeriod": "-1s"}`, "spec.simulation.nodeMonitorGracePeriod", `must be a duration that is not negative, such as "40s"`},
		} {
			err := create(tc.simulation)
			GinkgoWriter.Printf("%s\n  -> %v\n", tc.simulation, err)
			Expect(err).To(HaveOccurred(), "%s", tc.simulation)
			Expect(err.Error()).To(And(ContainSubstring(tc.field), ContainSubstring(tc.message)), "%s", tc.simulation)
		}
		Expect(create(`{"nodeMonitorGracePeriod": "2s", "faults": [{"type": "KubeletStopped", "instances": ["abcdef-1", "abcdef-12"], "startTime": "2026-01-02T15:04:05Z"}, {"type": "NeverRegisters"}]}`)).To(Succeed())
	})
})
