// Package conversion converts MachinePools between cluster.x-k8s.io/v1beta1 (Cluster API v1.7's shape) and
// v1beta2 (v1.14's), losing nothing: what one version cannot hold travels in an annotation of the converted
// object (DataAnnotation) and is restored when the object comes back, if the fields it describes still agree.
//
// Two things need more than the object: a v1beta2 reference names only an API group, so converting to v1beta1
// asks APIVersionFunc for the version the referenced kind's CRD names in its contract label; and v1beta1
// durations may be negative or below a second, where v1beta2 counts whole, non-negative seconds (truncated,
// with the exact value kept in the annotation).
//
// It imports the two API packages, internal/contract, Kubernetes API machinery and the controller-runtime
// client (CRDLookup).
package conversion

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	"github.com/machinepool-operator/machinepool-operator/internal/contract"
)

// DataAnnotation holds, on a converted object, what the version it was converted from had and its own version
// cannot hold.
const DataAnnotation = "machinepool.cluster.x-k8s.io/conversion-data"

// APIVersionFunc returns the API version a kind's CRD names for the Cluster API contract (its
// cluster.x-k8s.io/<contract> label), e.g. "infrastructure.cluster.x-k8s.io/v1beta2".
type APIVersionFunc func(ctx context.Context, gk schema.GroupKind) (string, error)

// ErrNoAPIVersion says that a reference's kind has no CRD naming a version for the contract.
var ErrNoAPIVersion = errors.New("no API version for the contract")

// Converter converts MachinePools; APIVersion is required for conversions to v1beta1.
type Converter struct {
	APIVersion APIVersionFunc
}

// V1beta1Data is what a v1beta1 MachinePool holds that v1beta2 cannot: exact durations, pointers to empty
// strings, and its references as written (apiVersion, namespace and the rest; the version a reference had is
// the fallback when its kind's CRD cannot be read). Only spec fields: the status subresource ignores
// annotation changes, so a status field kept here would be lost on a status write.
type V1beta1Data struct {
	InfrastructureRef *corev1.ObjectReference    `json:"infrastructureRef,omitempty"`
	ConfigRef         *corev1.ObjectReference    `json:"configRef,omitempty"`
	Durations         map[string]metav1.Duration `json:"durations,omitempty"`
	EmptyStrings      []string                   `json:"emptyStrings,omitempty"`
	// MinReadySeconds is a negative spec.minReadySeconds (v1beta1 accepts it, meaning 0; v1beta2's minimum is 0).
	MinReadySeconds *int32 `json:"minReadySeconds,omitempty"`
}

// v1beta2Data is what a v1beta2 MachinePool holds that v1beta1 cannot.
type v1beta2Data struct {
	ReadinessGates []corev1beta2.MachineReadinessGate `json:"readinessGates,omitempty"`
	Taints         []corev1beta2.MachineTaint         `json:"taints,omitempty"`
	Conditions     []metav1.Condition                 `json:"conditions,omitempty"`
	Replicas       *int32                             `json:"replicas,omitempty"`
	// ReadyReplicas and AvailableReplicas are kept only where they differ from what the v1beta1 counts stand for
	// (countFor), so that a v1beta1 writer's new counts show in v1beta2 too.
	ReadyReplicas     *keptCount                                   `json:"readyReplicas,omitempty"`
	AvailableReplicas *keptCount                                   `json:"availableReplicas,omitempty"`
	UpToDateReplicas  *int32                                       `json:"upToDateReplicas,omitempty"`
	Versions          []corev1beta2.StatusVersion                  `json:"versions,omitempty"`
	Initialization    *corev1beta2.MachinePoolInitializationStatus `json:"initialization,omitempty"`
	// DeprecatedSet records that status.deprecated.v1beta1 existed though empty.
	DeprecatedSet bool `json:"deprecatedSet,omitempty"`
}

