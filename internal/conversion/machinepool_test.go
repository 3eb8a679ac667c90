package conversion

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/randfill"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
)

// contracts answers API version lookups from a table, as the CRDs' contract labels would.
type contracts map[schema.GroupKind]string

func (c contracts) lookup(_ context.Context, gk schema.GroupKind) (string, error) {
	if v, ok := c[gk]; ok {
		return v, nil
	}
	return "", errors.New("no CRD for " + gk.String())
}

// groups and kinds the fuzzed references use; the table gives each the version v1beta1 objects name.
var fuzzKinds = []schema.GroupVersionKind{
	{Group: "infrastructure.cluster.x-k8s.io", Version: "v1beta1", Kind: "SimMachinePool"},
	{Group: "infrastructure.cluster.x-k8s.io", Version: "v1beta2", Kind: "AWSMachinePool"},
	{Group: "bootstrap.cluster.x-k8s.io", Version: "v1beta1", Kind: "KubeadmConfig"},
	{Group: "bootstrap.cluster.x-k8s.io", Version: "v1beta2", Kind: "GenericBootstrapConfig"},
}

func fuzzContracts() contracts {
	c := contracts{}
	for _, gvk := range fuzzKinds {
		c[gvk.GroupKind()] = gvk.GroupVersion().String()
	}
	return c
}

// filler makes random objects of the shapes the API server stores: whole-second times (what JSON keeps),
// references either empty or naming a kind of the table, non-negative seconds (and v1beta2 minReadySeconds), no
// stray conversion data.
func filler(seed int64) *randfill.Filler {
	pick := func(c randfill.Continue) schema.GroupVersionKind { return fuzzKinds[c.Intn(len(fuzzKinds))] }
	return randfill.NewWithSeed(seed).NilChance(0.3).NumElements(0, 3).Funcs(
		func(t *metav1.Time, c randfill.Continue) { *t = metav1.Unix(c.Int63n(2e9), 0) },
		func(m *map[string]string, c randfill.Continue) { // an empty map is no map on the wire
			*m = nil
			for range c.Intn(3) {
				if *m == nil {
					*m = map[string]string{}
				}
				(*m)[c.String(5)] = c.String(5)
			}
		},
		func(m *metav1.ObjectMeta, c randfill.Continue) {
			m.Name, m.Namespace = c.String(20), c.String(20)
			m.Labels = map[string]string{c.String(5): c.String(5)}
			if c.Bool() {
				m.Annotations = map[string]string{"note": c.String(10)}
			}
			m.Generation = c.Int63n(100)
		},
		func(r *corev1.ObjectReference, c randfill.Continue) {
			gvk := pick(c)
			*r = corev1.ObjectReference{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Name: c.String(10) + "x"}
			if c.Intn(4) == 0 {
				r.Namespace, r.UID, r.FieldPath = c.String(5), types.UID("uid-"+c.String(4)), "spec"
			}
		},
		func(r *corev1beta2.ContractVersionedObjectReference, c randfill.Continue) {
			gvk := pick(c)
			*r = corev1beta2.ContractVersionedObjectReference{APIGroup: gvk.Group, Kind: gvk.Kind, Name: c.String(10) + "x"}
		},
		func(d *corev1beta2.MachineDeletionSpec, c randfill.Continue) {
			for _, p := range []**int32{&d.NodeDrainTimeoutSeconds, &d.NodeVolumeDetachTimeoutSeconds, &d.NodeDeletionTimeoutSeconds} {
				if c.Bool() {
					*p = ptr.To(c.Int31n(1 << 20))
				}
			}
		},
		func(s *corev1beta2.MachineSpec, c randfill.Continue) {
			c.FillNoCustom(s)
			if s.MinReadySeconds != nil { // the schema's minimum is 0
				s.MinReadySeconds = ptr.To(c.Int31n(1 << 20))
			}
		},
		func(s *corev1beta2.MachinePoolDeprecatedStatus, c randfill.Continue) {
			s.V1Beta1 = &corev1beta2.MachinePoolV1Beta1DeprecatedStatus{}
			c.Fill(s.V1Beta1)
		},
	)
}

func clean(m *metav1.ObjectMeta) {
	delete(m.Annotations, DataAnnotation)
	if len(m.Annotations) == 0 {
		m.Annotations = nil
	}
}

// wire is an object as the API server would store and serve it, without the conversion bookkeeping.
func wire(t *testing.T, obj any) string {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if meta, ok := m["metadata"].(map[string]any); ok {
		if a, ok := meta["annotations"].(map[string]any); ok {
			delete(a, DataAnnotation)
			if len(a) == 0 {
				delete(meta, "annotations")
			}
		}
	}
	out, _ := json.Marshal(m)
	return string(out)
}

