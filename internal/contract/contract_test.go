package contract

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func object(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestInfraMachinePool(t *testing.T) {
	for _, tc := range []struct {
		name          string
		doc           string
		ids           []string
		idsFound      bool
		replicas      int32
		replicasFound bool
		provisioned   bool
		failure       Failure
		wantErr       bool
	}{
		{name: "nothing reported yet", doc: `kind: X`},
		{name: "empty list is found", doc: `{kind: X, spec: {providerIDList: []}, status: {replicas: 0}}`,
			ids: []string{}, idsFound: true, replicasFound: true},
		{name: "v1beta1 ready", doc: `{kind: X, spec: {providerIDList: [a, b]}, status: {ready: true, replicas: 2}}`,
			ids: []string{"a", "b"}, idsFound: true, replicas: 2, replicasFound: true, provisioned: true},
		{name: "v1beta2 provisioned", doc: `{kind: X, status: {initialization: {provisioned: true}}}`, provisioned: true},
		{name: "failure reason alone", doc: `{kind: X, status: {failureReason: Boom}}`, failure: Failure{Reason: "Boom"}},
		{name: "failure message alone", doc: `{kind: X, status: {failureMessage: it broke}}`, failure: Failure{Message: "it broke"}},
		{name: "wrong type is an error", doc: `{kind: X, status: {ready: "yes"}}`, wantErr: true},
		{name: "list with a number", doc: `{kind: X, spec: {providerIDList: [a, 3]}}`, idsFound: true, wantErr: true},
		{name: "replicas too large", doc: `{kind: X, status: {replicas: 99999999999}}`, replicasFound: true, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := object(t, tc.doc)
			ids, found, err1 := InfraMachinePool.ProviderIDList(u)
			replicas, rFound, err2 := InfraMachinePool.Replicas(u)
			provisioned, err3 := InfraMachinePool.Provisioned(u)
			failure, err4 := InfraMachinePool.Failure(u)
			gotErr := err1 != nil || err2 != nil || err3 != nil || err4 != nil
			if gotErr != tc.wantErr {
				t.Fatalf("errors = %v %v %v %v, want error %v", err1, err2, err3, err4, tc.wantErr)
			}
			if found != tc.idsFound || (err1 == nil && len(ids) != len(tc.ids)) || (tc.ids != nil && ids == nil) {
				t.Errorf("providerIDList = %v (found %v), want %v (found %v)", ids, found, tc.ids, tc.idsFound)
			}
			if replicas != tc.replicas || rFound != tc.replicasFound {
				t.Errorf("replicas = %d (found %v), want %d (found %v)", replicas, rFound, tc.replicas, tc.replicasFound)
			}
			if provisioned != tc.provisioned {
				t.Errorf("provisioned = %v, want %v", provisioned, tc.provisioned)
			}
			if failure != tc.failure {
				t.Errorf("failure = %+v, want %+v", failure, tc.failure)
			}
		})
	}
}

func TestBootstrapConfigAndCluster(t *testing.T) {
	u := object(t, `{kind: KubeadmConfig, status: {initialization: {dataSecretCreated: true}, dataSecretName: data}}`)
	if ready, err := BootstrapConfig.Ready(u); err != nil || !ready {
		t.Errorf("Ready = %v, %v; want true (v1beta2 dataSecretCreated)", ready, err)
	}
	if name, found, err := BootstrapConfig.DataSecretName(u); err != nil || !found || name != "data" {
		t.Errorf("DataSecretName = %q %v %v", name, found, err)
	}

	c := object(t, `{kind: Cluster, spec: {paused: true}, status: {initialization: {infrastructureProvisioned: true}}}`)
	if paused, err := Cluster.Paused(c); err != nil || !paused {
		t.Errorf("Paused = %v, %v", paused, err)
	}
	if ready, err := Cluster.InfrastructureReady(c); err != nil || !ready {
		t.Errorf("InfrastructureReady = %v, %v; want true (v1beta2)", ready, err)
	}
	c = object(t, `{kind: Cluster, status: {infrastructureReady: false}}`)
	if ready, err := Cluster.InfrastructureReady(c); err != nil || ready {
		t.Errorf("InfrastructureReady = %v, %v; want false", ready, err)
	}
	c = object(t, `{kind: Cluster, status: {conditions: [{type: ControlPlaneInitialized, status: "True", lastTransitionTime: "2026-01-02T03:04:05Z"},
		{type: InfrastructureReady, status: "False", lastTransitionTime: "2026-01-02T03:04:05Z"}]}}`)
	if got := Cluster.TrueSince(c, "ControlPlaneInitialized"); got == nil || got.UTC().Format(time.RFC3339) != "2026-01-02T03:04:05Z" {
		t.Errorf("TrueSince(ControlPlaneInitialized) = %v, want 2026-01-02T03:04:05Z", got)
	}
	for _, typ := range []string{"InfrastructureReady", "Ready"} {
		if got := Cluster.TrueSince(c, typ); got != nil {
			t.Errorf("TrueSince(%s) = %v, want nil (False or absent)", typ, got)
		}
	}
}

func TestLatestContractVersion(t *testing.T) {
	for value, want := range map[string]string{
		"v1beta1":                  "v1beta1",
		"v1alpha4_v1beta1":         "v1beta1",
		"v1beta1_v1alpha4":         "v1beta1",
		"v1alpha3_v1alpha4":        "v1alpha4",
		"v1beta1_v1beta2_v1alpha4": "v1beta2",
		"v1beta2_v1":               "v1",
		"":                         "",
	} {
		got, ok := LatestContractVersion(map[string]string{ContractLabel: value})
		if got != want || ok != (want != "") {
			t.Errorf("LatestContractVersion(%q) = %q, %v; want %q", value, got, ok, want)
		}
	}
}

func TestLatestContractVersionPrefersTheNewestContract(t *testing.T) {
	for _, tc := range []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{ContractLabel: "v1beta1", ContractLabelV1beta2: "v1beta2"}, "v1beta2"},
		{map[string]string{ContractLabel: "v1beta2", ContractLabelV1beta2: "v1beta1"}, "v1beta1"}, // the v1beta2 contract's version wins
		{map[string]string{ContractLabel: "v1beta1", ContractLabelV1beta2: ""}, "v1beta1"},
		{map[string]string{"cluster.x-k8s.io/v1alpha4": "v1alpha4"}, ""},
	} {
		got, ok := LatestContractVersion(tc.labels)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("LatestContractVersion(%v) = %q, %v; want %q", tc.labels, got, ok, tc.want)
		}
	}
}
