package workload_test

import (
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

// newCluster creates a namespace with the kubeconfig Secret of a workload cluster named "demo", and a Tracker
// that ends with the spec.
func newCluster() (types.NamespacedName, *workload.Tracker) {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "wl-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "demo-kubeconfig"},
		Data: map[string][]byte{corev1beta1.KubeconfigDataKey: kubeconfig}})).To(Succeed())
	t := workload.NewTracker(k8s, scheme, workload.Options{})
	done := make(chan struct{})
	go func() { defer close(done); _ = t.Start(ctx) }()
	DeferCleanup(func() { t.Release("a"); t.Release("b") })
	return types.NamespacedName{Namespace: ns.Name, Name: "demo"}, t
}

// secretVersion returns the resourceVersion of the cluster's kubeconfig Secret.
func secretVersion(cluster types.NamespacedName) string {
	GinkgoHelper()
	s := &corev1.Secret{}
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: cluster.Namespace, Name: workload.KubeconfigSecretName(cluster.Name)}, s)).To(Succeed())
	return s.ResourceVersion
}

var _ = Describe("the Tracker", func() {
	It("shares one client among its users and keeps it until the last of them lets go", func() {
		cluster, t := newCluster()
		a, err := t.Get(ctx, cluster, "a", "")
		Expect(err).NotTo(HaveOccurred())
		b, err := t.Get(ctx, cluster, "b", secretVersion(cluster))
		Expect(err).NotTo(HaveOccurred())
		Expect(b).To(BeIdenticalTo(a), "one client per cluster")
		Expect(t.Users(cluster)).To(Equal(2))

		t.Release("a")
		Expect(t.Lookup(cluster)).To(BeIdenticalTo(a), "b still holds it")
		Expect(t.Users(cluster)).To(Equal(1))
		Expect(a.Healthy()).To(Succeed())
		Expect(a.List(ctx, &corev1.NodeList{})).To(Succeed(), "the client still works for b")

		t.Release("b")
		Expect(t.Lookup(cluster)).To(BeNil(), "torn down with its last user")
		Expect(t.Users(cluster)).To(BeZero())
	})

	It("rebuilds a client only when its kubeconfig Secret changes, keeping its users", func() {
		cluster, t := newCluster()
		first, err := t.Get(ctx, cluster, "a", secretVersion(cluster))
		Expect(err).NotTo(HaveOccurred())
		again, err := t.Get(ctx, cluster, "b", "")
		Expect(err).NotTo(HaveOccurred())
		Expect(again).To(BeIdenticalTo(first), "any version is good enough for a user that does not watch the Secret")

		s := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: cluster.Namespace, Name: "demo-kubeconfig"}, s)).To(Succeed())
		s.Labels = map[string]string{"rotated": "yes"}
		Expect(k8s.Update(ctx, s)).To(Succeed())
		rebuilt, err := t.Get(ctx, cluster, "a", s.ResourceVersion)
		Expect(err).NotTo(HaveOccurred())
		Expect(rebuilt).NotTo(BeIdenticalTo(first))
		Expect(t.Lookup(cluster)).To(BeIdenticalTo(rebuilt), "every user gets the new client")
		Expect(t.Users(cluster)).To(Equal(2))
	})

	It("says when the kubeconfig Secret does not exist, and holds nothing for a user that never got a client", func() {
		_, t := newCluster()
		missing := types.NamespacedName{Namespace: "default", Name: "nowhere"}
		_, err := t.Get(ctx, missing, "a", "")
		Expect(err).To(MatchError(workload.ErrNoKubeconfig))
		t.Release("a")
		Expect(t.Users(missing)).To(BeZero())
	})

	It("tells every subscriber about Node changes, and watchers about the kinds they asked for", func() {
		cluster, t := newCluster()
		var mu sync.Mutex
		seen := map[string][]string{}
		record := func(who string) func(types.NamespacedName, string) {
			return func(c types.NamespacedName, name string) {
				if c != cluster {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				seen[who] = append(seen[who], name)
			}
		}
		nodeHandler := func(who string) workload.Handler {
			r := record(who)
			return func(c types.NamespacedName, n *corev1.Node) {
				if n != nil {
					r(c, n.Name)
				}
			}
		}
		t.Subscribe(nodeHandler("first"))
		t.Subscribe(nodeHandler("second"))
		pods := record("pods")
		t.Watch(&corev1.Pod{}, func(c types.NamespacedName, o client.Object) { pods(c, o.GetName()) })
		_, err := t.Get(ctx, cluster, "a", "")
		Expect(err).NotTo(HaveOccurred())

		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: cluster.Namespace + "-n1"}}
		Expect(k8s.Create(ctx, node)).To(Succeed())
		DeferCleanup(func() { _ = k8s.Delete(ctx, node) })
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: cluster.Namespace, Name: "p1"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}}
		Expect(k8s.Create(ctx, pod)).To(Succeed())

		got := func(who string) func() []string {
			return func() []string {
				mu.Lock()
				defer mu.Unlock()
				return append([]string(nil), seen[who]...)
			}
		}
		Eventually(got("first")).Should(ContainElement(node.Name))
		Eventually(got("second")).Should(ContainElement(node.Name))
		Eventually(got("pods")).Should(ContainElement("p1"))
	})
})
