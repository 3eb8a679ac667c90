package webhook

import (
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/conversion"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	mpconversion "github.com/machinepool-operator/machinepool-operator/internal/conversion"
)

// SetupConversion serves /convert for MachinePools: v1beta2 is the hub, v1beta1 the spoke, converted by
// internal/conversion with reference versions looked up in the referenced kinds' CRDs (through the manager's
// cache). The manager's scheme must know both versions.
func SetupConversion(mgr ctrl.Manager) error {
	c := mpconversion.Converter{APIVersion: mpconversion.CRDLookup(mgr.GetClient())}
	return ctrl.NewWebhookManagedBy(mgr, &corev1beta2.MachinePool{}).
		WithConverter(conversion.NewHubSpokeConverter(&corev1beta2.MachinePool{},
			conversion.NewSpokeConverter(&corev1beta1.MachinePool{}, c.ToV1beta1, c.ToV1beta2))).
		Complete()
}
