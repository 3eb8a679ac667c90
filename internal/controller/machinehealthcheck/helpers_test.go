package machinehealthcheck_test

import (
	"fmt"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
	"github.com/machinepool-operator/machinepool-operator/test/support"
)

const (
	// poolLabel is what the specs' health checks select Machines by.
	poolLabel = "example.com/pool"
	// clusterName is every world's cluster (a world has its own namespace, so its own workload client).
	clusterName = "c1"
	// timeout is the health checks' unhealthy-condition timeout.
	timeout = 2 * time.Second

	hcs = capi.HealthCheckSucceededCondition
	or  = capi.OwnerRemediatedCondition
	ra  = capi.RemediationAllowedCondition
)

// unknownFor is the message of a target whose Node has been Ready=Unknown past the timeout.
var unknownFor = fmt.Sprintf("Condition Ready on node is reporting status Unknown for more than %s", timeout)

// world is one spec's namespace, with a cluster named c1 whose kubeconfig Secret (when there is one) points at
// the workload control plane, directly or through a proxy.
type world struct {
	ns        string
	mhcs      []string
	nodeNames []string
}

// newWorld makes a namespace whose cluster's kubeconfig Secret reaches the workload control plane directly.
func newWorld() *world {
	GinkgoHelper()
	w := newBareWorld()
	w.kubeconfigSecret(workloadKubeconfig)
	return w
}

// newBareWorld makes a namespace without a kubeconfig Secret.
func newBareWorld() *world {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "mhc-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	w := &world{ns: ns.Name}
	DeferCleanup(w.cleanup)
	return w
}

// cleanup deletes the world's health checks (releasing their workload client) and its Nodes (cluster-scoped).
func (w *world) cleanup() {
	for _, name := range w.mhcs {
		_ = client.IgnoreNotFound(k8s.Delete(ctx, &capi.MachineHealthCheck{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name}}))
	}
	for _, name := range w.nodeNames {
		_ = client.IgnoreNotFound(nodes.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}))
	}
}

func (w *world) key() k8stypes.NamespacedName {
	return k8stypes.NamespacedName{Namespace: w.ns, Name: clusterName}
}

func (w *world) kubeconfigSecret(kubeconfig []byte) {
	GinkgoHelper()
	Expect(k8s.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: clusterName + corev1beta1.KubeconfigSecretSuffix},
		Data:       map[string][]byte{corev1beta1.KubeconfigDataKey: kubeconfig},
	})).To(Succeed())
}

// --- Nodes (workload cluster) ---

// nodeName is the workload Node of a world's short name.
func (w *world) nodeName(short string) string { return w.ns + "-" + short }

// node creates a Node whose Ready condition has had status since the given time, and returns its name.
func (w *world) node(short string, ready corev1.ConditionStatus, since time.Time) string {
	GinkgoHelper()
	name := w.nodeName(short)
	Expect(nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}})).To(Succeed())
	w.nodeNames = append(w.nodeNames, name)
	w.setReady(name, ready, since)
	return name
}

// setReady sets a Node's Ready condition, as a kubelet or the node lifecycle controller would.
func (w *world) setReady(name string, status corev1.ConditionStatus, since time.Time) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n := &corev1.Node{}
		if err := nodes.Get(ctx, client.ObjectKey{Name: name}, n); err != nil {
			return err
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status, Reason: "Test",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.NewTime(since)}}
		return nodes.Status().Update(ctx, n)
	})).To(Succeed())
}

// --- Machines ---

type machineOpt func(*capi.Machine)

// inPool selects which health check's selector matches the Machine (default "a").
func inPool(pool string) machineOpt {
	return func(m *capi.Machine) { m.Labels[poolLabel] = pool }
}

// ofCluster moves the Machine to another cluster (spec and label).
func ofCluster(name string) machineOpt {
	return func(m *capi.Machine) { m.Spec.ClusterName, m.Labels[corev1beta1.ClusterNameLabel] = name, name }
}

func annotated(key string) machineOpt {
	return func(m *capi.Machine) {
		if m.Annotations == nil {
			m.Annotations = map[string]string{}
		}
		m.Annotations[key] = ""
	}
}

// machine creates a Machine of pool "a" in cluster c1, with status.nodeRef naming node when it is not empty.
func (w *world) machine(name, node string, opts ...machineOpt) {
	GinkgoHelper()
	m := &capi.Machine{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name,
			Labels: map[string]string{corev1beta1.ClusterNameLabel: clusterName, poolLabel: "a"}},
		Spec: capi.MachineSpec{ClusterName: clusterName, InfrastructureRef: corev1.ObjectReference{
			APIVersion: "infrastructure.cluster.x-k8s.io/v1beta1", Kind: "SimMachine", Name: name}},
	}
	for _, o := range opts {
		o(m)
	}
	Expect(k8s.Create(ctx, m)).To(Succeed())
	if node != "" {
		w.machineStatus(name, func(s *capi.MachineStatus) {
			s.NodeRef = &corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: node}
		})
	}
}

