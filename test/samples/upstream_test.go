package samples_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
)

// Cluster API's own MachinePool manifests (copied by `make capi-crds` from sigs.k8s.io/cluster-api/test), applied
// with kubectl. What needs Cluster API's other providers is swapped for stand-ins:
//   - infrastructureRef DockerMachinePool / DevMachinePool -> our SimMachinePool of the same name, in the pool's
//     failure domains (the Docker kinds are dropped);
//   - bootstrap.configRef KubeadmConfig -> a GenericBootstrapConfig (test/fixtures) of the same name, whose
//     status this spec writes as a bootstrap provider would;
//   - Cluster, DockerCluster, KubeadmControlPlane, DockerMachineTemplate are dropped: the pools run standalone,
//     or, where another spec has installed Cluster API v1.7.1's Cluster CRD (with-cluster.yaml; it serves no
//     v1beta2), under a v1beta1 Cluster of the same name whose infrastructure this spec marks ready as Cluster
//     API's cluster controller would; the workload cluster is reached through the <cluster>-kubeconfig Secret;
//   - metadata.namespace and the references' namespace ("default") are dropped: each manifest is applied to a
//     namespace of its own;
//   - clusterctl variables: CLUSTER_NAME=demo, WORKER_MACHINE_COUNT=2, KUBERNETES_VERSION=v1.30.0, others their
//     default.
var upstreamVars = map[string]string{"CLUSTER_NAME": "demo", "WORKER_MACHINE_COUNT": "2", "KUBERNETES_VERSION": "v1.30.0"}

var clusterctlVar = regexp.MustCompile(`\$\{([A-Z0-9_]+)(:-([^}]*))?\}`)

// standIns turns an upstream manifest into what this spec applies: the MachinePools with their references
// swapped, and a SimMachinePool, a GenericBootstrapConfig and the Secrets each needs. It returns the YAML and
// the pools' names and replica counts.
func standIns(raw string, withCluster bool) (string, map[string]int64) {
	GinkgoHelper()
	raw = clusterctlVar.ReplaceAllStringFunc(raw, func(v string) string {
		m := clusterctlVar.FindStringSubmatch(v)
		if val, ok := upstreamVars[m[1]]; ok {
			return val
		}
		return m[3]
	})
	var out []string
	pools := map[string]int64{}
	clusters := map[string]bool{}
	for doc := range strings.SplitSeq(raw, "\n---") {
		u := &unstructured.Unstructured{}
		Expect(yaml.Unmarshal([]byte(doc), &u.Object)).To(Succeed())
		if u.GetKind() != "MachinePool" {
			continue // Cluster, DockerCluster, KubeadmControlPlane, DockerMachineTemplate, DockerMachinePool, KubeadmConfig
		}
		u.SetNamespace("")
		v1beta1 := u.GetAPIVersion() == "cluster.x-k8s.io/v1beta1"
		replicas, _, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "replicas")
		Expect(replicas).To(BeNumerically(">", 0), "%s: spec.replicas", u.GetName())
		pools[u.GetName()] = int64(replicas.(float64)) // JSON numbers
		cluster, _, _ := unstructured.NestedString(u.Object, "spec", "clusterName")
		clusters[cluster] = true

		infra, _, _ := unstructured.NestedMap(u.Object, "spec", "template", "spec", "infrastructureRef")
		Expect(infra["kind"]).To(BeElementOf("DockerMachinePool", "DevMachinePool"))
		infra["kind"] = "SimMachinePool"
		delete(infra, "namespace") // the example's "default": each manifest goes to a namespace of its own
		if v1beta1 {
			infra["apiVersion"] = "infrastructure.cluster.x-k8s.io/v1beta1"
		}
		Expect(unstructured.SetNestedMap(u.Object, infra, "spec", "template", "spec", "infrastructureRef")).To(Succeed())
		bootstrap, _, _ := unstructured.NestedMap(u.Object, "spec", "template", "spec", "bootstrap", "configRef")
		Expect(bootstrap["kind"]).To(Equal("KubeadmConfig"))
		bootstrap["kind"] = "GenericBootstrapConfig"
		delete(bootstrap, "namespace")
		Expect(unstructured.SetNestedMap(u.Object, bootstrap, "spec", "template", "spec", "bootstrap", "configRef")).To(Succeed())

		zones, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "failureDomains")
		smp := map[string]any{"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "SimMachinePool",
			"metadata": map[string]any{"name": infra["name"]},
			"spec":     map[string]any{"region": "local", "instanceType": "sim.small", "simulation": map[string]any{"bootDelay": "1s"}}}
		if len(zones) > 0 {
			smp["spec"].(map[string]any)["failureDomains"] = zones
		}
		config := map[string]any{"apiVersion": "bootstrap.cluster.x-k8s.io/v1beta1", "kind": "GenericBootstrapConfig",
			"metadata": map[string]any{"name": bootstrap["name"]}}
		data := map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": bootstrap["name"].(string) + "-data",
			"labels": map[string]any{"cluster.x-k8s.io/cluster-name": cluster}}, "stringData": map[string]any{"value": "#cloud-config\n"}}
		for _, obj := range []map[string]any{u.Object, smp, config, data} {
			b, err := yaml.Marshal(obj)
			Expect(err).NotTo(HaveOccurred())
			out = append(out, string(b))
		}
	}
	for cluster := range clusters {
		if withCluster {
			b, err := yaml.Marshal(map[string]any{"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster", "metadata": map[string]any{"name": cluster}})
			Expect(err).NotTo(HaveOccurred())
			out = append(out, string(b))
		}
		b, err := yaml.Marshal(map[string]any{"apiVersion": "v1", "kind": "Secret",
			"metadata": map[string]any{"name": cluster + "-kubeconfig", "labels": map[string]any{"cluster.x-k8s.io/cluster-name": cluster}},
			"data":     map[string]any{"value": base64.StdEncoding.EncodeToString(workloadKubeconfig)}})
		Expect(err).NotTo(HaveOccurred())
		out = append(out, string(b))
	}
	return strings.Join(out, "---\n"), pools
}

