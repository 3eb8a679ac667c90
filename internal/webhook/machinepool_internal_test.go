package webhook

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	"github.com/machinepool-operator/machinepool-operator/internal/feature"
)

// A pool stored before a rule existed (taints written while the webhook judged v1beta1 only, which drops them)
// stays writable: the rule blocks only a change that breaks it anew. The API server cannot store such a pool
// past this webhook, so the rule is checked here on the objects directly.
func TestRulesTheStoredPoolAlreadyBreaksDoNotBlockUpdates(t *testing.T) {
	w := &MachinePool{Gates: feature.NewGates()}
	stored := &corev1beta2.MachinePool{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"},
		Spec: corev1beta2.MachinePoolSpec{ClusterName: "demo", Replicas: ptr.To[int32](1), Template: corev1beta2.MachineTemplateSpec{
			Spec: corev1beta2.MachineSpec{ClusterName: "demo", Bootstrap: corev1beta2.Bootstrap{DataSecretName: ptr.To("data")},
				Taints: []corev1beta2.MachineTaint{{Key: "a", Effect: corev1.TaintEffectNoSchedule}}}}}}

	scaled := stored.DeepCopy()
	scaled.Spec.Replicas = ptr.To[int32](3)
	if _, err := w.ValidateUpdate(t.Context(), stored, scaled); err != nil {
		t.Errorf("an update that leaves the stored taints as they are: %v", err)
	}
	if _, err := w.ValidateCreate(t.Context(), stored); err == nil || !strings.Contains(err.Error(), "spec.template.spec.taints") {
		t.Errorf("the same pool as a create: err = %v, want taints rejected", err)
	}
	retainted := scaled.DeepCopy()
	retainted.Spec.Template.Spec.Taints = append(retainted.Spec.Template.Spec.Taints, corev1beta2.MachineTaint{Key: "b", Effect: corev1.TaintEffectNoSchedule})
	if _, err := w.ValidateUpdate(t.Context(), stored, retainted); err == nil {
		t.Error("an update that changes the taints must be judged by the rule")
	}
	bootstrapless := scaled.DeepCopy()
	bootstrapless.Spec.Template.Spec.Bootstrap.DataSecretName = nil
	if _, err := w.ValidateUpdate(t.Context(), stored, bootstrapless); err == nil || !strings.Contains(err.Error(), "spec.template.spec.bootstrap") {
		t.Errorf("a new problem is still rejected: err = %v", err)
	}
}