func TestRoundTripV1beta1(t *testing.T) {
	ctx := context.Background()
	conv := Converter{APIVersion: fuzzContracts().lookup}
	for seed := range int64(500) {
		in := &corev1beta1.MachinePool{}
		filler(seed).Fill(in)
		clean(&in.ObjectMeta)
		in.TypeMeta = metav1.TypeMeta{APIVersion: corev1beta1.GroupVersion.String(), Kind: "MachinePool"}
		// A reference without a namespace reads back in the pool's (a default, as Cluster API v1.7's webhook set).
		for _, ref := range []*corev1.ObjectReference{in.Spec.Template.Spec.Bootstrap.ConfigRef, &in.Spec.Template.Spec.InfrastructureRef} {
			if ref != nil && *ref != (corev1.ObjectReference{}) && ref.Namespace == "" {
				ref.Namespace = in.Namespace
			}
		}

		hub := &corev1beta2.MachinePool{}
		if err := conv.ToV1beta2(ctx, in.DeepCopy(), hub); err != nil {
			t.Fatalf("seed %d: to v1beta2: %v", seed, err)
		}
		// Through JSON, as the API server stores it.
		stored := &corev1beta2.MachinePool{}
		raw, _ := json.Marshal(hub)
		if err := json.Unmarshal(raw, stored); err != nil {
			t.Fatal(err)
		}
		out := &corev1beta1.MachinePool{}
		if err := conv.ToV1beta1(ctx, stored, out); err != nil {
			t.Fatalf("seed %d: back to v1beta1: %v", seed, err)
		}
		if got, want := wire(t, out), wire(t, in); got != want {
			t.Fatalf("seed %d: v1beta1 -> v1beta2 -> v1beta1 changed the object\n got %s\nwant %s\n via %s", seed, got, want, raw)
		}
	}
}

func TestRoundTripV1beta2(t *testing.T) {
	ctx := context.Background()
	conv := Converter{APIVersion: fuzzContracts().lookup}
	for seed := range int64(500) {
		in := &corev1beta2.MachinePool{}
		filler(seed).Fill(in)
		clean(&in.ObjectMeta)
		in.TypeMeta = metav1.TypeMeta{APIVersion: corev1beta2.GroupVersion.String(), Kind: "MachinePool"}

		spoke := &corev1beta1.MachinePool{}
		if err := conv.ToV1beta1(ctx, in.DeepCopy(), spoke); err != nil {
			t.Fatalf("seed %d: to v1beta1: %v", seed, err)
		}
		stored := &corev1beta1.MachinePool{}
		raw, _ := json.Marshal(spoke)
		if err := json.Unmarshal(raw, stored); err != nil {
			t.Fatal(err)
		}
		out := &corev1beta2.MachinePool{}
		if err := conv.ToV1beta2(ctx, stored, out); err != nil {
			t.Fatalf("seed %d: back to v1beta2: %v", seed, err)
		}
		if got, want := wire(t, out), wire(t, in); got != want {
			t.Fatalf("seed %d: v1beta2 -> v1beta1 -> v1beta2 changed the object\n got %s\nwant %s\n via %s", seed, got, want, raw)
		}
	}
}

func TestDurations(t *testing.T) {
	ctx := context.Background()
	conv := Converter{APIVersion: fuzzContracts().lookup}
	pool := func(drain time.Duration) *corev1beta1.MachinePool {
		return &corev1beta1.MachinePool{Spec: corev1beta1.MachinePoolSpec{Template: corev1beta1.MachineTemplateSpec{Spec: corev1beta1.MachineSpec{
			NodeDrainTimeout: &metav1.Duration{Duration: drain}}}}}
	}
	for _, tc := range []struct {
		in      time.Duration
		seconds int32
	}{{90 * time.Second, 90}, {1500 * time.Millisecond, 1}, {300 * time.Millisecond, 0}, {-5 * time.Second, 0}, {1 << 62, 1<<31 - 1}} {
		hub := &corev1beta2.MachinePool{}
		if err := conv.ToV1beta2(ctx, pool(tc.in), hub); err != nil {
			t.Fatal(err)
		}
		if got := hub.Spec.Template.Spec.Deletion.NodeDrainTimeoutSeconds; got == nil || *got != tc.seconds {
			t.Errorf("%s: nodeDrainTimeoutSeconds = %v, want %d (truncated, never negative)", tc.in, got, tc.seconds)
		}
		back := &corev1beta1.MachinePool{}
		if err := conv.ToV1beta1(ctx, hub, back); err != nil {
			t.Fatal(err)
		}
		if got := back.Spec.Template.Spec.NodeDrainTimeout.Duration; got != tc.in {
			t.Errorf("%s: back in v1beta1 as %s; the exact value must survive", tc.in, got)
		}

		By := "a v1beta2 writer changing the seconds: the new value wins, the old exact one is dropped"
		hub.Spec.Template.Spec.Deletion.NodeDrainTimeoutSeconds = ptr.To(tc.seconds + 7)
		if err := conv.ToV1beta1(ctx, hub, back); err != nil {
			t.Fatal(err)
		}
		if got := back.Spec.Template.Spec.NodeDrainTimeout.Duration; got != time.Duration(tc.seconds+7)*time.Second {
			t.Errorf("%s: %s; got %s", tc.in, By, got)
		}
	}
}

