package webhook

import (
	"context"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/component-base/featuregate"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
)

// +kubebuilder:webhook:verbs=create;update,path=/validate-infrastructure-cluster-x-k8s-io-v1beta1-simmachinepool,mutating=false,failurePolicy=fail,matchPolicy=Equivalent,groups=infrastructure.cluster.x-k8s.io,resources=simmachinepools,versions=v1beta1,name=validation.simmachinepool.infrastructure.cluster.x-k8s.io,sideEffects=None,admissionReviewVersions=v1
// +kubebuilder:webhook:verbs=create;update,path=/validate-infrastructure-cluster-x-k8s-io-v1beta1-simmachinepooltemplate,mutating=false,failurePolicy=fail,matchPolicy=Equivalent,groups=infrastructure.cluster.x-k8s.io,resources=simmachinepooltemplates,versions=v1beta1,name=validation.simmachinepooltemplate.infrastructure.cluster.x-k8s.io,sideEffects=None,admissionReviewVersions=v1

// SimMachinePool validates SimMachinePools.
type SimMachinePool struct {
	// Gates decide whether SimMachinePools may be created or changed at all.
	Gates featuregate.FeatureGate
}

// ValidateCreate checks a new SimMachinePool.
func (w *SimMachinePool) ValidateCreate(_ context.Context, p *infrav1beta1.SimMachinePool) (admission.Warnings, error) {
	return nil, w.validate(p)
}

// ValidateUpdate checks a changed SimMachinePool.
func (w *SimMachinePool) ValidateUpdate(_ context.Context, _, p *infrav1beta1.SimMachinePool) (admission.Warnings, error) {
	return nil, w.validate(p)
}

// ValidateDelete lets every delete through.
func (w *SimMachinePool) ValidateDelete(context.Context, *infrav1beta1.SimMachinePool) (admission.Warnings, error) {
	return nil, nil
}

func (w *SimMachinePool) validate(p *infrav1beta1.SimMachinePool) error {
	gr := infrav1beta1.GroupVersion.WithResource("simmachinepools").GroupResource()
	if err := gateError(w.Gates, gr, "SimMachinePool", p.Name); err != nil {
		return err
	}
	if errs := validateSimSpec(&p.Spec, field.NewPath("spec")); len(errs) > 0 {
		return apierrors.NewInvalid(infrav1beta1.GroupVersion.WithKind("SimMachinePool").GroupKind(), p.Name, errs)
	}
	return nil
}

// SimMachinePoolTemplate validates SimMachinePoolTemplates with the rules of the pools they make.
type SimMachinePoolTemplate struct {
	// Gates decide whether SimMachinePoolTemplates may be created or changed at all.
	Gates featuregate.FeatureGate
}

// ValidateCreate checks a new SimMachinePoolTemplate.
func (w *SimMachinePoolTemplate) ValidateCreate(_ context.Context, t *infrav1beta1.SimMachinePoolTemplate) (admission.Warnings, error) {
	return nil, w.validate(t)
}

// ValidateUpdate checks a changed SimMachinePoolTemplate.
func (w *SimMachinePoolTemplate) ValidateUpdate(_ context.Context, _, t *infrav1beta1.SimMachinePoolTemplate) (admission.Warnings, error) {
	return nil, w.validate(t)
}

// ValidateDelete lets every delete through.
func (w *SimMachinePoolTemplate) ValidateDelete(context.Context, *infrav1beta1.SimMachinePoolTemplate) (admission.Warnings, error) {
	return nil, nil
}

func (w *SimMachinePoolTemplate) validate(t *infrav1beta1.SimMachinePoolTemplate) error {
	gr := infrav1beta1.GroupVersion.WithResource("simmachinepooltemplates").GroupResource()
	if err := gateError(w.Gates, gr, "SimMachinePoolTemplate", t.Name); err != nil {
		return err
	}
	if errs := validateSimSpec(&t.Spec.Template.Spec, field.NewPath("spec", "template", "spec")); len(errs) > 0 {
		return apierrors.NewInvalid(infrav1beta1.GroupVersion.WithKind("SimMachinePoolTemplate").GroupKind(), t.Name, errs)
	}
	return nil
}

// validateSimSpec checks what the CRD schema cannot: rolling-update bounds and non-negative durations.
func validateSimSpec(spec *infrav1beta1.SimMachinePoolSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s := spec.Strategy; s != nil && s.RollingUpdate != nil {
		ruPath := path.Child("strategy", "rollingUpdate")
		surge, surgeErrs := validateIntOrPercent(s.RollingUpdate.MaxSurge, ruPath.Child("maxSurge"), false)
		unavailable, unavailErrs := validateIntOrPercent(s.RollingUpdate.MaxUnavailable, ruPath.Child("maxUnavailable"), true)
		errs = append(errs, surgeErrs...)
		errs = append(errs, unavailErrs...)
		// Defaults: maxSurge 1, maxUnavailable 0.
		if s.RollingUpdate.MaxSurge == nil {
			surge = 1
		}
		if len(surgeErrs) == 0 && len(unavailErrs) == 0 && surge == 0 && unavailable == 0 {
			errs = append(errs, field.Invalid(ruPath.Child("maxSurge"), s.RollingUpdate.MaxSurge.String(),
				"maxSurge and maxUnavailable cannot both be 0, or a rolling update could never make progress; raise one of them"))
		}
	}
	if sim := spec.Simulation; sim != nil {
		simPath := path.Child("simulation")
		if d := sim.BootDelay; d != nil && d.Duration < 0 {
			errs = append(errs, field.Invalid(simPath.Child("bootDelay"), d.Duration.String(), "must not be negative"))
		}
		if d := sim.BootJitter; d != nil && d.Duration < 0 {
			errs = append(errs, field.Invalid(simPath.Child("bootJitter"), d.Duration.String(), "must not be negative"))
		}
		if c := sim.CapacityLimit; c != nil && *c < 0 {
			errs = append(errs, field.Invalid(simPath.Child("capacityLimit"), *c, "must not be negative; leave it unset for no limit"))
		}
	}
	return errs
}

// validateIntOrPercent checks a non-negative count or percentage ("25%"); percentages above 100% are
// refused where capped. It returns the value (count or percent) for the both-zero check.
func validateIntOrPercent(v *intstr.IntOrString, path *field.Path, capped bool) (int, field.ErrorList) {
	if v == nil {
		return 0, nil
	}
	if v.Type == intstr.Int {
		if v.IntVal < 0 {
			return 0, field.ErrorList{field.Invalid(path, v.IntVal, "must not be negative")}
		}
		return int(v.IntVal), nil
	}
	s, ok := strings.CutSuffix(v.StrVal, "%")
	n, err := strconv.Atoi(s)
	if !ok || err != nil || n < 0 {
		return 0, field.ErrorList{field.Invalid(path, v.StrVal, "must be a non-negative integer or a percentage such as \"25%\"")}
	}
	if capped && n > 100 {
		return 0, field.ErrorList{field.Invalid(path, v.StrVal, "must not be more than 100%")}
	}
	return n, nil
}
