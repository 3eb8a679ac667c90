package webhook_test

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	mpwebhook "github.com/machinepool-operator/machinepool-operator/internal/webhook"
)

// newMHC is a minimal valid MachineHealthCheck, as a user would write it.
func newMHC(ns, name string) *capi.MachineHealthCheck {
	return &capi.MachineHealthCheck{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: capi.MachineHealthCheckSpec{
			ClusterName: "demo",
			Selector:    metav1.LabelSelector{MatchLabels: map[string]string{corev1beta1.MachinePoolNameLabel: "workers"}},
			UnhealthyConditions: []capi.UnhealthyCondition{
				{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Timeout: metav1.Duration{Duration: 5 * time.Minute}},
			},
		},
	}
}

// withTemplate gives the health check an external remediation template in namespace ns ("" for none).
func withTemplate(m *capi.MachineHealthCheck, ns string) *capi.MachineHealthCheck {
	m.Spec.RemediationTemplate = &corev1.ObjectReference{
		APIVersion: "infrastructure.cluster.x-k8s.io/v1beta1", Kind: "SimRemediationTemplate", Name: "remediate", Namespace: ns,
	}
	return m
}

// notSupported is what our rule against remediationTemplate says.
const notSupported = "external remediation through remediationTemplate (here SimRemediationTemplate %s/remediate) is not supported by " +
	"machinepool-operator's machinehealthcheck controller: an unhealthy Machine is remediated by its owner, the MachinePool, instead; " +
	"remove spec.remediationTemplate (or run Cluster API's MachineHealthCheck controller if you need external remediation)"