// ToV1beta2 converts a v1beta1 MachinePool into dst.
func (c Converter) ToV1beta2(_ context.Context, src *corev1beta1.MachinePool, dst *corev1beta2.MachinePool) error {
	var restored v1beta2Data
	hasRestored, err := takeData(src.ObjectMeta, &dst.ObjectMeta, &restored)
	if err != nil {
		return err
	}
	dst.TypeMeta = metav1.TypeMeta{APIVersion: corev1beta2.GroupVersion.String(), Kind: "MachinePool"}
	var keep V1beta1Data

	s, t := &src.Spec, &dst.Spec
	t.ClusterName, t.Replicas = s.ClusterName, clonePtr(s.Replicas)
	t.ProviderIDList, t.FailureDomains = slices.Clone(s.ProviderIDList), slices.Clone(s.FailureDomains)
	t.Template.ObjectMeta = corev1beta2.ObjectMeta{Labels: maps.Clone(s.Template.Labels), Annotations: maps.Clone(s.Template.Annotations)}
	ms, mt := &s.Template.Spec, &t.Template.Spec
	mt.ClusterName = ms.ClusterName
	mt.MinReadySeconds = clonePtr(s.MinReadySeconds)
	if s.MinReadySeconds != nil && *s.MinReadySeconds < 0 {
		mt.MinReadySeconds, keep.MinReadySeconds = new(int32), clonePtr(s.MinReadySeconds)
	}
	mt.Version = fromPointer(ms.Version, "version", &keep)
	mt.ProviderID = fromPointer(ms.ProviderID, "providerID", &keep)
	mt.FailureDomain = fromPointer(ms.FailureDomain, "failureDomain", &keep)
	mt.Bootstrap.DataSecretName = clonePtr(ms.Bootstrap.DataSecretName)
	if ref := ms.Bootstrap.ConfigRef; ref != nil {
		cv, err := toContractRef(*ref)
		if err != nil {
			return fmt.Errorf("spec.template.spec.bootstrap.configRef: %w", err)
		}
		mt.Bootstrap.ConfigRef = cv
		keep.ConfigRef = ref.DeepCopy()
	}
	if ref := ms.InfrastructureRef; ref != (corev1.ObjectReference{}) {
		cv, err := toContractRef(ref)
		if err != nil {
			return fmt.Errorf("spec.template.spec.infrastructureRef: %w", err)
		}
		mt.InfrastructureRef = cv
		keep.InfrastructureRef = ref.DeepCopy()
	}
	mt.Deletion.NodeDrainTimeoutSeconds = toSeconds(ms.NodeDrainTimeout, "nodeDrainTimeout", &keep)
	mt.Deletion.NodeVolumeDetachTimeoutSeconds = toSeconds(ms.NodeVolumeDetachTimeout, "nodeVolumeDetachTimeout", &keep)
	mt.Deletion.NodeDeletionTimeoutSeconds = toSeconds(ms.NodeDeletionTimeout, "nodeDeletionTimeout", &keep)
	if hasRestored {
		mt.ReadinessGates, mt.Taints = restored.ReadinessGates, restored.Taints
	}

	ss, st := &src.Status, &dst.Status
	st.NodeRefs = append([]corev1.ObjectReference(nil), ss.NodeRefs...)
	st.Phase, st.ObservedGeneration, st.Selector = ss.Phase, ss.ObservedGeneration, ss.Selector
	st.Replicas = restoredCount(ss.Replicas, hasRestored, restored.Replicas)
	if hasRestored {
		st.Conditions, st.Versions, st.UpToDateReplicas = restored.Conditions, restored.Versions, restored.UpToDateReplicas
	}
	st.ReadyReplicas = restored.ReadyReplicas.or(ss.ReadyReplicas)
	st.AvailableReplicas = restored.AvailableReplicas.or(ss.AvailableReplicas)
	var was corev1beta2.MachinePoolInitializationStatus
	if restored.Initialization != nil {
		was = *restored.Initialization
	}
	st.Initialization = corev1beta2.MachinePoolInitializationStatus{
		InfrastructureProvisioned:  restoredBool(ss.InfrastructureReady, was.InfrastructureProvisioned),
		BootstrapDataSecretCreated: restoredBool(ss.BootstrapReady, was.BootstrapDataSecretCreated),
	}
	old := &corev1beta2.MachinePoolV1Beta1DeprecatedStatus{
		ReadyReplicas: ss.ReadyReplicas, AvailableReplicas: ss.AvailableReplicas, UnavailableReplicas: ss.UnavailableReplicas,
		FailureMessage: clonePtr(ss.FailureMessage),
	}
	if ss.FailureReason != nil {
		reason := string(*ss.FailureReason)
		old.FailureReason = &reason
	}
	for _, cond := range ss.Conditions {
		old.Conditions = append(old.Conditions, corev1beta2.V1Beta1Condition{Type: string(cond.Type), Status: cond.Status,
			Severity: string(cond.Severity), LastTransitionTime: cond.LastTransitionTime, Reason: cond.Reason, Message: cond.Message})
	}
	if !reflect.DeepEqual(*old, corev1beta2.MachinePoolV1Beta1DeprecatedStatus{}) || restored.DeprecatedSet {
		st.Deprecated = &corev1beta2.MachinePoolDeprecatedStatus{V1Beta1: old}
	}
	return putData(&dst.ObjectMeta, keep, keep.InfrastructureRef != nil || keep.ConfigRef != nil || len(keep.Durations) > 0 ||
		len(keep.EmptyStrings) > 0 || keep.MinReadySeconds != nil)
}

