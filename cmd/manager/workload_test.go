package main_test

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// auditCounts counts countedUser's requests in the workload API server's audit log since a moment: Node lists,
// Node watches (when they start) and health probes (GET /readyz). client-go streams a watch's initial list
// (sendInitialEvents) where the API server supports it, as this one does: then a cache costs one watch, no list.
func auditCounts(since time.Time) (lists, watches, probes int) {
	GinkgoHelper()
	for _, e := range auditEvents(workloadAudit, since) {
		switch {
		case e.User.Username != countedUser:
		case e.Verb == "list" && e.Object.Resource == "nodes" && e.Stage == "ResponseComplete":
			lists++
		case e.Verb == "watch" && e.Object.Resource == "nodes" && e.Stage == "ResponseStarted":
			watches++
		case strings.HasPrefix(e.RequestURI, "/readyz") && e.Stage == "ResponseComplete":
			probes++
		}
	}
	return lists, watches, probes
}

// auditedKubeconfig is a workload cluster kubeconfig of one of the users whose requests the audit log records
// (countedUser, shardedUser).
func auditedKubeconfig(name string) []byte {
	GinkgoHelper()
	user, err := workloadEnv.AddUser(envtest.User{Name: name, Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	raw, err := user.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	return raw
}

var _ = Describe("the manager's client of a workload cluster", func() {
	It("is one for all controllers: one Node list and watch and one health probe loop per workload cluster", func() {
		counted := auditedKubeconfig(countedUser)
		start := time.Now()
		startManager() // every controller: machinepool, machinepoolmachine (Cluster API's Machine CRD is served), simmachinepool
		ns, pool := newSimWorldWith(2, counted)
		Eventually(poolStatusOf(pool)).WithTimeout(60 * time.Second).Should(runningWith(2))
		Eventually(func() []any {
			list := &unstructured.UnstructuredList{}
			list.SetAPIVersion("cluster.x-k8s.io/v1beta1")
			list.SetKind("MachineList")
			Expect(k8s.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			var phases []any
			for _, m := range list.Items {
				phases = append(phases, m.Object["status"].(map[string]any)["phase"])
			}
			return phases
		}).WithTimeout(60*time.Second).Should(And(HaveLen(2), HaveEach("Running")), "the machinepoolmachine controller reads the cluster too")

		By("letting the health probes (every 10 s) run a few times")
		Eventually(func() int { _, _, probes := auditCounts(start); return probes }).WithTimeout(60 * time.Second).
			WithPolling(time.Second).Should(BeNumerically(">=", 2))
		elapsed := time.Since(start)
		lists, watches, probes := auditCounts(start)
		Expect(watches).To(Equal(1), "one Node watch, held for the whole run")
		Expect(lists).To(BeNumerically("<=", 1), "at most one Node list, before the watch")
		Expect(probes).To(BeNumerically("<=", int(elapsed/(10*time.Second))+1), "one probe loop in %s", elapsed)
	})
})