var _ = Describe("MachineHealthCheck defaulting, as Cluster API v1.7.1's webhook", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("sets the cluster-name label, maxUnhealthy 100% and nodeStartupTimeout 10m on create", func() {
		m := newMHC(ns, "defaults")
		Expect(k8s.Create(ctx, m)).To(Succeed())

		got := &capi.MachineHealthCheck{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(m), got)).To(Succeed())
		Expect(got.Labels).To(Equal(map[string]string{corev1beta1.ClusterNameLabel: "demo"}))
		Expect(got.Spec.MaxUnhealthy).To(Equal(ptr.To(intstr.FromString("100%"))))
		Expect(got.Spec.NodeStartupTimeout).To(Equal(&metav1.Duration{Duration: 10 * time.Minute}))
		Expect(got.Spec.RemediationTemplate).To(BeNil())
	})

	It("keeps what the manifest sets, an explicit 0s nodeStartupTimeout included", func() {
		m := newMHC(ns, "explicit")
		m.Spec.MaxUnhealthy = ptr.To(intstr.FromInt32(2))
		m.Spec.NodeStartupTimeout = &metav1.Duration{}
		Expect(k8s.Create(ctx, m)).To(Succeed())
		Expect(m.Spec.MaxUnhealthy).To(Equal(ptr.To(intstr.FromInt32(2))))
		Expect(m.Spec.NodeStartupTimeout).To(Equal(&metav1.Duration{}))
	})

	It("defaults again on update, and overwrites a cluster-name label that disagrees with spec.clusterName", func() {
		m := newMHC(ns, "update")
		Expect(k8s.Create(ctx, m)).To(Succeed())
		m.Labels[corev1beta1.ClusterNameLabel] = "other"
		m.Labels["team"] = "a"
		m.Spec.MaxUnhealthy = nil
		m.Spec.NodeStartupTimeout = nil
		Expect(k8s.Update(ctx, m)).To(Succeed())
		Expect(m.Labels).To(Equal(map[string]string{corev1beta1.ClusterNameLabel: "demo", "team": "a"}))
		Expect(m.Spec.MaxUnhealthy).To(Equal(ptr.To(intstr.FromString("100%"))))
		Expect(m.Spec.NodeStartupTimeout).To(Equal(&metav1.Duration{Duration: 10 * time.Minute}))
	})

	It("defaults a remediation template's namespace to the health check's (the rejection names it)", func() {
		err := k8s.Create(ctx, withTemplate(newMHC(ns, "template-ns"), ""))
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("(here SimRemediationTemplate " + ns + "/remediate)"))
		Expect(err.Error()).NotTo(ContainSubstring("must match metadata.namespace"), "the defaulted namespace is the health check's")
	})

	It("Default, called directly: creates the labels, fills in the template's namespace, keeps what is set", func() {
		m := withTemplate(newMHC("team-a", "direct"), "")
		Expect((&mpwebhook.MachineHealthCheck{}).Default(ctx, m)).To(Succeed())
		Expect(m.Labels).To(Equal(map[string]string{corev1beta1.ClusterNameLabel: "demo"}))
		Expect(m.Spec.RemediationTemplate.Namespace).To(Equal("team-a"))
		Expect(m.Spec.MaxUnhealthy).To(Equal(ptr.To(intstr.FromString("100%"))))
		Expect(m.Spec.NodeStartupTimeout).To(Equal(&metav1.Duration{Duration: capi.DefaultNodeStartupTimeout}))

		set := withTemplate(newMHC("team-a", "set"), "elsewhere")
		set.Spec.MaxUnhealthy = ptr.To(intstr.FromString("40%"))
		set.Spec.NodeStartupTimeout = &metav1.Duration{Duration: time.Minute}
		want := set.DeepCopy()
		Expect((&mpwebhook.MachineHealthCheck{}).Default(ctx, set)).To(Succeed())
		want.Labels = map[string]string{corev1beta1.ClusterNameLabel: "demo"}
		Expect(set).To(Equal(want))
	})

	It("drops no field: a health check with every field set reads back as written, through create and update", func() {
		spec := map[string]any{
			"clusterName": "demo",
			"selector": map[string]any{
				"matchLabels":      map[string]any{corev1beta1.ClusterNameLabel: "demo", "pool": "workers"},
				"matchExpressions": []any{map[string]any{"key": "zone", "operator": "In", "values": []any{"a", "b"}}},
			},
			"unhealthyConditions": []any{
				map[string]any{"type": "Ready", "status": "False", "timeout": "5m0s"},
				map[string]any{"type": "Ready", "status": "Unknown", "timeout": "10m0s"},
			},
			"maxUnhealthy":       "40%",
			"unhealthyRange":     "[1-3]",
			"nodeStartupTimeout": "15m0s",
		}
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": capi.MachineHealthCheckGVK.GroupVersion().String(),
			"kind":       capi.MachineHealthCheckGVK.Kind,
			"metadata": map[string]any{
				"namespace": ns, "name": "complete",
				"labels":      map[string]any{corev1beta1.ClusterNameLabel: "demo", "team": "a"},
				"annotations": map[string]any{"note": "kept"},
			},
			"spec": spec,
		}}
		Expect(k8s.Create(ctx, u)).To(Succeed())
		Expect(u.Object["spec"]).To(Equal(spec))
		Expect(u.GetLabels()).To(Equal(map[string]string{corev1beta1.ClusterNameLabel: "demo", "team": "a"}))
		Expect(u.GetAnnotations()).To(Equal(map[string]string{"note": "kept"}))

		By("writing the status a controller writes, then updating the spec")
		status := map[string]any{
			"expectedMachines": int64(3), "currentHealthy": int64(2), "remediationsAllowed": int64(1), "observedGeneration": int64(1),
			"targets": []any{"m-1", "m-2", "m-3"},
			"conditions": []any{map[string]any{"type": "RemediationAllowed", "status": "False", "severity": "Warning",
				"reason": "TooManyUnhealthy", "message": "too many", "lastTransitionTime": "2024-05-01T10:00:00Z"}},
		}
		u.Object["status"] = status
		Expect(k8s.Status().Update(ctx, u)).To(Succeed())
		spec["maxUnhealthy"] = int64(2)
		u.Object["spec"] = spec
		Expect(k8s.Update(ctx, u)).To(Succeed())

		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(capi.MachineHealthCheckGVK)
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(u), got)).To(Succeed())
		Expect(got.Object["spec"]).To(Equal(spec))
		Expect(got.Object["status"]).To(Equal(status))
		Expect(got.GetAnnotations()).To(Equal(map[string]string{"note": "kept"}))
	})
})