// ToV1beta1 converts a v1beta2 MachinePool into dst. A reference's API version comes from APIVersion; when
// that fails, from the version the object had in v1beta1 if the reference still names the same object, else
// the conversion fails with an error naming the reference.
func (c Converter) ToV1beta1(ctx context.Context, src *corev1beta2.MachinePool, dst *corev1beta1.MachinePool) error {
	var restored V1beta1Data
	if _, err := takeData(src.ObjectMeta, &dst.ObjectMeta, &restored); err != nil {
		return err
	}
	dst.TypeMeta = metav1.TypeMeta{APIVersion: corev1beta1.GroupVersion.String(), Kind: "MachinePool"}
	keep := v1beta2Data{}

	s, t := &src.Spec, &dst.Spec
	t.ClusterName, t.Replicas = s.ClusterName, clonePtr(s.Replicas)
	t.ProviderIDList, t.FailureDomains = slices.Clone(s.ProviderIDList), slices.Clone(s.FailureDomains)
	t.Template.ObjectMeta = corev1beta1.ObjectMeta{Labels: maps.Clone(s.Template.Labels), Annotations: maps.Clone(s.Template.Annotations)}
	ms, mt := &s.Template.Spec, &t.Template.Spec
	mt.ClusterName = ms.ClusterName
	t.MinReadySeconds = clonePtr(ms.MinReadySeconds)
	if restored.MinReadySeconds != nil && ms.MinReadySeconds != nil && *ms.MinReadySeconds == 0 {
		t.MinReadySeconds = clonePtr(restored.MinReadySeconds)
	}
	mt.Version = toPointer(ms.Version, "version", restored)
	mt.ProviderID = toPointer(ms.ProviderID, "providerID", restored)
	mt.FailureDomain = toPointer(ms.FailureDomain, "failureDomain", restored)
	mt.Bootstrap.DataSecretName = clonePtr(ms.Bootstrap.DataSecretName)
	if ms.Bootstrap.ConfigRef.IsDefined() {
		ref, err := c.toObjectRef(ctx, ms.Bootstrap.ConfigRef, src.Namespace, restored.ConfigRef)
		if err != nil {
			return fmt.Errorf("spec.template.spec.bootstrap.configRef: %w", err)
		}
		mt.Bootstrap.ConfigRef = &ref
	}
	if ms.InfrastructureRef.IsDefined() {
		ref, err := c.toObjectRef(ctx, ms.InfrastructureRef, src.Namespace, restored.InfrastructureRef)
		if err != nil {
			return fmt.Errorf("spec.template.spec.infrastructureRef: %w", err)
		}
		mt.InfrastructureRef = ref
	}
	mt.NodeDrainTimeout = fromSeconds(ms.Deletion.NodeDrainTimeoutSeconds, "nodeDrainTimeout", restored)
	mt.NodeVolumeDetachTimeout = fromSeconds(ms.Deletion.NodeVolumeDetachTimeoutSeconds, "nodeVolumeDetachTimeout", restored)
	mt.NodeDeletionTimeout = fromSeconds(ms.Deletion.NodeDeletionTimeoutSeconds, "nodeDeletionTimeout", restored)
	keep.ReadinessGates, keep.Taints = ms.ReadinessGates, ms.Taints

	ss, st := &src.Status, &dst.Status
	st.NodeRefs = append([]corev1.ObjectReference(nil), ss.NodeRefs...)
	st.Phase, st.ObservedGeneration, st.Selector = ss.Phase, ss.ObservedGeneration, ss.Selector
	if ss.Replicas != nil {
		st.Replicas = *ss.Replicas
	}
	st.BootstrapReady = ss.Initialization.BootstrapDataSecretCreated != nil && *ss.Initialization.BootstrapDataSecretCreated
	st.InfrastructureReady = ss.Initialization.InfrastructureProvisioned != nil && *ss.Initialization.InfrastructureProvisioned
	if ss.Deprecated != nil && ss.Deprecated.V1Beta1 != nil {
		old := ss.Deprecated.V1Beta1
		st.ReadyReplicas, st.AvailableReplicas, st.UnavailableReplicas = old.ReadyReplicas, old.AvailableReplicas, old.UnavailableReplicas
		st.FailureMessage = clonePtr(old.FailureMessage)
		if old.FailureReason != nil {
			reason := corev1beta1.MachinePoolStatusFailure(*old.FailureReason)
			st.FailureReason = &reason
		}
		for _, cond := range old.Conditions {
			st.Conditions = append(st.Conditions, corev1beta1.Condition{Type: corev1beta1.ConditionType(cond.Type), Status: cond.Status,
				Severity: corev1beta1.ConditionSeverity(cond.Severity), LastTransitionTime: cond.LastTransitionTime, Reason: cond.Reason, Message: cond.Message})
		}
		keep.DeprecatedSet = reflect.DeepEqual(*old, corev1beta2.MachinePoolV1Beta1DeprecatedStatus{})
	}
	keep.Conditions, keep.Versions, keep.UpToDateReplicas = ss.Conditions, ss.Versions, ss.UpToDateReplicas
	keep.ReadyReplicas, keep.AvailableReplicas = keepCount(ss.ReadyReplicas, st.ReadyReplicas), keepCount(ss.AvailableReplicas, st.AvailableReplicas)
	if ss.Replicas != nil && *ss.Replicas == 0 { // 0 in v1beta1 is also "unset": say which
		keep.Replicas = ss.Replicas
	}
	if i := ss.Initialization; isFalse(i.BootstrapDataSecretCreated) || isFalse(i.InfrastructureProvisioned) { // likewise false
		keep.Initialization = &i
	}
	return putData(&dst.ObjectMeta, keep, keep.ReadinessGates != nil || keep.Taints != nil || keep.Conditions != nil || keep.Versions != nil ||
		keep.Replicas != nil || keep.ReadyReplicas != nil || keep.AvailableReplicas != nil || keep.UpToDateReplicas != nil ||
		keep.Initialization != nil || keep.DeprecatedSet)
}