func TestReferenceVersions(t *testing.T) {
	ctx := context.Background()
	v2 := &corev1beta2.MachinePool{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a"}, Spec: corev1beta2.MachinePoolSpec{Template: corev1beta2.MachineTemplateSpec{Spec: corev1beta2.MachineSpec{
		InfrastructureRef: corev1beta2.ContractVersionedObjectReference{APIGroup: "infrastructure.cluster.x-k8s.io", Kind: "AWSMachinePool", Name: "workers"},
	}}}}

	By := "the version comes from the kind's CRD contract label, the namespace is the pool's (as v1.7's webhook defaulted it)"
	out := &corev1beta1.MachinePool{}
	conv := Converter{APIVersion: contracts{{Group: "infrastructure.cluster.x-k8s.io", Kind: "AWSMachinePool"}: "infrastructure.cluster.x-k8s.io/v1beta2"}.lookup}
	if err := conv.ToV1beta1(ctx, v2, out); err != nil || out.Spec.Template.Spec.InfrastructureRef != (corev1.ObjectReference{
		APIVersion: "infrastructure.cluster.x-k8s.io/v1beta2", Kind: "AWSMachinePool", Name: "workers", Namespace: "team-a"}) {
		t.Fatalf("%s: %v, %+v", By, err, out.Spec.Template.Spec.InfrastructureRef)
	}

	By = "a missing or unlabelled CRD is an error naming the reference, never an empty version"
	for name, lookup := range map[string]APIVersionFunc{
		"missing":    contracts{}.lookup,
		"unlabelled": func(context.Context, schema.GroupKind) (string, error) { return "", nil },
	} {
		err := Converter{APIVersion: lookup}.ToV1beta1(ctx, v2, &corev1beta1.MachinePool{})
		if !errors.Is(err, ErrNoAPIVersion) || !strings.Contains(err.Error(), "infrastructureRef") || !strings.Contains(err.Error(), "AWSMachinePool") {
			t.Errorf("%s (%s): err = %v", By, name, err)
		}
	}

	By = "an object that was v1beta1 keeps its reference's version when the CRD cannot be read"
	v1 := &corev1beta1.MachinePool{Spec: corev1beta1.MachinePoolSpec{Template: corev1beta1.MachineTemplateSpec{Spec: corev1beta1.MachineSpec{
		InfrastructureRef: corev1.ObjectReference{APIVersion: "infrastructure.cluster.x-k8s.io/v1beta1", Kind: "AWSMachinePool", Name: "workers", Namespace: "team-a"},
	}}}}
	hub := &corev1beta2.MachinePool{}
	if err := (Converter{}).ToV1beta2(ctx, v1, hub); err != nil {
		t.Fatal(err)
	}
	back := &corev1beta1.MachinePool{}
	if err := (Converter{APIVersion: contracts{}.lookup}).ToV1beta1(ctx, hub, back); err != nil || back.Spec.Template.Spec.InfrastructureRef != v1.Spec.Template.Spec.InfrastructureRef {
		t.Errorf("%s: %v, %+v", By, err, back.Spec.Template.Spec.InfrastructureRef)
	}

	By = "a v1beta1 reference written without a namespace comes back in the pool's, also when its kind is not served"
	v1.Namespace, v1.Spec.Template.Spec.InfrastructureRef.Namespace = "team-b", ""
	hub = &corev1beta2.MachinePool{}
	if err := (Converter{}).ToV1beta2(ctx, v1, hub); err != nil {
		t.Fatal(err)
	}
	back = &corev1beta1.MachinePool{}
	want := v1.Spec.Template.Spec.InfrastructureRef
	want.Namespace = "team-b"
	if err := (Converter{APIVersion: contracts{}.lookup}).ToV1beta1(ctx, hub, back); err != nil || back.Spec.Template.Spec.InfrastructureRef != want {
		t.Errorf("%s: %v, %+v", By, err, back.Spec.Template.Spec.InfrastructureRef)
	}
	kept, err := KeptV1beta1(hub.ObjectMeta)
	if err != nil || kept.InfrastructureRef == nil || *kept.InfrastructureRef != v1.Spec.Template.Spec.InfrastructureRef {
		t.Errorf("KeptV1beta1 returns the reference as written: %v, %+v", err, kept.InfrastructureRef)
	}
}

