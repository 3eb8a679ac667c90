package webhook

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
)

// +kubebuilder:webhook:verbs=create;update,path=/mutate-cluster-x-k8s-io-v1beta1-machinehealthcheck,mutating=true,failurePolicy=fail,matchPolicy=Equivalent,groups=cluster.x-k8s.io,resources=machinehealthchecks,versions=v1beta1,name=default.machinehealthcheck.cluster.x-k8s.io,sideEffects=None,admissionReviewVersions=v1
// +kubebuilder:webhook:verbs=create;update,path=/validate-cluster-x-k8s-io-v1beta1-machinehealthcheck,mutating=false,failurePolicy=fail,matchPolicy=Equivalent,groups=cluster.x-k8s.io,resources=machinehealthchecks,versions=v1beta1,name=validation.machinehealthcheck.cluster.x-k8s.io,sideEffects=None,admissionReviewVersions=v1

// minNodeStartupTimeout is the shortest nodeStartupTimeout Cluster API v1.7.1 accepts, but for 0 (disabled).
const minNodeStartupTimeout = 30 * time.Second

// MachineHealthCheck defaults and validates Cluster API v1.7.1's MachineHealthChecks where our
// machinehealthcheck controller runs instead of Cluster API's. It does what Cluster API v1.7.1's webhook does,
// with the same field paths and messages, and adds two rules of ours (unhealthyRange, remediationTemplate).
// capi.MachineHealthCheck carries every field of the v1.7.1 schema, so decoding and re-encoding a request
// loses nothing; the defaulter's patch keeps anything the type does not know either (controller-runtime drops
// the removals that only come from decoding).
type MachineHealthCheck struct{}

// Default fills in what Cluster API v1.7.1's webhook fills in, on create and update alike.
func (w *MachineHealthCheck) Default(_ context.Context, mhc *capi.MachineHealthCheck) error {
	// Always the cluster name, even one that is not a label value: the API server then refuses the label, as
	// it does behind Cluster API's webhook.
	if mhc.Labels == nil {
		mhc.Labels = map[string]string{}
	}
	mhc.Labels[corev1beta1.ClusterNameLabel] = mhc.Spec.ClusterName

	if mhc.Spec.MaxUnhealthy == nil {
		mhc.Spec.MaxUnhealthy = ptr.To(intstr.FromString("100%"))
	}
	if mhc.Spec.NodeStartupTimeout == nil {
		mhc.Spec.NodeStartupTimeout = &metav1.Duration{Duration: capi.DefaultNodeStartupTimeout}
	}
	// Defaulted although validation then refuses any remediationTemplate: the message names the reference as
	// Cluster API would store it.
	if t := mhc.Spec.RemediationTemplate; t != nil && t.Namespace == "" {
		t.Namespace = mhc.Namespace
	}
	return nil
}

// ValidateCreate checks a new MachineHealthCheck.
func (w *MachineHealthCheck) ValidateCreate(_ context.Context, mhc *capi.MachineHealthCheck) (admission.Warnings, error) {
	return nil, w.validate(nil, mhc)
}

// ValidateUpdate checks a changed MachineHealthCheck.
func (w *MachineHealthCheck) ValidateUpdate(_ context.Context, old, mhc *capi.MachineHealthCheck) (admission.Warnings, error) {
	return nil, w.validate(old, mhc)
}

// ValidateDelete lets every delete through, as Cluster API's webhook does.
func (w *MachineHealthCheck) ValidateDelete(context.Context, *capi.MachineHealthCheck) (admission.Warnings, error) {
	return nil, nil
}

func (w *MachineHealthCheck) validate(old, mhc *capi.MachineHealthCheck) error {
	errs := machineHealthCheckProblems(mhc)
	if old != nil {
		// Unlike Cluster API: what the stored object already breaks, the same way, does not block an update
		// (a health check stored before these webhooks served it, or before a rule of ours existed, stays
		// writable, its status and the controller's label included).
		errs = ratchet(errs, machineHealthCheckProblems(old))
		// Cluster API's rule: clusterName is immutable.
		if old.Spec.ClusterName != mhc.Spec.ClusterName {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "clusterName"), "field is immutable"))
		}
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(capi.MachineHealthCheckGVK.GroupKind(), mhc.Name, errs)
	}
	return nil
}