// toObjectRef rebuilds a v1beta1 reference: the contract's API version of the kind, and the fields v1beta2
// dropped from the reference the object had before, if it names the same object. A reference without a
// namespace is in the pool's, as Cluster API v1.7's webhook defaulted it (and v1.14's conversion does).
func (c Converter) toObjectRef(ctx context.Context, ref corev1beta2.ContractVersionedObjectReference, namespace string, before *corev1.ObjectReference) (corev1.ObjectReference, error) {
	same := before != nil && before.Kind == ref.Kind && before.Name == ref.Name && groupOf(before.APIVersion) == ref.APIGroup
	out := corev1.ObjectReference{Kind: ref.Kind, Name: ref.Name, Namespace: namespace}
	if same {
		out = *before.DeepCopy()
		if out.Namespace == "" {
			out.Namespace = namespace
		}
	}
	if c.APIVersion == nil {
		if same {
			return out, nil
		}
		return out, fmt.Errorf("%w: %s %s.%s (no CRD lookup configured)", ErrNoAPIVersion, ref.Name, ref.Kind, ref.APIGroup)
	}
	version, err := c.APIVersion(ctx, schema.GroupKind{Group: ref.APIGroup, Kind: ref.Kind})
	switch {
	case err == nil && version != "":
		out.APIVersion = version
	case same:
		// The kind's CRD cannot be read: keep the version the reference had.
	case err == nil:
		return out, fmt.Errorf("%w: the CRD of %s.%s names no version", ErrNoAPIVersion, ref.Kind, ref.APIGroup)
	default:
		return out, fmt.Errorf("%w: %s.%s: %w", ErrNoAPIVersion, ref.Kind, ref.APIGroup, err)
	}
	return out, nil
}

