package sim

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/machinepool-operator/machinepool-operator/internal/cloud"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

// kubeletWorld is one scaling group whose kubelets join the test's API server as its workload cluster. The
// kubelets' loop does not run: each step sets the cloud's clock and calls one sync, so every write and every
// scheduled next sync is a step's doing.
type kubeletWorld struct {
	ref     cloud.GroupRef
	clk     *clock
	c       *Cloud
	tracker *workload.Tracker
}

func newKubeletWorld(heartbeat time.Duration) *kubeletWorld {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "kubelets-"}}
	Expect(k8s.Create(bg, ns)).To(Succeed())
	admin, err := testEnv.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	kubeconfig, err := admin.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	Expect(k8s.Create(bg, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "demo-kubeconfig"},
		Data: map[string][]byte{"value": kubeconfig}})).To(Succeed())
	Expect(k8s.Create(bg, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "data"},
		Data: map[string][]byte{"value": []byte("#cloud-config\n")}})).To(Succeed())

	ctx, cancel := context.WithCancel(bg)
	DeferCleanup(cancel)
	w := &kubeletWorld{ref: cloud.GroupRef{Namespace: ns.Name, Name: "workers"}, clk: newClock()}
	w.tracker = workload.NewTracker(k8s, k8s.Scheme(), workload.Options{})
	go func() { _ = w.tracker.Start(ctx) }()
	w.c = New(&ConfigMapStore{Client: k8s}, WithClock(w.clk.now),
		WithKubelets(KubeletOptions{Workload: w.tracker, Secrets: k8s, Heartbeat: heartbeat}))
	DeferCleanup(w.c.kubelets.queue.ShutDown)
	return w
}

// ensure sets the group's desired count and spec.simulation (JSON), as the SimMachinePool controller does.
func (w *kubeletWorld) ensure(desired int32, simulation string) {
	GinkgoHelper()
	s := withRef(spec(desired, simulation), w.ref)
	s.Cluster = "demo"
	Expect(w.c.EnsureGroup(bg, s)).To(Succeed())
}

// sync runs the group's kubelets once at the clock's time and returns when they asked to run again. It waits
// until the kubelets' cached view of the Nodes has caught up with what they wrote, as it would have by the next
// sync of a real run.
func (w *kubeletWorld) sync() time.Duration {
	GinkgoHelper()
	after, err := w.c.kubelets.sync(bg, w.ref)
	Expect(err).NotTo(HaveOccurred())
	wc := w.tracker.Lookup(types.NamespacedName{Namespace: w.ref.Namespace, Name: "demo"})
	Expect(wc).NotTo(BeNil())
	for _, id := range w.ids() {
		Eventually(func() string {
			direct, cached := &corev1.Node{}, &corev1.Node{}
			if err := k8s.Get(bg, client.ObjectKey{Name: id}, direct); apierrors.IsNotFound(err) {
				return "absent"
			}
			if err := wc.Get(bg, client.ObjectKey{Name: id}, cached); err != nil {
				return err.Error()
			}
			if cached.ResourceVersion != direct.ResourceVersion {
				return fmt.Sprintf("cache at %s, server at %s", cached.ResourceVersion, direct.ResourceVersion)
			}
			return "in sync"
		}).Should(Or(Equal("absent"), Equal("in sync")), "Node %s in the kubelets' cache", id)
	}
	return after
}

// at moves the clock to t and syncs.
func (w *kubeletWorld) at(t time.Time) time.Duration {
	GinkgoHelper()
	w.clk.t = t
	return w.sync()
}

// ids are the group's instance IDs, oldest first.
func (w *kubeletWorld) ids() []string {
	GinkgoHelper()
	instances, err := w.c.Instances(bg, w.ref)
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, in := range instances {
		out = append(out, in.ID)
	}
	return out
}

// running counts the group's running instances.
func (w *kubeletWorld) running() int {
	GinkgoHelper()
	instances, err := w.c.Instances(bg, w.ref)
	Expect(err).NotTo(HaveOccurred())
	n := 0
	for _, in := range instances {
		if in.State == cloud.Running {
			n++
		}
	}
	return n
}

// node reads a Node from the API server; nil when it does not exist.
func node(name string) *corev1.Node {
	GinkgoHelper()
	n := &corev1.Node{}
	err := k8s.Get(bg, client.ObjectKey{Name: name}, n)
	if apierrors.IsNotFound(err) {
		return nil
	}
	Expect(err).NotTo(HaveOccurred())
	return n
}

// ready is a Node's Ready condition.
func ready(name string) corev1.NodeCondition {
	GinkgoHelper()
	n := node(name)
	Expect(n).NotTo(BeNil(), "Node %s", name)
	c := readyCondition(n)
	Expect(c).NotTo(BeNil(), "Node %s has no Ready condition", name)
	return *c
}