var _ = Describe("MachineHealthCheck validation", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	DescribeTable("rejects, with Cluster API v1.7.1's field paths and messages and then ours",
		func(change func(m *capi.MachineHealthCheck), fieldPath, message string) {
			m := newMHC(ns, "invalid")
			change(m)
			expectInvalid(k8s.Create(ctx, m), fieldPath, message)
			Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(m), &capi.MachineHealthCheck{}))).To(BeTrue())
		},
		Entry("a selector that does not convert", func(m *capi.MachineHealthCheck) {
			m.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "zone", Operator: "Near"}}
		}, "spec.selector", `"Near" is not a valid label selector operator`),
		Entry("an empty selector", func(m *capi.MachineHealthCheck) {
			m.Spec.Selector = metav1.LabelSelector{}
		}, "spec.selector: Required value", "selector must not be empty"),
		Entry("a selector of another cluster", func(m *capi.MachineHealthCheck) {
			m.Spec.Selector.MatchLabels[corev1beta1.ClusterNameLabel] = "other"
		}, "spec.selector", "cannot specify a cluster selector other than the one specified by ClusterName"),
		Entry("a nodeStartupTimeout under 30s", func(m *capi.MachineHealthCheck) {
			m.Spec.NodeStartupTimeout = &metav1.Duration{Duration: 10 * time.Second}
		}, `spec.nodeStartupTimeout: Invalid value: "10s"`, "must be at least 30s"),
		Entry("a negative nodeStartupTimeout", func(m *capi.MachineHealthCheck) {
			m.Spec.NodeStartupTimeout = &metav1.Duration{Duration: -time.Minute}
		}, "spec.nodeStartupTimeout", "must be at least 30s"),
		Entry("a maxUnhealthy that is neither an int nor a percentage", func(m *capi.MachineHealthCheck) {
			m.Spec.MaxUnhealthy = ptr.To(intstr.FromString("forty"))
		}, "spec.maxUnhealthy", "must be either an int or a percentage: invalid value for IntOrString: invalid type: string is not a percentage"),
		Entry("a maxUnhealthy percentage that is not a number", func(m *capi.MachineHealthCheck) {
			m.Spec.MaxUnhealthy = ptr.To(intstr.FromString("forty%"))
		}, "spec.maxUnhealthy", "must be either an int or a percentage: invalid value for IntOrString: invalid value \"forty%\""),
		Entry("a remediation template in another namespace", func(m *capi.MachineHealthCheck) {
			withTemplate(m, "elsewhere")
		}, `spec.remediationTemplate.namespace: Invalid value: "elsewhere"`, "must match metadata.namespace"),
		Entry("an unhealthyRange whose max is below its min (ours)", func(m *capi.MachineHealthCheck) {
			m.Spec.UnhealthyRange = ptr.To("[5-3]")
		}, `spec.unhealthyRange: Invalid value: "[5-3]"`, "max value 3 cannot be less than min value 5: write the range as [min-max] with min <= max, e.g. [3-5]"),
		Entry("an unhealthyRange beyond what the controller reads (ours)", func(m *capi.MachineHealthCheck) {
			m.Spec.UnhealthyRange = ptr.To("[1-4294967296]")
		}, "spec.unhealthyRange", `max "4294967296" must be an integer from 0 to 4294967295`),
	)

	It("rejects any remediation template (ours), whatever its namespace, and says what to do", func() {
		err := k8s.Create(ctx, withTemplate(newMHC(ns, "external"), ns))
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("spec.remediationTemplate: Forbidden: " + fmt.Sprintf(notSupported, ns)))
		Expect(err.Error()).NotTo(ContainSubstring("must match metadata.namespace"))

		err = k8s.Create(ctx, withTemplate(newMHC(ns, "external-elsewhere"), "elsewhere"))
		Expect(err).To(MatchError(And(
			ContainSubstring(`spec.remediationTemplate.namespace: Invalid value: "elsewhere": must match metadata.namespace`),
			ContainSubstring("spec.remediationTemplate: Forbidden: "+fmt.Sprintf(notSupported, "elsewhere")))))
	})

	It("reports every rule a health check breaks at once, as MachineHealthCheck.cluster.x-k8s.io", func() {
		m := newMHC(ns, "many")
		m.Spec.NodeStartupTimeout = &metav1.Duration{Duration: time.Second}
		m.Spec.MaxUnhealthy = ptr.To(intstr.FromString("all"))
		m.Spec.UnhealthyRange = ptr.To("[2-1]")
		err := k8s.Create(ctx, m)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		status := err.(apierrors.APIStatus).Status()
		Expect(status.Details.Group).To(Equal("cluster.x-k8s.io"))
		Expect(status.Details.Kind).To(Equal("MachineHealthCheck"))
		Expect(status.Details.Causes).To(HaveLen(3))
	})

	It("rejects a change of clusterName", func() {
		m := newMHC(ns, "move")
		Expect(k8s.Create(ctx, m)).To(Succeed())
		m.Spec.ClusterName = "other"
		expectInvalid(k8s.Update(ctx, m), "spec.clusterName: Forbidden", "field is immutable")
	})

	DescribeTable("accepts",
		func(change func(m *capi.MachineHealthCheck)) {
			m := newMHC(ns, "valid")
			change(m)
			Expect(k8s.Create(ctx, m)).To(Succeed())
		},
		Entry("nodeStartupTimeout 0s (disabled)", func(m *capi.MachineHealthCheck) { m.Spec.NodeStartupTimeout = &metav1.Duration{} }),
		Entry("nodeStartupTimeout 30s", func(m *capi.MachineHealthCheck) {
			m.Spec.NodeStartupTimeout = &metav1.Duration{Duration: 30 * time.Second}
		}),
		Entry(`maxUnhealthy "40%"`, func(m *capi.MachineHealthCheck) { m.Spec.MaxUnhealthy = ptr.To(intstr.FromString("40%")) }),
		Entry("maxUnhealthy 2", func(m *capi.MachineHealthCheck) { m.Spec.MaxUnhealthy = ptr.To(intstr.FromInt32(2)) }),
		Entry("a negative maxUnhealthy (as Cluster API does: no remediation)", func(m *capi.MachineHealthCheck) {
			m.Spec.MaxUnhealthy = ptr.To(intstr.FromInt32(-1))
		}),
		Entry("unhealthyRange [1-3]", func(m *capi.MachineHealthCheck) { m.Spec.UnhealthyRange = ptr.To("[1-3]") }),
		Entry("unhealthyRange [2-2]", func(m *capi.MachineHealthCheck) { m.Spec.UnhealthyRange = ptr.To("[2-2]") }),
		Entry("a selector with matchExpressions only", func(m *capi.MachineHealthCheck) {
			m.Spec.Selector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: corev1beta1.MachinePoolNameLabel, Operator: metav1.LabelSelectorOpExists}}}
		}),
		Entry("the cluster's own cluster-name in the selector", func(m *capi.MachineHealthCheck) {
			m.Spec.Selector.MatchLabels[corev1beta1.ClusterNameLabel] = "demo"
		}),
	)

	It("lets a health check be deleted", func() {
		m := newMHC(ns, "gone")
		Expect(k8s.Create(ctx, m)).To(Succeed())
		Expect(k8s.Delete(ctx, m)).To(Succeed())
	})

	It("leaves to the schema what it already refuses: no unhealthy conditions, a malformed unhealthyRange", func() {
		m := newMHC(ns, "schema")
		m.Spec.UnhealthyConditions = []capi.UnhealthyCondition{}
		expectInvalid(k8s.Create(ctx, m), "spec.unhealthyConditions", "should have at least 1 items")

		m = newMHC(ns, "schema")
		m.Spec.UnhealthyRange = ptr.To("1-3")
		expectInvalid(k8s.Create(ctx, m), "spec.unhealthyRange", `should match '^\[[0-9]+-[0-9]+\]$'`)
	})
})