func groupOf(apiVersion string) string {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return ""
	}
	return gv.Group
}

func toContractRef(ref corev1.ObjectReference) (corev1beta2.ContractVersionedObjectReference, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return corev1beta2.ContractVersionedObjectReference{}, fmt.Errorf("apiVersion %q: %w", ref.APIVersion, err)
	}
	return corev1beta2.ContractVersionedObjectReference{APIGroup: gv.Group, Kind: ref.Kind, Name: ref.Name}, nil
}

// toSeconds converts a v1beta1 duration to whole, non-negative seconds (truncated; negative is 0, beyond int32
// the maximum), keeping the exact value when the seconds do not say it.
func toSeconds(d *metav1.Duration, field string, keep *V1beta1Data) *int32 {
	if d == nil {
		return nil
	}
	seconds := math.Trunc(d.Seconds())
	out := int32(min(max(seconds, 0), math.MaxInt32))
	if time.Duration(out)*time.Second != d.Duration {
		if keep.Durations == nil {
			keep.Durations = map[string]metav1.Duration{}
		}
		keep.Durations[field] = *d
	}
	return &out
}

// fromSeconds converts seconds back to a duration, the exact one the object had when it still converts to them.
func fromSeconds(seconds *int32, field string, before V1beta1Data) *metav1.Duration {
	if seconds == nil {
		return nil
	}
	if d, ok := before.Durations[field]; ok {
		var scratch V1beta1Data
		if again := toSeconds(&d, field, &scratch); *again == *seconds {
			return &d
		}
	}
	return &metav1.Duration{Duration: time.Duration(*seconds) * time.Second}
}

func fromPointer(s *string, field string, keep *V1beta1Data) string {
	if s == nil {
		return ""
	}
	if *s == "" {
		keep.EmptyStrings = append(keep.EmptyStrings, field)
	}
	return *s
}

func toPointer(s, field string, before V1beta1Data) *string {
	if s != "" || slices.Contains(before.EmptyStrings, field) {
		return &s
	}
	return nil
}

// keptCount is a v1beta2 count that differs from what its v1beta1 counterpart stands for (Value may be nil).
type keptCount struct {
	Value *int32 `json:"value"`
}

// countFor is the v1beta2 count a v1beta1 count stands for: the same number, unset for 0.
func countFor(n int32) *int32 {
	if n == 0 {
		return nil
	}
	return &n
}