// machineHealthCheckProblems lists what makes a health check invalid, whether it is new or changed: Cluster API
// v1.7.1's rules first, in its order and with its messages, then ours.
func machineHealthCheckProblems(mhc *capi.MachineHealthCheck) field.ErrorList {
	specPath := field.NewPath("spec")
	spec := mhc.Spec
	var errs field.ErrorList

	// Cluster API: the selector converts to a labels.Selector.
	selector, err := metav1.LabelSelectorAsSelector(&spec.Selector)
	if err != nil {
		errs = append(errs, field.Invalid(specPath.Child("selector"), spec.Selector, err.Error()))
	}
	// Cluster API: the selector selects something less than everything.
	if selector != nil && selector.Empty() {
		errs = append(errs, field.Required(specPath.Child("selector"), "selector must not be empty"))
	}
	// Cluster API: a cluster-name in matchLabels is the health check's own cluster.
	if name, ok := spec.Selector.MatchLabels[corev1beta1.ClusterNameLabel]; ok && name != spec.ClusterName {
		errs = append(errs, field.Invalid(specPath.Child("selector"), spec.Selector,
			"cannot specify a cluster selector other than the one specified by ClusterName"))
	}
	// Cluster API: nodeStartupTimeout is 0 (disabled) or at least 30s. The value is shown as a duration ("10s"),
	// where Cluster API shows the pointer's String(), "&Duration{Duration:10s,}".
	if d := spec.NodeStartupTimeout; d != nil && d.Duration != 0 && d.Duration < minNodeStartupTimeout {
		errs = append(errs, field.Invalid(specPath.Child("nodeStartupTimeout"), d.Duration.String(), "must be at least 30s"))
	}
	// Cluster API: maxUnhealthy is an integer or a percentage.
	if m := spec.MaxUnhealthy; m != nil {
		if _, err := intstr.GetScaledValueFromIntOrPercent(m, 0, false); err != nil {
			errs = append(errs, field.Invalid(specPath.Child("maxUnhealthy"), m,
				fmt.Sprintf("must be either an int or a percentage: %v", err)))
		}
	}
	// Cluster API: the remediation template is in the health check's namespace (defaulting fills in an empty one).
	if t := spec.RemediationTemplate; t != nil && t.Namespace != mhc.Namespace {
		errs = append(errs, field.Invalid(specPath.Child("remediationTemplate", "namespace"), t.Namespace, "must match metadata.namespace"))
	}
	// Cluster API: at least one unhealthy condition.
	if len(spec.UnhealthyConditions) == 0 {
		errs = append(errs, field.Forbidden(specPath.Child("unhealthyConditions"), "must have at least one entry"))
	}

	// Ours: unhealthyRange is a range the controller can use. Cluster API's schema only checks its pattern, and
	// its controller fails on every reconcile of a range whose max is below its min.
	if r := spec.UnhealthyRange; r != nil {
		if _, _, err := capi.ParseUnhealthyRange(*r); err != nil {
			errs = append(errs, field.Invalid(specPath.Child("unhealthyRange"), *r, err.Error()))
		}
	}
	// Ours: no external remediation. The value is in the message so that ratcheting keeps only the stored
	// reference, not any other.
	if t := spec.RemediationTemplate; t != nil {
		errs = append(errs, field.Forbidden(specPath.Child("remediationTemplate"), fmt.Sprintf(
			"external remediation through remediationTemplate (here %s %s/%s) is not supported by machinepool-operator's machinehealthcheck controller: "+
				"an unhealthy Machine is remediated by its owner, the MachinePool, instead; remove spec.remediationTemplate "+
				"(or run Cluster API's MachineHealthCheck controller if you need external remediation)",
			t.Kind, t.Namespace, t.Name)))
	}
	return errs
}