// machineStatus changes a Machine's status with a merge patch, as Cluster API's Machine controller would.
func (w *world) machineStatus(name string, change func(*capi.MachineStatus)) {
	GinkgoHelper()
	m := w.getMachine(name)
	before := m.DeepCopy()
	change(&m.Status)
	Expect(k8s.Status().Patch(ctx, m, client.MergeFrom(before))).To(Succeed())
}

// updateMachine changes a Machine's metadata or spec.
func (w *world) updateMachine(name string, change func(*capi.Machine)) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		m := w.getMachine(name)
		change(m)
		return k8s.Update(ctx, m)
	})).To(Succeed())
}

func (w *world) getMachine(name string) *capi.Machine {
	GinkgoHelper()
	m := &capi.Machine{}
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: name}, m)).To(Succeed())
	return m
}

// cond returns a Machine's condition of type t (nil when absent).
func (w *world) cond(machine string, t corev1beta1.ConditionType) func() *corev1beta1.Condition {
	return func() *corev1beta1.Condition {
		GinkgoHelper()
		return conditions.Get(w.getMachine(machine).Status.Conditions, t)
	}
}

// markedConditions returns the types of the health check conditions a Machine carries.
func (w *world) markedConditions(machine string) func() []corev1beta1.ConditionType {
	return func() []corev1beta1.ConditionType {
		GinkgoHelper()
		var out []corev1beta1.ConditionType
		for _, c := range w.getMachine(machine).Status.Conditions {
			if c.Type == hcs || c.Type == or {
				out = append(out, c.Type)
			}
		}
		return out
	}
}

// marks returns, for those of the Machines that carry any, the health check conditions they carry.
func (w *world) marks(machines ...string) func() map[string][]corev1beta1.ConditionType {
	return func() map[string][]corev1beta1.ConditionType {
		GinkgoHelper()
		out := map[string][]corev1beta1.ConditionType{}
		for _, m := range machines {
			if c := w.markedConditions(m)(); len(c) > 0 {
				out[m] = c
			}
		}
		return out
	}
}

// --- MachineHealthChecks ---

type mhcOpt func(*capi.MachineHealthCheck)

// unlabelled leaves out the cluster-name label our (and Cluster API's) webhook defaults.
func unlabelled() mhcOpt {
	return func(hc *capi.MachineHealthCheck) { delete(hc.Labels, corev1beta1.ClusterNameLabel) }
}

func selecting(pool string) mhcOpt {
	return func(hc *capi.MachineHealthCheck) { hc.Spec.Selector.MatchLabels = map[string]string{poolLabel: pool} }
}

func maxUnhealthy(v intstr.IntOrString) mhcOpt {
	return func(hc *capi.MachineHealthCheck) { hc.Spec.MaxUnhealthy = &v }
}

func unhealthyRange(r string) mhcOpt {
	return func(hc *capi.MachineHealthCheck) { hc.Spec.UnhealthyRange = &r; hc.Spec.MaxUnhealthy = nil }
}

func nodeStartupTimeout(d time.Duration) mhcOpt {
	return func(hc *capi.MachineHealthCheck) { hc.Spec.NodeStartupTimeout = &metav1.Duration{Duration: d} }
}

func pausedMHC() mhcOpt {
	return func(hc *capi.MachineHealthCheck) {
		hc.Annotations = map[string]string{corev1beta1.PausedAnnotation: ""}
	}
}

// mhc creates a health check of cluster c1 selecting pool "a", unhealthy after Ready is Unknown or False for
// 2s, as the webhook would default it (cluster-name label, maxUnhealthy 100%, nodeStartupTimeout 10m).
func (w *world) mhc(name string, opts ...mhcOpt) {
	GinkgoHelper()
	hc := &capi.MachineHealthCheck{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name, Labels: map[string]string{corev1beta1.ClusterNameLabel: clusterName}},
		Spec: capi.MachineHealthCheckSpec{
			ClusterName: clusterName,
			Selector:    metav1.LabelSelector{MatchLabels: map[string]string{poolLabel: "a"}},
			UnhealthyConditions: []capi.UnhealthyCondition{
				{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Timeout: metav1.Duration{Duration: timeout}},
				{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Timeout: metav1.Duration{Duration: timeout}},
			},
			MaxUnhealthy:       ptr.To(intstr.FromString("100%")),
			NodeStartupTimeout: &metav1.Duration{Duration: capi.DefaultNodeStartupTimeout},
		},
	}
	for _, o := range opts {
		o(hc)
	}
	Expect(k8s.Create(ctx, hc)).To(Succeed())
	w.mhcs = append(w.mhcs, name)
}

func (w *world) getMHC(name string) *capi.MachineHealthCheck {
	GinkgoHelper()
	hc := &capi.MachineHealthCheck{}
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: name}, hc)).To(Succeed())
	return hc
}

func (w *world) updateMHC(name string, change func(*capi.MachineHealthCheck)) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		hc := w.getMHC(name)
		change(hc)
		return k8s.Update(ctx, hc)
	})).To(Succeed())
}

