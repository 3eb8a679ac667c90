package main_test

import (
	"bufio"
	"encoding/json"
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// auditEvent is what the specs read of one audit log line.
type auditEvent struct {
	Verb       string    `json:"verb"`
	Stage      string    `json:"stage"`
	RequestURI string    `json:"requestURI"`
	UserAgent  string    `json:"userAgent"`
	Received   time.Time `json:"requestReceivedTimestamp"`
	User       struct {
		Username string `json:"username"`
	} `json:"user"`
	Object struct {
		Resource  string `json:"resource"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"objectRef"`
}

// auditPolicy writes at path a policy that logs the requests of the given users at the Metadata level, and
// nothing else; it returns path.
func auditPolicy(policy string, users ...string) string {
	GinkgoHelper()
	raw, err := json.Marshal(users)
	Expect(err).NotTo(HaveOccurred())
	Expect(os.WriteFile(policy, []byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n"+
		"- level: Metadata\n  users: "+string(raw)+"\n- level: None\n"), 0o600)).To(Succeed())
	return policy
}

// withAuditLog makes env's API server write the audit log at path (JSON, batched every second) under policy.
func withAuditLog(env *envtest.Environment, path, policy string) {
	env.ControlPlane.GetAPIServer().Configure().Set("audit-log-path", path).Set("audit-policy-file", policy).
		Set("audit-log-format", "json").Set("audit-log-mode", "batch").Set("audit-log-batch-max-wait", "1s")
}

// auditEvents reads the events of an audit log received since a moment; a log not written yet has none.
func auditEvents(path string, since time.Time) []auditEvent {
	GinkgoHelper()
	f, err := os.Open(path) //nolint:gosec // the suite's own log
	if os.IsNotExist(err) {
		return nil
	}
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = f.Close() }()
	var out []auditEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e auditEvent
		if json.Unmarshal(sc.Bytes(), &e) == nil && !e.Received.Before(since) {
			out = append(out, e)
		}
	}
	return out
}