var _ = Describe("Cluster API's own MachinePool manifests", Ordered, func() {
	BeforeAll(func() {
		Expect(envtest.InstallCRDs(mgmtEnv.Config, envtest.CRDInstallOptions{
			Paths: []string{filepath.Join("..", "fixtures", "genericbootstrapconfig.yaml")}, ErrorIfPathMissing: true,
		})).Error().NotTo(HaveOccurred())
	})

	DescribeTable("apply with stand-ins for the other providers and reach Running",
		func(file string) {
			path := filepath.Join("..", "..", "config", "crd", "external", "reference", file)
			raw, err := os.ReadFile(path)
			Expect(err).NotTo(HaveOccurred(), "run `make capi-crds`")
			err = k8s.Get(ctx, client.ObjectKey{Name: "clusters.cluster.x-k8s.io"}, &apiextensionsv1.CustomResourceDefinition{})
			Expect(client.IgnoreNotFound(err)).To(Succeed())
			withCluster := err == nil
			manifest, pools := standIns(string(raw), withCluster)
			Expect(pools).NotTo(BeEmpty())
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "upstream-"}}
			Expect(k8s.Create(ctx, ns)).To(Succeed())
			applied := filepath.Join(GinkgoT().TempDir(), "manifest.yaml")
			Expect(os.WriteFile(applied, []byte(manifest), 0o600)).To(Succeed())
			_, stderr, err := kubectl("apply", "-n", ns.Name, "-f", applied)
			Expect(err).NotTo(HaveOccurred(), "kubectl apply: %s", readAll(stderr))

			DeferCleanup(func() {
				if CurrentSpecReport().Failed() {
					out, _, _ := kubectl("get", "machinepools.v1beta1.cluster.x-k8s.io,simmachinepools,genericbootstrapconfigs", "-n", ns.Name, "-o", "yaml")
					AddReportEntry("objects", readAll(out))
				}
			})
			By("playing the bootstrap provider: each config ready, with its data Secret")
			configs := &unstructured.UnstructuredList{}
			configs.SetAPIVersion("bootstrap.cluster.x-k8s.io/v1beta1")
			configs.SetKind("GenericBootstrapConfigList")
			Expect(k8s.List(ctx, configs, client.InNamespace(ns.Name))).To(Succeed())
			Expect(configs.Items).To(HaveLen(len(pools)))
			for i := range configs.Items {
				c := &configs.Items[i]
				Expect(unstructured.SetNestedField(c.Object, true, "status", "ready")).To(Succeed())
				Expect(unstructured.SetNestedField(c.Object, c.GetName()+"-data", "status", "dataSecretName")).To(Succeed())
				Expect(k8s.Status().Update(ctx, c)).To(Succeed())
			}

			if withCluster {
				By("playing Cluster API's cluster controller: the stand-in Clusters' infrastructure ready")
				clusterList := &unstructured.UnstructuredList{}
				clusterList.SetAPIVersion("cluster.x-k8s.io/v1beta1")
				clusterList.SetKind("ClusterList")
				Expect(k8s.List(ctx, clusterList, client.InNamespace(ns.Name))).To(Succeed())
				Expect(clusterList.Items).To(HaveLen(1))
				for i := range clusterList.Items {
					c := &clusterList.Items[i]
					Expect(unstructured.SetNestedField(c.Object, true, "status", "infrastructureReady")).To(Succeed())
					Expect(k8s.Status().Update(ctx, c)).To(Succeed())
				}
			}

			for name, replicas := range pools {
				Eventually(func() corev1beta2.MachinePoolStatus {
					p := &corev1beta2.MachinePool{}
					_ = k8s.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: name}, p)
					return p.Status
				}).WithTimeout(90*time.Second).WithPolling(time.Second).Should(And(HaveField("Phase", "Running"),
					HaveField("ReadyReplicas", HaveValue(BeEquivalentTo(replicas))), HaveField("NodeRefs", HaveLen(int(replicas)))), name)
				Eventually(poolStatus(ns.Name, name)).Should(runningWith(int32(replicas)), "%s, read as v1beta1", name)
			}
		},
		Entry("v1.7.1 (v1beta1): infrastructure/docker/examples/machine-pool.yaml", "example-machine-pool.yaml"),
		Entry("v1.7.1 (v1beta1): e2e/data/infrastructure-docker/main/bases/mp.yaml", "e2e-mp.yaml"),
		Entry("v1.14.2 (v1beta2): infrastructure/docker/examples/machine-pool.yaml", filepath.Join("v1.14.2", "example-machine-pool.yaml")),
		Entry("v1.14.2 (v1beta2): e2e/data/infrastructure-docker/main/bases/mp.yaml", filepath.Join("v1.14.2", "e2e-mp.yaml")),
	)
})