// status returns the health check's status.
func (w *world) status() func() capi.MachineHealthCheckStatus {
	return func() capi.MachineHealthCheckStatus {
		GinkgoHelper()
		return w.getMHC(hcName).Status
	}
}

// hcName is the health check every spec judges with (some add others).
const hcName = "hc"

// remediationAllowed returns the health check's RemediationAllowed condition.
func (w *world) remediationAllowed() func() *corev1beta1.Condition {
	return func() *corev1beta1.Condition {
		GinkgoHelper()
		return conditions.Get(w.getMHC(hcName).Status.Conditions, capi.RemediationAllowedCondition)
	}
}

// counts are a health check's status counters.
type counts struct{ Expected, Healthy, Allowed int32 }

func (w *world) counts() func() counts {
	return func() counts {
		s := w.status()()
		return counts{s.ExpectedMachines, s.CurrentHealthy, s.RemediationsAllowed}
	}
}

// events returns the notes of the events with the given reason about objects of the world.
func (w *world) events(reason string) func() []string {
	return func() []string {
		GinkgoHelper()
		list := &eventsv1.EventList{}
		Expect(k8s.List(ctx, list, client.InNamespace(w.ns))).To(Succeed())
		var notes []string
		for _, e := range list.Items {
			if e.Reason == reason {
				notes = append(notes, e.Note)
			}
		}
		slices.Sort(notes)
		return notes
	}
}

// --- Cluster ---

type clusterCond struct {
	Type   string
	Status corev1.ConditionStatus
	Since  time.Time
}

func initialized(since time.Time) clusterCond {
	return clusterCond{"ControlPlaneInitialized", corev1.ConditionTrue, since}
}

func notInitialized(since time.Time) clusterCond {
	return clusterCond{"ControlPlaneInitialized", corev1.ConditionFalse, since}
}

func infraReady(since time.Time) clusterCond {
	return clusterCond{"InfrastructureReady", corev1.ConditionTrue, since}
}

// clusterObject creates the Cluster c1 with these conditions.
func (w *world) clusterObject(paused bool, conds ...clusterCond) {
	GinkgoHelper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("cluster.x-k8s.io/v1beta1")
	u.SetKind("Cluster")
	u.SetNamespace(w.ns)
	u.SetName(clusterName)
	Expect(unstructured.SetNestedField(u.Object, paused, "spec", "paused")).To(Succeed())
	Expect(k8s.Create(ctx, u)).To(Succeed())
	w.clusterConditions(conds...)
}

func (w *world) getCluster() *unstructured.Unstructured {
	GinkgoHelper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("cluster.x-k8s.io/v1beta1")
	u.SetKind("Cluster")
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: clusterName}, u)).To(Succeed())
	return u
}

// clusterConditions replaces the Cluster's conditions.
func (w *world) clusterConditions(conds ...clusterCond) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		u := w.getCluster()
		list := make([]any, 0, len(conds))
		for _, c := range conds {
			list = append(list, map[string]any{"type": c.Type, "status": string(c.Status),
				"lastTransitionTime": c.Since.UTC().Format(time.RFC3339)})
		}
		if err := unstructured.SetNestedSlice(u.Object, list, "status", "conditions"); err != nil {
			return err
		}
		return k8s.Status().Update(ctx, u)
	})).To(Succeed())
}

func (w *world) pauseCluster(paused bool) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		u := w.getCluster()
		if err := unstructured.SetNestedField(u.Object, paused, "spec", "paused"); err != nil {
			return err
		}
		return k8s.Update(ctx, u)
	})).To(Succeed())
}

// --- matchers ---

// haveFalse matches a False condition of severity Warning with this reason and message.
func haveFalse(reason, message string) types.GomegaMatcher {
	return And(Not(BeNil()), HaveField("Status", corev1.ConditionFalse), HaveField("Reason", reason),
		HaveField("Message", message), HaveField("Severity", corev1beta1.ConditionSeverityWarning))
}

// beTrue matches a True condition.
func beTrue() types.GomegaMatcher {
	return And(Not(BeNil()), HaveField("Status", corev1.ConditionTrue))
}

// beFalse matches a False condition of any reason.
func beFalse() types.GomegaMatcher {
	return And(Not(BeNil()), HaveField("Status", corev1.ConditionFalse))
}

// waitingFor is the OwnerRemediated mark of a Machine the health check found unhealthy for message.
func waitingFor(message string) types.GomegaMatcher {
	return haveFalse(capi.WaitingForRemediationReason, "marked unhealthy by MachineHealthCheck "+hcName+": "+message)
}

// --- the workload cluster through a proxy ---

// workloadHost is host:port of the workload API server.
func workloadHost() string { return support.KubeconfigHost(workloadKubeconfig) }

// kubeconfigVia is the workload kubeconfig with its server moved to addr.
func kubeconfigVia(addr string) []byte { return support.KubeconfigVia(workloadKubeconfig, addr) }
