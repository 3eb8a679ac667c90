package providers_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// The providers' own cluster templates (copied by `make provider-crds`), applied with what needs other
// providers swapped for stand-ins:
//   - the MachinePool (cluster.x-k8s.io/v1beta1) and its infrastructure pool (AWSMachinePool,
//     AWSManagedMachinePool, GCPManagedMachinePool) are applied as written, against the real CRDs;
//   - bootstrap.configRef KubeadmConfig (CAPA's machinepool template) and NodeadmConfig (CAPA's EKS template) ->
//     a GenericBootstrapConfig (test/fixtures) of the same name, whose status the spec writes as a bootstrap
//     provider would; the GKE template's pool has no config but dataSecretName "" (GKE bootstraps its nodes),
//     kept as written;
//   - the Cluster is applied as written to Cluster API v1.7.1's Cluster CRD (its infrastructureRef and
//     controlPlaneRef name kinds not installed here, which nothing follows) and its infrastructure marked ready
//     as Cluster API's cluster controller would;
//   - dropped, the workload cluster existing already (reached through the <cluster>-kubeconfig Secret):
//     AWSCluster, KubeadmControlPlane, AWSMachineTemplate, MachineHealthCheck, the two ClusterResourceSets and
//     their ConfigMaps (CAPA's machinepool template); AWSManagedCluster, AWSManagedControlPlane (CAPA's EKS
//     template); GCPManagedCluster, GCPManagedControlPlane (CAPG's GKE template);
//   - clusterctl variables: templateVars, others their default.
var templateVars = map[string]string{
	"CLUSTER_NAME": "demo", "WORKER_MACHINE_COUNT": "2", "KUBERNETES_VERSION": "v1.30.0",
	"AWS_REGION": "us-east-1", "AWS_AVAILABILITY_ZONE": awsZone, "AWS_SSH_KEY_NAME": "default",
	"AWS_NODE_MACHINE_TYPE": "t3.large", "AWS_CONTROL_PLANE_MACHINE_TYPE": "t3.large", "CONTROL_PLANE_MACHINE_COUNT": "1",
	"GCP_PROJECT": gcpProject, "GCP_REGION": "europe-west2", "GCP_NETWORK_NAME": "default",
}

var clusterctlVar = regexp.MustCompile(`\$\{([A-Z0-9_]+)(:-([^}]*))?\}`)

func awsTemplate(name string) string {
	return filepath.Join(externalCRDs, "providers", "aws", "templates", name)
}

func gcpTemplate(name string) string {
	return filepath.Join(externalCRDs, "providers", "gcp", "templates", name)
}

// applied is a template's MachinePool as applied to a spec's namespace, with its infrastructure pool.
type applied struct {
	world *world
	pool  poolRef
	infra *unstructured.Unstructured
}

// applyTemplate applies a template's Cluster, MachinePool and infrastructure pool, with the stand-ins above, to
// a namespace of its own.
func applyTemplate(path string) applied {
	GinkgoHelper()
	raw, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred(), "run `make provider-crds`")
	raw = clusterctlVar.ReplaceAllFunc(raw, func(v []byte) []byte {
		m := clusterctlVar.FindSubmatch(v)
		if val, ok := templateVars[string(m[1])]; ok {
			return []byte(val)
		}
		if m[2] != nil {
			return m[3]
		}
		return v // unset and no default: only allowed in documents that are dropped (checked below)
	})
	var cluster, pool, infra *unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			break
		}
		Expect(err).NotTo(HaveOccurred(), path)
		switch u.GetKind() {
		case "Cluster":
			cluster = u
		case "MachinePool":
			Expect(pool).To(BeNil(), "%s: one MachinePool", path)
			pool = u
		case "AWSMachinePool", "AWSManagedMachinePool", "GCPManagedMachinePool":
			infra = u
		}
	}
	Expect([]*unstructured.Unstructured{cluster, pool, infra}).NotTo(ContainElement(BeNil()), "%s: a Cluster, a MachinePool and its pool", path)
	for _, u := range []*unstructured.Unstructured{cluster, pool, infra} {
		b, err := yaml.Marshal(u.Object)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).NotTo(ContainSubstring("${"), "%s: a clusterctl variable without a value in %s %s", path, u.GetKind(), u.GetName())
	}
	Expect(pool.GetAPIVersion()).To(Equal("cluster.x-k8s.io/v1beta1"))
	ref, _, _ := unstructured.NestedStringMap(pool.Object, "spec", "template", "spec", "infrastructureRef")
	Expect(ref).To(And(HaveKeyWithValue("kind", infra.GetKind()), HaveKeyWithValue("name", infra.GetName()),
		HaveKeyWithValue("apiVersion", infra.GetAPIVersion())), "%s: the pool references its infrastructure pool", path)

	w := newWorld(cluster.GetName())
	w.createCluster(cluster)
	if config, found, _ := unstructured.NestedStringMap(pool.Object, "spec", "template", "spec", "bootstrap", "configRef"); found {
		Expect(config["kind"]).To(BeElementOf("KubeadmConfig", "NodeadmConfig"))
		w.readyBootstrapConfig(config["name"])
		set(pool, map[string]any{"apiVersion": bootstrapGVK.GroupVersion().String(), "kind": bootstrapGVK.Kind, "name": config["name"]},
			"spec", "template", "spec", "bootstrap", "configRef")
	}
	w.create(pool, infra)
	return applied{world: w, pool: poolRef{ObjectKey: w.key(pool.GetName()), version: "v1beta1"}, infra: infra}
}

// cloudFor plays the provider of an applied template's infrastructure pool (CAPA's MachinePoolMachines gate off).
func cloudFor(a applied) *cloud {
	GinkgoHelper()
	name := a.infra.GetName()
	switch a.infra.GetKind() {
	case "AWSMachinePool":
		return awsMachinePoolCloud(a.world, name, a.pool, false)
	case "AWSManagedMachinePool":
		return awsManagedMachinePoolCloud(a.world, name, a.pool)
	case "GCPManagedMachinePool":
		return gcpManagedMachinePoolCloud(a.world, name, a.pool)
	}
	Fail("no provider played for " + a.infra.GetKind())
	return nil
}

var _ = Describe("The providers' own MachinePool templates (v1beta1)", func() {
	DescribeTable("apply with stand-ins, go Running with every Node mapped, scale up and down, and go away",
		func(path string) {
			a := applyTemplate(path)
			w := a.world
			lifecycle(cloudFor(a), func([]instance) {
				// No MachinePool Machines: AWSMachinePool without CAPA's gate and AWSManagedMachinePool report no
				// status.infrastructureMachineKind; GCPManagedMachinePool names its own kind (gcp_test.go).
				Expect(w.machines(Default)).To(BeEmpty())
			})
		},
		Entry("CAPA v2.13.0 templates/cluster-template-machinepool.yaml: AWSMachinePool (MachinePoolMachines gate off: no Machines)",
			awsTemplate("cluster-template-machinepool.yaml")),
		Entry("CAPA v2.13.0 templates/cluster-template-eks-managedmachinepool.yaml: AWSManagedMachinePool",
			awsTemplate("cluster-template-eks-managedmachinepool.yaml")),
		Entry("CAPG v1.13.1 templates/cluster-template-gke.yaml: GCPManagedMachinePool", gcpTemplate("cluster-template-gke.yaml")),
	)
})