// withFaults is spec.simulation with a zero boot delay and the given faults (JSON) and extra settings.
func withFaults(list string, extra ...string) string {
	s := `{"bootDelay": "0s", "faults": [` + list + `]`
	for _, e := range extra {
		s += ", " + e
	}
	return s + "}"
}

const noFaults = `{"bootDelay": "0s"}`

var _ = Describe("Simulated kubelets with injected faults", func() {
	It("KubeletStopped on listed instances: nothing is written for the grace period, then each Node turns Unknown at start+40s, the same moment for all; removing the fault brings them back", func() {
		w := newKubeletWorld(10 * time.Second)
		t0 := w.clk.now()
		w.ensure(3, noFaults)
		w.sync()
		ids := w.ids()
		Expect(ids).To(HaveLen(3))
		for _, id := range ids {
			Expect(ready(id).Status).To(Equal(corev1.ConditionTrue))
		}

		// The fault has no startTime: it starts when the cloud first sees it.
		start := t0.Add(5 * time.Second)
		w.clk.t = start
		w.ensure(3, withFaults(fmt.Sprintf(`{"type": "KubeletStopped", "instances": [%q, %q]}`, ids[0], ids[1])))
		before := map[string]*corev1.Node{ids[0]: node(ids[0]), ids[1]: node(ids[1])}
		Expect(w.sync()).To(Equal(5*time.Second), "the healthy instance's heartbeat comes first")

		// Heartbeats of the stopped kubelets fall due at t0+10s and t0+20s: none is posted.
		for _, t := range []time.Time{start.Add(5 * time.Second), start.Add(15 * time.Second), start.Add(39 * time.Second)} {
			after := w.at(t)
			Expect(after).To(BeNumerically("<=", start.Add(40*time.Second).Sub(t)), "a sync is due when the grace period ends")
			for id, was := range before {
				Expect(node(id).ResourceVersion).To(Equal(was.ResourceVersion), "Node %s was written at %s, during the grace period", id, t)
			}
			Expect(ready(ids[2]).LastHeartbeatTime.Time).To(BeTemporally(">", t0), "the healthy kubelet keeps posting")
		}

		unknownAt := start.Add(40 * time.Second)
		w.at(unknownAt.Add(300 * time.Millisecond))
		for id, was := range before {
			c := ready(id)
			Expect(c.Status).To(Equal(corev1.ConditionUnknown), "Node %s", id)
			Expect(c.Reason).To(Equal("NodeStatusUnknown"))
			Expect(c.Message).To(ContainSubstring("stopped posting node status"))
			Expect(c.LastTransitionTime.Time).To(BeTemporally("==", unknownAt), "Node %s turns Unknown exactly at start+grace", id)
			Expect(c.LastHeartbeatTime.Time).To(BeTemporally("==", readyCondition(was).LastHeartbeatTime.Time), "the last heartbeat stays")
		}
		Expect(ready(ids[2]).Status).To(Equal(corev1.ConditionTrue))

		// Nothing more is written while the fault lasts.
		unknown := node(ids[0]).ResourceVersion
		w.at(unknownAt.Add(time.Minute))
		Expect(node(ids[0]).ResourceVersion).To(Equal(unknown))

		// Removing the fault ends it: the kubelets post Ready again at once.
		back := unknownAt.Add(2 * time.Minute)
		w.clk.t = back
		w.ensure(3, noFaults)
		w.sync()
		for id := range before {
			c := ready(id)
			Expect(c.Status).To(Equal(corev1.ConditionTrue), "Node %s", id)
			Expect(c.LastTransitionTime.Time).To(BeTemporally("==", back), "a new transition")
			Expect(c.LastHeartbeatTime.Time).To(BeTemporally("==", back))
		}
	})

	It("KubeletStopped for the whole pool with a startTime and a custom grace: a sync is scheduled at the start and at its end, and instances launched later never register", func() {
		w := newKubeletWorld(time.Minute)
		t0 := w.clk.now()
		start := t0.Add(10 * time.Second)
		stopped := withFaults(fmt.Sprintf(`{"type": "KubeletStopped", "startTime": %q}`, start.Format(time.RFC3339)), `"nodeMonitorGracePeriod": "5s"`)
		w.ensure(2, stopped)
		Expect(w.sync()).To(Equal(10*time.Second), "the next sync is at the fault's start")
		ids := w.ids()
		for _, id := range ids {
			Expect(ready(id).Status).To(Equal(corev1.ConditionTrue), "before the start the kubelets post Ready")
		}
		Expect(w.at(start)).To(Equal(5*time.Second), "then at the end of the 5s grace period")
		Expect(w.at(start.Add(5*time.Second))).To(BeZero(), "then never: every kubelet of the pool is stopped, none has a heartbeat due")
		for _, id := range ids {
			c := ready(id)
			Expect(c.Status).To(Equal(corev1.ConditionUnknown), "Node %s", id)
			Expect(c.LastTransitionTime.Time).To(BeTemporally("==", start.Add(5*time.Second)))
		}

		// A new instance runs, but its stopped kubelet registers nothing.
		w.ensure(3, stopped)
		w.sync()
		Expect(w.running()).To(Equal(3))
		Expect(node(w.ids()[2])).To(BeNil())
	})

	It("NotReady on a listed instance and on the whole pool: Ready=False from the start, Ready again once removed", func() {
		w := newKubeletWorld(10 * time.Second)
		w.ensure(2, noFaults)
		w.sync()
		ids := w.ids()

		w.clk.advance(time.Second)
		w.ensure(2, withFaults(fmt.Sprintf(`{"type": "NotReady", "instances": [%q]}`, ids[1])))
		w.sync()
		c := ready(ids[1])
		Expect(c.Status).To(Equal(corev1.ConditionFalse))
		Expect(c.Reason).To(Equal("KubeletNotReady"))
		Expect(c.LastTransitionTime.Time).To(BeTemporally("==", w.clk.now()))
		Expect(ready(ids[0]).Status).To(Equal(corev1.ConditionTrue), "an instance not listed is not hit")
		// The kubelet keeps posting NotReady with heartbeats.
		Expect(w.at(w.clk.now().Add(10 * time.Second))).To(BeNumerically(">", 0))
		Expect(ready(ids[1]).LastHeartbeatTime.Time).To(BeTemporally("==", w.clk.now()))
		Expect(ready(ids[1]).Status).To(Equal(corev1.ConditionFalse))

		w.clk.advance(time.Second)
		w.ensure(2, withFaults(`{"type": "NotReady"}`))
		w.sync()
		Expect(ready(ids[0]).Status).To(Equal(corev1.ConditionFalse), "a fault without instances hits the whole pool")
		Expect(ready(ids[1]).Status).To(Equal(corev1.ConditionFalse))

		w.clk.advance(time.Second)
		w.ensure(2, noFaults)
		w.sync()
		for _, id := range ids {
			c := ready(id)
			Expect(c.Status).To(Equal(corev1.ConditionTrue), "Node %s", id)
			Expect(c.LastTransitionTime.Time).To(BeTemporally("==", w.clk.now()))
		}
	})

	It("NeverRegisters for the whole pool keeps new instances' Nodes away while they run, leaves registered Nodes alone, and lets them register once removed", func() {
		w := newKubeletWorld(10 * time.Second)
		w.ensure(1, noFaults)
		w.sync()
		registered := w.ids()[0]
		Expect(ready(registered).Status).To(Equal(corev1.ConditionTrue))

		w.clk.advance(time.Second)
		w.ensure(3, withFaults(`{"type": "NeverRegisters"}`))
		w.at(w.clk.now().Add(30 * time.Second))
		ids := w.ids()
		Expect(w.running()).To(Equal(3))
		Expect(node(ids[1])).To(BeNil())
		Expect(node(ids[2])).To(BeNil())
		c := ready(registered)
		Expect(c.Status).To(Equal(corev1.ConditionTrue), "a Node registered before the start keeps posting")
		Expect(c.LastHeartbeatTime.Time).To(BeTemporally("==", w.clk.now()))

		w.ensure(3, noFaults)
		w.sync()
		for _, id := range ids {
			Expect(ready(id).Status).To(Equal(corev1.ConditionTrue), "Node %s", id)
		}
	})

	It("NeverRegisters for a listed instance hits only that one, launched after the fault was set", func() {
		w := newKubeletWorld(10 * time.Second)
		next := groupPrefix(w.ref) + "-2" // IDs are the group's prefix and its counter
		w.ensure(2, withFaults(fmt.Sprintf(`{"type": "NeverRegisters", "instances": [%q]}`, next)))
		w.sync()
		ids := w.ids()
		Expect(ids).To(Equal([]string{groupPrefix(w.ref) + "-1", next}))
		Expect(w.running()).To(Equal(2))
		Expect(ready(ids[0]).Status).To(Equal(corev1.ConditionTrue))
		Expect(node(next)).To(BeNil())
	})

	It("keeps the NeverReady test hook working", func() {
		w := newKubeletWorld(10 * time.Second)
		w.c.NeverReady(1)
		w.ensure(2, noFaults)
		w.sync()
		ids := w.ids()
		Expect(ready(ids[0]).Status).To(Equal(corev1.ConditionFalse))
		Expect(ready(ids[0]).Reason).To(Equal("KubeletNotReady"))
		Expect(ready(ids[1]).Status).To(Equal(corev1.ConditionTrue))
	})
})