func TestV1beta1StatusMovesUnderDeprecated(t *testing.T) {
	reason := corev1beta1.InvalidConfigurationMachinePoolError
	v1 := &corev1beta1.MachinePool{Status: corev1beta1.MachinePoolStatus{Replicas: 3, ReadyReplicas: 2, AvailableReplicas: 1, UnavailableReplicas: 2,
		FailureReason: &reason, FailureMessage: ptr.To("bad"), BootstrapReady: true,
		Conditions: corev1beta1.Conditions{{Type: corev1beta1.ReadyCondition, Status: corev1.ConditionFalse, Severity: corev1beta1.ConditionSeverityWarning, Reason: "R"}}}}
	hub := &corev1beta2.MachinePool{}
	if err := (Converter{}).ToV1beta2(context.Background(), v1, hub); err != nil {
		t.Fatal(err)
	}
	old := hub.Status.Deprecated.V1Beta1
	if *hub.Status.Replicas != 3 || old.ReadyReplicas != 2 || old.AvailableReplicas != 1 || old.UnavailableReplicas != 2 ||
		*old.FailureReason != "InvalidConfiguration" || *old.FailureMessage != "bad" || len(old.Conditions) != 1 || old.Conditions[0].Severity != "Warning" {
		t.Errorf("status = %+v, deprecated = %+v", hub.Status, old)
	}
	if b := hub.Status.Initialization.BootstrapDataSecretCreated; b == nil || !*b || hub.Status.Initialization.InfrastructureProvisioned != nil {
		t.Errorf("initialization = %+v, want bootstrapDataSecretCreated true and infrastructureProvisioned unset", hub.Status.Initialization)
	}
	// The counts mean the same in both versions here (instances whose Node is Ready, and for minReadySeconds).
	if r, a := hub.Status.ReadyReplicas, hub.Status.AvailableReplicas; r == nil || *r != 2 || a == nil || *a != 1 {
		t.Errorf("v1beta2 readyReplicas, availableReplicas = %v, %v; want v1beta1's 2 and 1", r, a)
	}

	// A v1beta1 writer that changes the counts of an object a v1beta2 writer wrote before moves both views.
	back := &corev1beta1.MachinePool{}
	if err := (Converter{}).ToV1beta1(context.Background(), hub, back); err != nil {
		t.Fatal(err)
	}
	back.Status.ReadyReplicas = 3
	if err := (Converter{}).ToV1beta2(context.Background(), back, hub); err != nil {
		t.Fatal(err)
	}
	if r := hub.Status.ReadyReplicas; r == nil || *r != 3 {
		t.Errorf("after a v1beta1 writer set readyReplicas 3, v1beta2 has %v", r)
	}

	// One that differs from v1beta1's is kept across a v1beta1 round trip.
	hub.Status.ReadyReplicas = ptr.To[int32](7)
	if err := (Converter{}).ToV1beta1(context.Background(), hub, back); err != nil {
		t.Fatal(err)
	}
	again := &corev1beta2.MachinePool{}
	if err := (Converter{}).ToV1beta2(context.Background(), back, again); err != nil {
		t.Fatal(err)
	}
	if r := again.Status.ReadyReplicas; r == nil || *r != 7 || back.Status.ReadyReplicas != 3 {
		t.Errorf("v1beta2 readyReplicas %v (want 7), v1beta1 %d (want 3)", r, back.Status.ReadyReplicas)
	}
}

// A negative minReadySeconds, which v1beta1 accepts (meaning 0), is 0 in v1beta2 (its minimum) and comes back
// exactly while v1beta2 writers leave it at 0.
func TestNegativeMinReadySeconds(t *testing.T) {
	ctx := context.Background()
	conv := Converter{APIVersion: fuzzContracts().lookup}
	hub := &corev1beta2.MachinePool{}
	if err := conv.ToV1beta2(ctx, &corev1beta1.MachinePool{Spec: corev1beta1.MachinePoolSpec{MinReadySeconds: ptr.To[int32](-5)}}, hub); err != nil {
		t.Fatal(err)
	}
	if got := hub.Spec.Template.Spec.MinReadySeconds; got == nil || *got != 0 {
		t.Fatalf("v1beta2 minReadySeconds = %v, want 0", got)
	}
	back := &corev1beta1.MachinePool{}
	if err := conv.ToV1beta1(ctx, hub, back); err != nil {
		t.Fatal(err)
	}
	if got := back.Spec.MinReadySeconds; got == nil || *got != -5 {
		t.Errorf("back in v1beta1 as %v, want -5", got)
	}
	hub.Spec.Template.Spec.MinReadySeconds = ptr.To[int32](30)
	if err := conv.ToV1beta1(ctx, hub, back); err != nil {
		t.Fatal(err)
	}
	if got := back.Spec.MinReadySeconds; got == nil || *got != 30 {
		t.Errorf("after a v1beta2 writer set 30: %v", got)
	}
}
