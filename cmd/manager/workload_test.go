package main_test

import (
	"bufio"
	"encoding/json"
	"os"
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
	f, err := os.Open(workloadAudit)
	if os.IsNotExist(err) {
		return 0, 0, 0
	}
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e struct {
			Verb       string    `json:"verb"`
			Stage      string    `json:"stage"`
			RequestURI string    `json:"requestURI"`
			Received   time.Time `json:"requestReceivedTimestamp"`
			Object     struct {
				Resource string `json:"resource"`
			} `json:"objectRef"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Received.Before(since) {
			continue
		}
		switch {
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

var _ = Describe("the manager's client of a workload cluster", func() {
	It("is one for all controllers: one Node list and watch and one health probe loop per workload cluster", func() {
		user, err := workloadEnv.AddUser(envtest.User{Name: countedUser, Groups: []string{"system:masters"}}, nil)
		Expect(err).NotTo(HaveOccurred())
		counted, err := user.KubeConfig()
		Expect(err).NotTo(HaveOccurred())

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
