package drain_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/machinepool-operator/machinepool-operator/internal/drain"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

// Drains run against a real API server (envtest), reached as a workload cluster through the Tracker as the
// controllers reach it. No kubelet runs: a Pod being deleted stays until the spec finishes it, as a kubelet
// would, and PodDisruptionBudgets have no disruption controller, so one with a status allowing no disruption
// holds its Pods back.
var (
	env    *envtest.Environment
	k8s    client.Client
	wc     *workload.Cluster
	ctx    context.Context
	cancel context.CancelFunc
)

func TestDrain(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(20 * time.Second)
	RunSpecs(t, "drain Suite")
}

var _ = BeforeSuite(func() {
	ctx, cancel = context.WithCancel(context.Background())
	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	env = &envtest.Environment{}
	cfg, err := env.Start()
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	kubeconfig, err := admin.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "self-kubeconfig"},
		Data: map[string][]byte{"value": kubeconfig}})).To(Succeed())
	tracker := workload.NewTracker(k8s, scheme, workload.Options{})
	go func() { _ = tracker.Start(ctx) }()
	wc, err = tracker.Get(ctx, types.NamespacedName{Namespace: "default", Name: "self"}, "drain tests", "")
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// newNode registers a Node and returns it.
func newNode() *corev1.Node {
	GinkgoHelper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{GenerateName: "drain-"}}
	Expect(k8s.Create(ctx, n)).To(Succeed())
	return n
}

// pod runs a Pod on the Node; change may alter it before it is created.
func pod(node *corev1.Node, name string, change ...func(*corev1.Pod)) *corev1.Pod {
	GinkgoHelper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: node.Name + "-" + name, Labels: map[string]string{"node": node.Name}},
		Spec: corev1.PodSpec{NodeName: node.Name, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	for _, c := range change {
		c(p)
	}
	Expect(k8s.Create(ctx, p)).To(Succeed())
	return p
}

// finish removes the Node's terminating Pods for good, as their kubelet would once the containers stopped.
func finish(node *corev1.Node) {
	GinkgoHelper()
	pods := &corev1.PodList{}
	Expect(k8s.List(ctx, pods, client.MatchingLabels{"node": node.Name})).To(Succeed())
	for i := range pods.Items {
		if !pods.Items[i].DeletionTimestamp.IsZero() {
			Expect(client.IgnoreNotFound(k8s.Delete(ctx, &pods.Items[i], client.GracePeriodSeconds(0)))).To(Succeed())
		}
	}
}

func deleting(p *corev1.Pod) func() bool {
	return func() bool {
		got := &corev1.Pod{}
		err := k8s.Get(ctx, client.ObjectKeyFromObject(p), got)
		return apierrors.IsNotFound(err) || !got.DeletionTimestamp.IsZero()
	}
}

func fresh(n *corev1.Node) *corev1.Node {
	GinkgoHelper()
	got := &corev1.Node{}
	Expect(k8s.Get(ctx, client.ObjectKeyFromObject(n), got)).To(Succeed())
	return got
}

var _ = Describe("Node", func() {
	It("cordons, evicts the Pods it should, waits for them, and leaves DaemonSet, mirror and finished Pods alone", func() {
		n := newNode()
		app := pod(n, "app")
		daemon := pod(n, "daemon", func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "ds", UID: "u1", Controller: ptr.To(true)}}
		})
		mirror := pod(n, "mirror", func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"} })
		done := pod(n, "done")
		done.Status.Phase = corev1.PodSucceeded
		Expect(k8s.Status().Update(ctx, done)).To(Succeed())

		node := fresh(n)
		res, err := drain.Node(ctx, wc, node, drain.Options{})
		Expect(err).NotTo(HaveOccurred())
		Expect(res).To(And(HaveField("Done", false), HaveField("Waiting", 1), HaveField("Blocked", 0)))
		stored := fresh(n)
		Expect(stored.Spec.Unschedulable).To(BeTrue())
		Expect(stored.Annotations).To(HaveKey(drain.StartedAnnotation))
		Eventually(deleting(app)).Should(BeTrue())
		for _, p := range []*corev1.Pod{daemon, mirror, done} {
			Expect(deleting(p)()).To(BeFalse(), p.Name)
		}

		By("waiting while the evicted Pod terminates, done once it is gone")
		res, err = drain.Node(ctx, wc, fresh(n), drain.Options{})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Done).To(BeFalse())
		finish(n)
		res, err = drain.Node(ctx, wc, fresh(n), drain.Options{})
		Expect(err).NotTo(HaveOccurred())
		Expect(res).To(And(HaveField("Done", true), HaveField("Waiting", 0)))
		Expect(res.Started.Format(time.RFC3339)).To(Equal(stored.Annotations[drain.StartedAnnotation]), "the start is kept across calls")
	})

	It("counts Pods a PodDisruptionBudget holds back, and gives up after the timeout measured from the recorded start", func() {
		n := newNode()
		held := pod(n, "held", func(p *corev1.Pod) { p.Labels["app"] = "guarded" })
		// A PodDisruptionBudget guards only Pods that run Ready; others may always be evicted.
		held.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		Expect(k8s.Status().Update(ctx, held)).To(Succeed())
		pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: n.Name},
			Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1)),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "guarded", "node": n.Name}}}}
		Expect(k8s.Create(ctx, pdb)).To(Succeed())
		pdb.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, DisruptionsAllowed: 0, CurrentHealthy: 1,
			DesiredHealthy: 1, ExpectedPods: 1}
		Expect(k8s.Status().Update(ctx, pdb)).To(Succeed())

		res, err := drain.Node(ctx, wc, fresh(n), drain.Options{Timeout: time.Hour})
		Expect(err).NotTo(HaveOccurred())
		Expect(res).To(And(HaveField("Done", false), HaveField("Waiting", 1), HaveField("Blocked", 1)))
		Expect(deleting(held)()).To(BeFalse())

		By("a drain that began two hours ago (a restarted manager reads the start from the Node)")
		node := fresh(n)
		node.Annotations[drain.StartedAnnotation] = time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)
		Expect(k8s.Update(ctx, node)).To(Succeed())
		res, err = drain.Node(ctx, wc, fresh(n), drain.Options{Timeout: time.Hour})
		Expect(err).NotTo(HaveOccurred())
		Expect(res).To(And(HaveField("Done", true), HaveField("TimedOut", true), HaveField("Blocked", 1)))
	})

	It("does not wait for terminating Pods on an unreachable Node", func() {
		n := newNode()
		p := pod(n, "app")
		Expect(k8s.Delete(ctx, p)).To(Succeed()) // graceful: it stays terminating, no kubelet finishes it
		Eventually(deleting(p)).Should(BeTrue())

		res, err := drain.Node(ctx, wc, fresh(n), drain.Options{})
		Expect(err).NotTo(HaveOccurred())
		Expect(res).To(And(HaveField("Done", false), HaveField("Waiting", 1)), "a reachable Node's kubelet finishes it: wait")
		res, err = drain.Node(ctx, wc, fresh(n), drain.Options{Unreachable: true})
		Expect(err).NotTo(HaveOccurred())
		Expect(res).To(And(HaveField("Done", true), HaveField("Waiting", 0)))
	})
})
