package schema_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files from the generated CRDs")

const (
	basesDir           = "../../config/crd/bases"
	upstreamCRD        = "../../config/crd/external/reference/cluster.x-k8s.io_machinepools.yaml"
	upstreamV1beta2    = "../../config/crd/external/reference/v1.14.2/cluster.x-k8s.io_machinepools.yaml"
	contractKey        = "cluster.x-k8s.io/v1beta1"
	contractVal        = "v1beta1"
	goldenPlainVersion = "v1beta1" // the version whose golden file has no version suffix
)

func readCRD(t *testing.T, path string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.Unmarshal(raw, crd); err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	return crd
}

// crdVersion returns one version of a CRD.
func crdVersion(t *testing.T, crd *apiextensionsv1.CustomResourceDefinition, name string) *apiextensionsv1.CustomResourceDefinitionVersion {
	t.Helper()
	for i := range crd.Spec.Versions {
		if crd.Spec.Versions[i].Name == name {
			return &crd.Spec.Versions[i]
		}
	}
	t.Fatalf("CRD %s has no version %s", crd.Name, name)
	return nil
}

// flatten lists every property path of a schema with its type: "spec.template.spec.version: string".
// Lists add "[]", maps "{}"; int-or-string fields are "int-or-string".
func flatten(s *apiextensionsv1.JSONSchemaProps, path string, out map[string]string) {
	typ := s.Type
	if s.XIntOrString {
		typ = "int-or-string"
	}
	if path != "" {
		out[path] = typ
	}
	for name, prop := range s.Properties {
		flatten(&prop, strings.TrimPrefix(path+"."+name, "."), out)
	}
	if s.Items != nil && s.Items.Schema != nil {
		flatten(s.Items.Schema, path+"[]", out)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		flatten(s.AdditionalProperties.Schema, path+"{}", out)
	}
}

// requiredFields lists "path.field" for every required field of a schema.
func requiredFields(s *apiextensionsv1.JSONSchemaProps, path string, out map[string]bool) {
	for _, r := range s.Required {
		out[strings.TrimPrefix(path+"."+r, ".")] = true
	}
	for name, prop := range s.Properties {
		requiredFields(&prop, strings.TrimPrefix(path+"."+name, "."), out)
	}
	if s.Items != nil && s.Items.Schema != nil {
		requiredFields(s.Items.Schema, path+"[]", out)
	}
}

func lines(m map[string]string) []string {
	var l []string
	for k, v := range m {
		l = append(l, k+": "+v)
	}
	sort.Strings(l)
	return l
}

func ourCRDs(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(basesDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in %s (run make manifests): %v", basesDir, err)
	}
	return files
}

// TestSchemaGolden pins every CRD's property paths and types; a removed or retyped field fails here.
func TestSchemaGolden(t *testing.T) {
	for _, file := range ourCRDs(t) {
		crd := readCRD(t, file)
		for _, v := range crd.Spec.Versions {
			t.Run(crd.Name+"/"+v.Name, func(t *testing.T) { checkGolden(t, crd, v) })
		}
	}
}

// checkGolden compares one version's schema with its golden file (<crd>.golden for v1beta1, else
// <crd>.<version>.golden).
func checkGolden(t *testing.T, crd *apiextensionsv1.CustomResourceDefinition, v apiextensionsv1.CustomResourceDefinitionVersion) {
	t.Helper()
	paths := map[string]string{}
	flatten(v.Schema.OpenAPIV3Schema, "", paths)
	got := strings.Join(lines(paths), "\n") + "\n"
	name := crd.Name + ".golden"
	if v.Name != goldenPlainVersion {
		name = crd.Name + "." + v.Name + ".golden"
	}
	golden := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("reading %s (run go test ./test/schema -update after an intended API change): %v", golden, err)
	}
	if got != string(want) {
		t.Errorf("the schema of %s %s changed; if intended, run `go test ./test/schema -update` and commit the golden file.\n%s",
			crd.Name, v.Name, diff(strings.Split(string(want), "\n"), strings.Split(got, "\n")))
	}
}