// keepCount records a v1beta2 count unless countFor(v1beta1) gives it back.
func keepCount(v2 *int32, v1 int32) *keptCount {
	if want := countFor(v1); (v2 == nil) == (want == nil) && (v2 == nil || *v2 == *want) {
		return nil
	}
	return &keptCount{Value: clonePtr(v2)}
}

// or is the kept v1beta2 count if there is one, else the one v1beta1's count stands for.
func (k *keptCount) or(v1 int32) *int32 {
	if k != nil {
		return clonePtr(k.Value)
	}
	return countFor(v1)
}

// restoredCount converts a v1beta1 count to v1beta2's pointer: 0 stays unset unless it was set to 0 before.
func restoredCount(n int32, hasRestored bool, before *int32) *int32 {
	if n == 0 && (!hasRestored || before == nil || *before != 0) {
		return nil
	}
	return &n
}

// restoredBool converts a v1beta1 flag to v1beta2's pointer: false stays unset unless it was false before.
func restoredBool(v bool, before *bool) *bool {
	if v || isFalse(before) {
		return &v
	}
	return nil
}

// takeData copies src's metadata into dst, without DataAnnotation, and decodes that annotation into data.
func takeData(src metav1.ObjectMeta, dst *metav1.ObjectMeta, data any) (bool, error) {
	src.DeepCopyInto(dst)
	raw, ok := dst.Annotations[DataAnnotation]
	if !ok {
		return false, nil
	}
	delete(dst.Annotations, DataAnnotation)
	if len(dst.Annotations) == 0 {
		dst.Annotations = nil
	}
	if err := json.Unmarshal([]byte(raw), data); err != nil {
		return false, fmt.Errorf("annotation %s holds no valid conversion data: %w", DataAnnotation, err)
	}
	return true, nil
}

// putData records data in DataAnnotation when there is any.
func putData(meta *metav1.ObjectMeta, data any, present bool) error {
	if !present {
		return nil
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	if meta.Annotations == nil {
		meta.Annotations = map[string]string{}
	}
	meta.Annotations[DataAnnotation] = string(raw)
	return nil
}

func isFalse(b *bool) bool { return b != nil && !*b }

// KeptV1beta1 returns what a v1beta2 MachinePool keeps of the v1beta1 object it was written as (its references'
// namespaces, negative or sub-second durations, a negative minReadySeconds), for checks of fields v1beta2 has
// no place for; zero when it was not written through v1beta1.
func KeptV1beta1(meta metav1.ObjectMeta) (V1beta1Data, error) {
	var kept V1beta1Data
	_, err := takeData(meta, &metav1.ObjectMeta{}, &kept)
	return kept, err
}

// CRDLookup is the APIVersionFunc of a cluster: the newest API version the kind's CRD lists under the newest
// contract label it carries. A kind no CRD serves, or whose CRD carries no contract label, is an
// ErrNoAPIVersion naming the kind and what is missing.
func CRDLookup(c client.Client) APIVersionFunc {
	return func(ctx context.Context, gk schema.GroupKind) (string, error) {
		mapping, err := c.RESTMapper().RESTMapping(gk)
		if err != nil {
			return "", fmt.Errorf("%w: no CRD serves %s: %w", ErrNoAPIVersion, gk, err)
		}
		crd := &metav1.PartialObjectMetadata{}
		crd.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
		name := mapping.Resource.Resource + "." + gk.Group
		if err := c.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
			return "", fmt.Errorf("%w: reading CRD %s: %w", ErrNoAPIVersion, name, err)
		}
		if latest, ok := contract.LatestContractVersion(crd.Labels); ok {
			return schema.GroupVersion{Group: gk.Group, Version: latest}.String(), nil
		}
		return "", fmt.Errorf("%w: CRD %s has no %s or %s label naming its versions", ErrNoAPIVersion, name, contract.ContractLabelV1beta2, contract.ContractLabel)
	}
}

// clonePtr returns a copy of what p points to, or nil.
func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
