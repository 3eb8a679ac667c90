package webhook

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/component-base/featuregate"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	"github.com/machinepool-operator/machinepool-operator/internal/conversion"
	"github.com/machinepool-operator/machinepool-operator/internal/feature"
)

// +kubebuilder:webhook:verbs=create;update,path=/mutate-cluster-x-k8s-io-v1beta2-machinepool,mutating=true,failurePolicy=fail,matchPolicy=Equivalent,groups=cluster.x-k8s.io,resources=machinepools,versions=v1beta2,name=default.machinepool.cluster.x-k8s.io,sideEffects=None,admissionReviewVersions=v1
// +kubebuilder:webhook:verbs=create;update,path=/validate-cluster-x-k8s-io-v1beta2-machinepool,mutating=false,failurePolicy=fail,matchPolicy=Equivalent,groups=cluster.x-k8s.io,resources=machinepools,versions=v1beta2,name=validation.machinepool.cluster.x-k8s.io,sideEffects=None,admissionReviewVersions=v1

// kubeSemver is a Kubernetes version: "v", then major.minor.patch, then an optional pre-release or build
// suffix (the pattern Cluster API validates against).
var kubeSemver = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)([-0-9a-zA-Z_\.+]*)?$`)

// defaultNodeDeletionTimeoutSeconds is how long a retired Node's deletion is retried, as Cluster API v1.14
// defaults it.
const defaultNodeDeletionTimeoutSeconds = int32(10)

// MachinePool defaults and validates MachinePools. It judges the stored version, v1beta2: the API server
// converts a v1beta1 request first (matchPolicy Equivalent), so one rule set applies whichever version a pool
// comes through, and what only v1beta1 can say (a reference's namespace, a negative duration) is read from
// what the conversion keeps of it (conversion.KeptV1beta1).
type MachinePool struct {
	// Gates decide whether MachinePools may be created or changed at all.
	Gates featuregate.FeatureGate
}

// Default fills in what a MachinePool manifest may leave out.
func (w *MachinePool) Default(ctx context.Context, mp *corev1beta2.MachinePool) error {
	// A cluster name that is not a label value is left for validation to reject with a message naming
	// spec.clusterName; labelling with it would make the API server refuse the label instead.
	if len(validation.IsValidLabelValue(mp.Spec.ClusterName)) == 0 {
		if mp.Labels == nil {
			mp.Labels = map[string]string{}
		}
		mp.Labels[corev1beta1.ClusterNameLabel] = mp.Spec.ClusterName
	}

	if mp.Spec.Replicas == nil {
		old, err := oldMachinePool(ctx)
		if err != nil {
			return err
		}
		mp.Spec.Replicas = ptr.To(defaultReplicas(parseAutoscalerBounds(mp.Annotations), old))
	}
	spec := &mp.Spec.Template.Spec
	if spec.MinReadySeconds == nil { // Cluster API v1.7 defaults it (v1beta1 spec.minReadySeconds)
		spec.MinReadySeconds = ptr.To[int32](0)
	}
	if spec.Deletion.NodeDeletionTimeoutSeconds == nil { // as Cluster API v1.14 does
		spec.Deletion.NodeDeletionTimeoutSeconds = ptr.To(defaultNodeDeletionTimeoutSeconds)
	}
	if v := spec.Version; v != "" && !strings.HasPrefix(v, "v") {
		spec.Version = "v" + v
	}
	return nil
}

// oldMachinePool returns the stored object of an update request, or nil for any other request.
func oldMachinePool(ctx context.Context) (*corev1beta2.MachinePool, error) {
	req, err := admission.RequestFromContext(ctx)
	if err != nil || req.Operation != admissionv1.Update || len(req.OldObject.Raw) == 0 {
		return nil, nil //nolint:nilerr // no admission request in the context: treat it as a create
	}
	old := &corev1beta2.MachinePool{}
	if err := json.Unmarshal(req.OldObject.Raw, old); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("cannot decode the stored MachinePool: %v", err))
	}
	return old, nil
}

// ValidateCreate checks a new MachinePool.
func (w *MachinePool) ValidateCreate(_ context.Context, mp *corev1beta2.MachinePool) (admission.Warnings, error) {
	return w.validate(nil, mp)
}

// ValidateUpdate checks a changed MachinePool.
func (w *MachinePool) ValidateUpdate(_ context.Context, old, mp *corev1beta2.MachinePool) (admission.Warnings, error) {
	return w.validate(old, mp)
}

// ValidateDelete lets every delete through, even with the feature gate off, so pools can always be removed.
func (w *MachinePool) ValidateDelete(context.Context, *corev1beta2.MachinePool) (admission.Warnings, error) {
	return nil, nil
}

func (w *MachinePool) validate(old, mp *corev1beta2.MachinePool) (admission.Warnings, error) {
	if err := gateError(w.Gates, corev1beta2.GroupVersion.WithResource("machinepools").GroupResource(), "MachinePool", mp.Name); err != nil {
		return nil, err
	}
	errs, kept := problems(mp)
	if old != nil {
		// A rule the stored object already breaks, the same way, does not block the update: no pool that was
		// accepted (by an older release, or through the other version) becomes unwritable, the controller's
		// writes included.
		stored, _ := problems(old)
		errs = ratchet(errs, stored)
		if old.Spec.ClusterName != mp.Spec.ClusterName {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "clusterName"),
				fmt.Sprintf("cannot change from %q to %q; create a new MachinePool for the other cluster", old.Spec.ClusterName, mp.Spec.ClusterName)))
		}
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(corev1beta2.GroupVersion.WithKind("MachinePool").GroupKind(), mp.Name, errs)
	}
	return machinePoolWarnings(mp, kept), nil
}

// problems lists what makes a pool invalid, whichever version it was written in, and returns what the pool
// keeps of its v1beta1 form (conversion.KeptV1beta1), which the warnings read too.
func problems(mp *corev1beta2.MachinePool) (field.ErrorList, conversion.V1beta1Data) {
	specPath := field.NewPath("spec")
	tplPath := specPath.Child("template")
	spec := mp.Spec.Template.Spec
	var errs field.ErrorList

	for _, msg := range validation.IsValidLabelValue(mp.Spec.ClusterName) {
		errs = append(errs, field.Invalid(specPath.Child("clusterName"), mp.Spec.ClusterName,
			"must be a valid label value, because it becomes the "+corev1beta1.ClusterNameLabel+" label: "+msg))
	}

	bootstrapPath := tplPath.Child("spec", "bootstrap")
	if !spec.Bootstrap.ConfigRef.IsDefined() && spec.Bootstrap.DataSecretName == nil {
		errs = append(errs, field.Required(bootstrapPath,
			"set configRef to a bootstrap config (a KubeadmConfig, for example) or dataSecretName to a Secret that holds the bootstrap data"))
	}
	// References have a namespace only in v1beta1 (Cluster API v1.7 rejects any but the pool's).
	kept, err := conversion.KeptV1beta1(mp.ObjectMeta)
	if err != nil {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "annotations").Key(conversion.DataAnnotation), "",
			fmt.Sprintf("%v; remove the annotation (it holds what v1beta1 fields v1beta2 cannot, and is written by conversion only)", err)))
	}
	for _, r := range []struct {
		path *field.Path
		ref  corev1beta2.ContractVersionedObjectReference
		v1   *corev1.ObjectReference
	}{
		{bootstrapPath.Child("configRef", "namespace"), spec.Bootstrap.ConfigRef, kept.ConfigRef},
		{tplPath.Child("spec", "infrastructureRef", "namespace"), spec.InfrastructureRef, kept.InfrastructureRef},
	} {
		if r.v1 != nil && r.v1.Namespace != "" && r.v1.Namespace != mp.Namespace && r.v1.Kind == r.ref.Kind && r.v1.Name == r.ref.Name {
			errs = append(errs, field.Invalid(r.path, r.v1.Namespace,
				fmt.Sprintf("must be the MachinePool's namespace %q; leave it empty to default to it", mp.Namespace)))
		}
	}
	if v := spec.Version; v != "" && !kubeSemver.MatchString(v) {
		errs = append(errs, field.Invalid(tplPath.Child("spec", "version"), v, "must be a Kubernetes semantic version such as v1.30.0"))
	}
	if len(spec.Taints) > 0 {
		taints := make([]string, len(spec.Taints))
		for i, t := range spec.Taints {
			taints[i] = t.Key + "=" + t.Value + ":" + string(t.Effect)
		}
		errs = append(errs, field.Invalid(tplPath.Child("spec", "taints"), strings.Join(taints, ","),
			"taints on MachinePool instances are not supported (nor by Cluster API v1.14); set them where the Node registers, e.g. a KubeadmConfig's joinConfiguration.nodeRegistration.taints"))
	}

	metaPath := tplPath.Child("metadata")
	errs = append(errs, metav1validation.ValidateLabels(mp.Spec.Template.Labels, metaPath.Child("labels"))...)
	errs = append(errs, apivalidation.ValidateAnnotations(mp.Spec.Template.Annotations, metaPath.Child("annotations"))...)
	return errs, kept
}

// ratchet drops the errors that the stored object already had, for the same field, value and reason.
func ratchet(errs, stored field.ErrorList) field.ErrorList {
	had := map[string]bool{}
	for _, e := range stored {
		had[e.Error()] = true
	}
	var out field.ErrorList
	for _, e := range errs {
		if !had[e.Error()] {
			out = append(out, e)
		}
	}
	return out
}

// machinePoolWarnings lists what is accepted but is probably a mistake.
func machinePoolWarnings(mp *corev1beta2.MachinePool, kept conversion.V1beta1Data) admission.Warnings {
	var warnings admission.Warnings
	spec := mp.Spec.Template.Spec
	if spec.ClusterName != mp.Spec.ClusterName {
		// Cluster API v1.7 accepts it, v1.14 rejects it: accepted, with this warning.
		warnings = append(warnings, fmt.Sprintf(
			"spec.template.spec.clusterName %q differs from spec.clusterName %q; the pool belongs to %q, set both to the same name (Cluster API v1.11 and later reject this)",
			spec.ClusterName, mp.Spec.ClusterName, mp.Spec.ClusterName))
	}

	bounds := parseAutoscalerBounds(mp.Annotations)
	if bounds.problem != "" {
		warnings = append(warnings, "metadata.annotations: "+bounds.problem)
	}
	if r := mp.Spec.Replicas; r != nil {
		if *r < 0 {
			warnings = append(warnings, fmt.Sprintf("spec.replicas is negative (%d); the pool is treated as having 0 replicas", *r))
		}
		if bounds.usable() && (*r < bounds.min || *r > bounds.max) {
			warnings = append(warnings, fmt.Sprintf(
				"spec.replicas (%d) is outside the cluster-autoscaler's range [%d, %d]; the autoscaler will not manage the pool until it is inside, or unset spec.replicas to have it set within the range",
				*r, bounds.min, bounds.max))
		}
	}
	// Negative numbers only v1beta1 can hold (v1beta2's schema has minimum 0), kept by its conversion.
	if s := kept.MinReadySeconds; s != nil && *s < 0 {
		warnings = append(warnings, fmt.Sprintf("spec.minReadySeconds is negative (%d); it is treated as 0", *s))
	}
	for _, name := range []string{"nodeDrainTimeout", "nodeVolumeDetachTimeout", "nodeDeletionTimeout"} {
		if d, ok := kept.Durations[name]; ok && d.Duration < 0 {
			warnings = append(warnings, fmt.Sprintf("spec.template.spec.%s is negative (%s); it is treated as 0", name, d.Duration))
		}
	}
	return warnings
}

// gateError refuses creates and updates while the MachinePool feature gate is off.
func gateError(gates featuregate.FeatureGate, gr schema.GroupResource, kind, name string) error {
	if gates.Enabled(feature.MachinePool) {
		return nil
	}
	return apierrors.NewForbidden(gr, name, fmt.Errorf(
		"the %s feature gate is disabled: %s objects cannot be created or changed; turn it on with the manager flag --feature-gates=%s=true (clusterctl: EXP_MACHINE_POOL=true; Helm: featureGates.machinePool=true)",
		feature.MachinePool, kind, feature.MachinePool))
}
