package webhook

import (
	"k8s.io/component-base/featuregate"
	ctrl "sigs.k8s.io/controller-runtime"

	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
)

// Options chooses which webhooks SetupWithManager registers.
type Options struct {
	// Gates are the feature gates the webhooks consult on every request.
	Gates featuregate.FeatureGate
	// MachinePool registers the MachinePool webhooks; off where Cluster API's core provider owns MachinePools.
	MachinePool bool
	// MachineHealthCheck registers the webhooks of Cluster API's MachineHealthCheck (v1beta1), where our
	// machinehealthcheck controller runs, i.e. where Cluster API core does not (it serves its own there).
	MachineHealthCheck bool
	// Infrastructure registers the SimMachinePool and SimMachinePoolTemplate webhooks.
	Infrastructure bool
}

// SetupWithManager registers the chosen webhooks with the manager's webhook server, and always the
// MachinePool conversion: wherever our MachinePool CRD is installed the API server needs it for every v1beta1
// request, whatever the controllers and feature gates are.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	if err := SetupConversion(mgr); err != nil {
		return err
	}
	if opts.MachinePool {
		mp := &MachinePool{Gates: opts.Gates}
		if err := ctrl.NewWebhookManagedBy(mgr, &corev1beta2.MachinePool{}).
			WithDefaulter(mp).WithValidator(mp).Complete(); err != nil {
			return err
		}
	}
	if opts.MachineHealthCheck {
		mhc := &MachineHealthCheck{}
		if err := ctrl.NewWebhookManagedBy(mgr, &capi.MachineHealthCheck{}).
			WithDefaulter(mhc).WithValidator(mhc).Complete(); err != nil {
			return err
		}
	}
	if opts.Infrastructure {
		smp := &SimMachinePool{Gates: opts.Gates}
		if err := ctrl.NewWebhookManagedBy(mgr, &infrav1beta1.SimMachinePool{}).
			WithValidator(smp).Complete(); err != nil {
			return err
		}
		tpl := &SimMachinePoolTemplate{Gates: opts.Gates}
		if err := ctrl.NewWebhookManagedBy(mgr, &infrav1beta1.SimMachinePoolTemplate{}).
			WithValidator(tpl).Complete(); err != nil {
			return err
		}
	}
	return nil
}