// The API server cannot store a health check past these rules, so what only the webhook itself can be given (a
// stored object that already breaks a rule, a list the schema refuses first) is checked on the objects directly.
var _ = Describe("MachineHealthCheck validation, called directly", func() {
	w := &mpwebhook.MachineHealthCheck{}

	It("rejects a health check without unhealthy conditions, with Cluster API's message", func() {
		m := newMHC("team-a", "none")
		m.Spec.UnhealthyConditions = nil
		_, err := w.ValidateCreate(ctx, m)
		expectInvalid(err, "spec.unhealthyConditions: Forbidden", "must have at least one entry")
	})

	It("rejects a malformed unhealthyRange, should the schema let one through", func() {
		for _, r := range []string{"1-3", "[1:3]", "[-3]", "[1-2-3]", "[]"} {
			m := newMHC("team-a", "range")
			m.Spec.UnhealthyRange = ptr.To(r)
			_, err := w.ValidateCreate(ctx, m)
			expectInvalid(err, "spec.unhealthyRange", "[min-max]")
		}
	})

	It("does not block an update for what the stored health check already breaks the same way (ratchet)", func() {
		stored := withTemplate(newMHC("team-a", "stored"), "team-a")
		stored.Spec.UnhealthyRange = ptr.To("[5-3]")
		_, err := w.ValidateCreate(ctx, stored)
		Expect(err).To(MatchError(And(ContainSubstring("spec.remediationTemplate"), ContainSubstring("spec.unhealthyRange"))))

		relabelled := stored.DeepCopy()
		relabelled.Labels = map[string]string{"team": "a"}
		relabelled.Spec.MaxUnhealthy = ptr.To(intstr.FromInt32(1))
		_, err = w.ValidateUpdate(ctx, stored, relabelled)
		Expect(err).NotTo(HaveOccurred())

		By("a different template or range is judged anew")
		retemplated := relabelled.DeepCopy()
		retemplated.Spec.RemediationTemplate.Name = "another"
		_, err = w.ValidateUpdate(ctx, stored, retemplated)
		expectInvalid(err, "spec.remediationTemplate: Forbidden", "(here SimRemediationTemplate team-a/another)")
		reranged := relabelled.DeepCopy()
		reranged.Spec.UnhealthyRange = ptr.To("[9-1]")
		_, err = w.ValidateUpdate(ctx, stored, reranged)
		expectInvalid(err, "spec.unhealthyRange", "max value 1 cannot be less than min value 9")

		By("a new problem is still rejected, and clusterName stays immutable")
		broken := relabelled.DeepCopy()
		broken.Spec.NodeStartupTimeout = &metav1.Duration{Duration: time.Second}
		_, err = w.ValidateUpdate(ctx, stored, broken)
		expectInvalid(err, "spec.nodeStartupTimeout", "must be at least 30s")
		moved := relabelled.DeepCopy()
		moved.Spec.ClusterName = "other"
		_, err = w.ValidateUpdate(ctx, stored, moved)
		expectInvalid(err, "spec.clusterName", "field is immutable")
	})

	It("lets every delete through", func() {
		_, err := w.ValidateDelete(ctx, withTemplate(newMHC("team-a", "x"), "elsewhere"))
		Expect(err).NotTo(HaveOccurred())
	})
})
