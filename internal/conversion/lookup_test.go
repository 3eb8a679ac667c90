package conversion

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
)

// TestCRDLookup reads real CRDs from a real API server (envtest): ours, which carry the v1beta1 contract label,
// and one that carries none.
func TestCRDLookup(t *testing.T) {
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")}, ErrorIfCRDPathMissing: true,
		CRDs: []*apiextensionsv1.CustomResourceDefinition{{
			ObjectMeta: metav1.ObjectMeta{Name: "widgets.example.com"},
			Spec: apiextensionsv1.CustomResourceDefinitionSpec{Group: "example.com", Scope: apiextensionsv1.NamespaceScoped,
				Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList"},
				Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
					Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptrTrue()}}}}},
		}}}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	lookup := CRDLookup(c)
	ctx := context.Background()

	if got, err := lookup(ctx, schema.GroupKind{Group: "infrastructure.cluster.x-k8s.io", Kind: "SimMachinePool"}); err != nil || got != "infrastructure.cluster.x-k8s.io/v1beta1" {
		t.Errorf("SimMachinePool: %q, %v; want its contract label's version", got, err)
	}
	for gk, want := range map[schema.GroupKind]string{
		{Group: "example.com", Kind: "Widget"}:                    "CRD widgets.example.com has no",
		{Group: "infrastructure.example.com", Kind: "GadgetPool"}: "no CRD serves GadgetPool.infrastructure.example.com",
	} {
		got, err := lookup(ctx, gk)
		if !errors.Is(err, ErrNoAPIVersion) || !strings.Contains(err.Error(), want) || got != "" {
			t.Errorf("%s: %q, %v; want an ErrNoAPIVersion saying %q", gk, got, err, want)
		}
	}

	// A v1beta2 pool read as v1beta1 through the lookup.
	v2 := &corev1beta2.MachinePool{Spec: corev1beta2.MachinePoolSpec{Template: corev1beta2.MachineTemplateSpec{Spec: corev1beta2.MachineSpec{
		InfrastructureRef: corev1beta2.ContractVersionedObjectReference{APIGroup: "infrastructure.cluster.x-k8s.io", Kind: "SimMachinePool", Name: "workers"},
	}}}}
	v1 := &corev1beta1.MachinePool{}
	if err := (Converter{APIVersion: lookup}).ToV1beta1(ctx, v2, v1); err != nil || v1.Spec.Template.Spec.InfrastructureRef.APIVersion != "infrastructure.cluster.x-k8s.io/v1beta1" {
		t.Errorf("converted reference %+v, %v", v1.Spec.Template.Spec.InfrastructureRef, err)
	}
}

func ptrTrue() *bool { return ptr.To(true) }