func diff(want, got []string) string {
	var b strings.Builder
	for _, l := range want {
		if l != "" && !slices.Contains(got, l) {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	for _, l := range got {
		if l != "" && !slices.Contains(want, l) {
			fmt.Fprintf(&b, "+ %s\n", l)
		}
	}
	return b.String()
}

// TestContractLabel checks that every CRD carries Cluster API's contract label; Cluster API's controllers
// refuse references to kinds whose CRD lacks it.
func TestContractLabel(t *testing.T) {
	for _, file := range ourCRDs(t) {
		crd := readCRD(t, file)
		if got := crd.Labels[contractKey]; got != contractVal {
			t.Errorf("CRD %s: label %s = %q, want %q", crd.Name, contractKey, got, contractVal)
		}
	}
}

// TestWireCompatibleWithClusterAPI checks, for each API version, that every property path and type of Cluster
// API's MachinePool of that version (v1beta1 from v1.7.1, v1beta2 from v1.14.2) exists in ours with the same
// type, and that we require nothing it does not.
func TestWireCompatibleWithClusterAPI(t *testing.T) {
	for _, tc := range []struct{ version, release, crd string }{
		{"v1beta1", "v1.7.1", upstreamCRD},
		{"v1beta2", "v1.14.2", upstreamV1beta2},
	} {
		t.Run(tc.version, func(t *testing.T) {
			if _, err := os.Stat(tc.crd); err != nil {
				t.Fatalf("Cluster API %s's MachinePool CRD is missing; run `make capi-crds`: %v", tc.release, err)
			}
			theirs := crdVersion(t, readCRD(t, tc.crd), tc.version).Schema.OpenAPIV3Schema
			ours := crdVersion(t, readCRD(t, filepath.Join(basesDir, "cluster.x-k8s.io_machinepools.yaml")), tc.version).Schema.OpenAPIV3Schema

			theirPaths, ourPaths := map[string]string{}, map[string]string{}
			flatten(theirs, "", theirPaths)
			flatten(ours, "", ourPaths)
			if len(theirPaths) < 50 {
				t.Fatalf("only %d paths in Cluster API's schema; the reference CRD looks wrong", len(theirPaths))
			}
			for path, typ := range theirPaths {
				got, ok := ourPaths[path]
				switch {
				case !ok:
					t.Errorf("missing %s (%s), which Cluster API %s serves", path, typ, tc.release)
				case got != typ:
					t.Errorf("%s is %q, Cluster API %s has %q", path, got, tc.release, typ)
				}
			}

			theirRequired, ourRequired := map[string]bool{}, map[string]bool{}
			requiredFields(theirs, "", theirRequired)
			requiredFields(ours, "", ourRequired)
			for r := range ourRequired {
				if !theirRequired[r] {
					t.Errorf("%s is required here but optional in Cluster API %s: manifests it accepts would be refused", r, tc.release)
				}
			}
		})
	}
}

// TestMachinePoolCRDShape checks what kubectl users and the cluster-autoscaler rely on: names, scale
// subresource and printer columns.
func TestMachinePoolCRDShape(t *testing.T) {
	crd := readCRD(t, filepath.Join(basesDir, "cluster.x-k8s.io_machinepools.yaml"))
	if !slices.Contains(crd.Spec.Names.ShortNames, "mp") || !slices.Contains(crd.Spec.Names.Categories, "cluster-api") {
		t.Errorf("names = %+v, want short name mp and category cluster-api", crd.Spec.Names)
	}
	for _, tc := range []struct {
		version string
		storage bool
		columns []string
	}{
		{"v1beta1", false, []string{"Cluster", "Desired", "Replicas", "Ready", "Available", "Phase", "Age", "Version"}},
		// What `kubectl get mp` shows: v1beta2 is the group's preferred version.
		{"v1beta2", true, []string{"Cluster", "Desired", "Current", "Ready", "Available", "Up-to-date", "Phase", "Age", "Version"}},
	} {
		v := crdVersion(t, crd, tc.version)
		if !v.Served || v.Storage != tc.storage {
			t.Errorf("%s served=%v storage=%v, want served, storage %v", tc.version, v.Served, v.Storage, tc.storage)
		}
		scale := v.Subresources.Scale
		if v.Subresources.Status == nil || scale == nil || scale.SpecReplicasPath != ".spec.replicas" ||
			scale.StatusReplicasPath != ".status.replicas" || scale.LabelSelectorPath == nil || *scale.LabelSelectorPath != ".status.selector" {
			t.Errorf("%s subresources = %+v, want status and scale (.spec.replicas, .status.replicas, .status.selector)", tc.version, v.Subresources)
		}
		var normal, wide []string
		for _, c := range v.AdditionalPrinterColumns {
			if c.Priority == 0 {
				normal = append(normal, c.Name)
			} else {
				wide = append(wide, c.Name)
			}
		}
		if !slices.Equal(normal, tc.columns) {
			t.Errorf("%s printer columns = %v, want %v", tc.version, normal, tc.columns)
		}
		if len(wide) == 0 {
			t.Errorf("%s: no -o wide printer columns", tc.version)
		}
	}
}
