package webhook_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
)

func readAll(r io.Reader) string {
	GinkgoHelper()
	b, err := io.ReadAll(r)
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

// newPool is a minimal valid MachinePool, as a user would write it.
func newPool(ns, name string) *corev1beta1.MachinePool {
	return &corev1beta1.MachinePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1beta1.MachinePoolSpec{
			ClusterName: "demo",
			Template: corev1beta1.MachineTemplateSpec{Spec: corev1beta1.MachineSpec{
				ClusterName: "demo",
				Bootstrap: corev1beta1.Bootstrap{ConfigRef: &corev1.ObjectReference{
					APIVersion: "bootstrap.cluster.x-k8s.io/v1beta1", Kind: "KubeadmConfig", Name: name + "-config",
				}},
				InfrastructureRef: corev1.ObjectReference{
					APIVersion: "infrastructure.cluster.x-k8s.io/v1beta1", Kind: "SimMachinePool", Name: name,
				},
				Version: ptr.To("v1.30.0"),
			}},
		},
	}
}

func autoscaled(p *corev1beta1.MachinePool, minSize, maxSize string) *corev1beta1.MachinePool {
	p.Annotations = map[string]string{
		corev1beta1.AutoscalerMinSizeAnnotation: minSize,
		corev1beta1.AutoscalerMaxSizeAnnotation: maxSize,
	}
	return p
}

// expectInvalid asserts that err is a rejection that names the field and says how to fix it.
func expectInvalid(err error, fieldPath, fix string) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred())
	Expect(apierrors.IsInvalid(err)).To(BeTrue(), "expected an Invalid error, got %v", err)
	Expect(err.Error()).To(ContainSubstring(fieldPath))
	Expect(err.Error()).To(ContainSubstring(fix))
}

var _ = Describe("MachinePool defaulting", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("sets the cluster-name label, replicas 1, minReadySeconds 0, the refs' namespaces and the version's v prefix", func() {
		p := newPool(ns, "defaults")
		p.Spec.Template.Spec.Version = ptr.To("1.30.2")
		Expect(k8s.Create(ctx, p)).To(Succeed())

		got := &corev1beta1.MachinePool{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), got)).To(Succeed())
		Expect(got.Labels).To(HaveKeyWithValue(corev1beta1.ClusterNameLabel, "demo"))
		Expect(got.Spec.Replicas).To(Equal(ptr.To[int32](1)))
		Expect(got.Spec.MinReadySeconds).To(Equal(ptr.To[int32](0)))
		Expect(got.Spec.Template.Spec.Bootstrap.ConfigRef.Namespace).To(Equal(ns))
		Expect(got.Spec.Template.Spec.InfrastructureRef.Namespace).To(Equal(ns))
		Expect(got.Spec.Template.Spec.Version).To(Equal(ptr.To("v1.30.2")))
	})

	It("keeps replicas and minReadySeconds that the manifest sets, zero included", func() {
		p := newPool(ns, "explicit")
		p.Spec.Replicas = ptr.To[int32](0)
		p.Spec.MinReadySeconds = ptr.To[int32](30)
		Expect(k8s.Create(ctx, p)).To(Succeed())
		Expect(p.Spec.Replicas).To(Equal(ptr.To[int32](0)))
		Expect(p.Spec.MinReadySeconds).To(Equal(ptr.To[int32](30)))
	})

	It("defaults replicas to the autoscaler's min size on create", func() {
		p := autoscaled(newPool(ns, "autoscaled"), "3", "7")
		Expect(k8s.Create(ctx, p)).To(Succeed())
		Expect(p.Spec.Replicas).To(Equal(ptr.To[int32](3)))
	})

	It("defaults replicas to 1 when the autoscaler annotations cannot be used", func() {
		for name, bounds := range map[string][2]string{"not-integer": {"two", "5"}, "min-above-max": {"6", "5"}} {
			p := autoscaled(newPool(ns, name), bounds[0], bounds[1])
			Expect(k8s.Create(ctx, p)).To(Succeed())
			Expect(p.Spec.Replicas).To(Equal(ptr.To[int32](1)), name)
		}
	})

	DescribeTable("clamps the old replicas into the autoscaler's range when an update hands the pool over",
		func(old, want int32) {
			p := newPool(ns, "handover")
			p.Spec.Replicas = ptr.To(old)
			Expect(k8s.Create(ctx, p)).To(Succeed())

			autoscaled(p, "2", "5")
			p.Spec.Replicas = nil
			Expect(k8s.Update(ctx, p)).To(Succeed())
			Expect(p.Spec.Replicas).To(Equal(ptr.To(want)))
		},
		Entry("below min: raised to min", int32(1), int32(2)),
		Entry("inside the range: kept", int32(3), int32(3)),
		Entry("above max: lowered to max", int32(10), int32(5)),
	)
})

var _ = Describe("MachinePool validation", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("rejects a pool with neither a bootstrap configRef nor a dataSecretName", func() {
		p := newPool(ns, "no-bootstrap")
		p.Spec.Template.Spec.Bootstrap.ConfigRef = nil
		expectInvalid(k8s.Create(ctx, p), "spec.template.spec.bootstrap", "set configRef to a bootstrap config")

		p.Spec.Template.Spec.Bootstrap.DataSecretName = ptr.To("bootstrap-data")
		Expect(k8s.Create(ctx, p)).To(Succeed())
	})

	It("rejects a bootstrap configRef in another namespace", func() {
		p := newPool(ns, "bootstrap-ns")
		p.Spec.Template.Spec.Bootstrap.ConfigRef.Namespace = "elsewhere"
		expectInvalid(k8s.Create(ctx, p), "spec.template.spec.bootstrap.configRef.namespace", `must be the MachinePool's namespace "`+ns+`"`)
	})

	It("rejects an infrastructureRef in another namespace", func() {
		p := newPool(ns, "infra-ns")
		p.Spec.Template.Spec.InfrastructureRef.Namespace = "elsewhere"
		expectInvalid(k8s.Create(ctx, p), "spec.template.spec.infrastructureRef.namespace", "leave it empty to default to it")
	})

	It("rejects a change of clusterName", func() {
		p := newPool(ns, "move")
		Expect(k8s.Create(ctx, p)).To(Succeed())
		p.Spec.ClusterName = "other"
		p.Spec.Template.Spec.ClusterName = "other"
		err := k8s.Update(ctx, p)
		expectInvalid(err, "spec.clusterName", "create a new MachinePool for the other cluster")
	})

	It("rejects a version that is not a Kubernetes semantic version", func() {
		p := newPool(ns, "bad-version")
		p.Spec.Template.Spec.Version = ptr.To("1.30")
		expectInvalid(k8s.Create(ctx, p), "spec.template.spec.version", "must be a Kubernetes semantic version such as v1.30.0")
	})

	It("rejects invalid template metadata", func() {
		p := newPool(ns, "bad-metadata")
		p.Spec.Template.Labels = map[string]string{"bad key!": "x"}
		expectInvalid(k8s.Create(ctx, p), "spec.template.metadata.labels", "name part must consist of alphanumeric characters")

		p.Spec.Template.Labels = nil
		p.Spec.Template.Annotations = map[string]string{"/no-name": "x"}
		expectInvalid(k8s.Create(ctx, p), "spec.template.metadata.annotations", "prefix part must be non-empty")
	})

	It("rejects a cluster name that cannot be a label value, and says why", func() {
		p := newPool(ns, "bad-cluster")
		p.Spec.ClusterName = "-demo"
		p.Spec.Template.Spec.ClusterName = "-demo"
		expectInvalid(k8s.Create(ctx, p), "spec.clusterName", "must be a valid label value, because it becomes the cluster.x-k8s.io/cluster-name label")
	})

	It("lets the API server refuse negative replicas through the scale subresource", func() {
		p := newPool(ns, "scale-negative")
		Expect(k8s.Create(ctx, p)).To(Succeed())
		scale := &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: -1}}
		err := k8s.SubResource("scale").Update(ctx, p, client.WithSubResourceBody(scale))
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("should be a non-negative integer"))
	})

	Context("with the MachinePool feature gate off", func() {
		BeforeEach(func() {
			Expect(gates.Set("MachinePool=false")).To(Succeed())
			DeferCleanup(func() { Expect(gates.Set("MachinePool=true")).To(Succeed()) })
		})

		It("refuses to create or change a MachinePool and says how to turn the gate on, but lets it be deleted", func() {
			Expect(gates.Set("MachinePool=true")).To(Succeed())
			existing := newPool(ns, "existing")
			Expect(k8s.Create(ctx, existing)).To(Succeed())
			Expect(gates.Set("MachinePool=false")).To(Succeed())

			err := k8s.Create(ctx, newPool(ns, "gated"))
			Expect(apierrors.IsForbidden(err)).To(BeTrue(), "got %v", err)
			Expect(err.Error()).To(ContainSubstring("--feature-gates=MachinePool=true"))
			Expect(err.Error()).To(ContainSubstring("EXP_MACHINE_POOL=true"))

			existing.Spec.Replicas = ptr.To[int32](4)
			Expect(apierrors.IsForbidden(k8s.Update(ctx, existing))).To(BeTrue())

			Expect(k8s.Delete(ctx, existing)).To(Succeed())
		})
	})
})

var _ = Describe("MachinePool admission warnings", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	create := func(p *corev1beta1.MachinePool) []string {
		GinkgoHelper()
		warnings, err := withWarnings(func(c client.Client) error { return c.Create(ctx, p) })
		Expect(err).NotTo(HaveOccurred(), "a warning case must be accepted")
		return warnings
	}

	It("accepts a valid pool without warnings", func() {
		Expect(create(newPool(ns, "clean"))).To(BeEmpty())
	})

	It("shows the warnings to kubectl users, and kubectl accepts the pool", func() {
		p := autoscaled(newPool(ns, "kubectl-warned"), "2", "4")
		p.Spec.Replicas = ptr.To[int32](9)
		p.APIVersion, p.Kind = corev1beta1.GroupVersion.String(), "MachinePool"
		raw, err := yaml.Marshal(p)
		Expect(err).NotTo(HaveOccurred())
		manifest := filepath.Join(GinkgoT().TempDir(), "pool.yaml")
		Expect(os.WriteFile(manifest, raw, 0o600)).To(Succeed())

		stdout, stderr, err := kubectl("apply", "-f", manifest)
		Expect(err).NotTo(HaveOccurred())
		Expect(readAll(stdout)).To(ContainSubstring("machinepool.cluster.x-k8s.io/kubectl-warned created"))
		Expect(readAll(stderr)).To(ContainSubstring("Warning: spec.replicas (9) is outside the cluster-autoscaler's range [2, 4]"))
	})

	It("warns when the template's clusterName differs from spec.clusterName", func() {
		p := newPool(ns, "mismatch")
		p.Spec.Template.Spec.ClusterName = "other"
		Expect(create(p)).To(ContainElement(And(ContainSubstring("spec.template.spec.clusterName"), ContainSubstring("set both to the same name"))))
	})

	It("warns when the autoscaler annotations are not integers", func() {
		p := autoscaled(newPool(ns, "not-integer"), "1", "lots")
		Expect(create(p)).To(ContainElement(And(ContainSubstring(corev1beta1.AutoscalerMaxSizeAnnotation), ContainSubstring("must be a non-negative integer"))))
	})

	It("warns when the autoscaler's min size is greater than its max size", func() {
		p := autoscaled(newPool(ns, "min-above-max"), "5", "2")
		Expect(create(p)).To(ContainElement(ContainSubstring("is greater than " + corev1beta1.AutoscalerMaxSizeAnnotation)))
	})

	It("warns when only one autoscaler annotation is set", func() {
		p := newPool(ns, "half")
		p.Annotations = map[string]string{corev1beta1.AutoscalerMinSizeAnnotation: "1"}
		Expect(create(p)).To(ContainElement(ContainSubstring("the cluster-autoscaler needs both")))
	})

	It("warns when replicas are outside the autoscaler's range", func() {
		p := autoscaled(newPool(ns, "outside"), "2", "4")
		p.Spec.Replicas = ptr.To[int32](9)
		Expect(create(p)).To(ContainElement(And(ContainSubstring("spec.replicas (9)"), ContainSubstring("[2, 4]"))))
	})

	It("warns about negative numbers that Cluster API's schema allows", func() {
		p := newPool(ns, "negative")
		p.Spec.MinReadySeconds = ptr.To[int32](-5)
		p.Spec.Template.Spec.NodeDrainTimeout = &metav1.Duration{Duration: -time.Second}
		warnings := create(p)
		Expect(warnings).To(ContainElement(ContainSubstring("spec.minReadySeconds is negative")))
		Expect(warnings).To(ContainElement(ContainSubstring("spec.template.spec.nodeDrainTimeout is negative")))
	})
})

var _ = Describe("Cluster API's own example MachinePools", func() {
	// The documents come from sigs.k8s.io/cluster-api/test@v1.7.1, copied by `make capi-crds`.
	vars := strings.NewReplacer(
		"${CLUSTER_NAME}", "demo",
		"${WORKER_MACHINE_COUNT}", "3",
		"${KUBERNETES_VERSION}", "v1.30.0",
	)

	DescribeTable("are accepted by kubectl apply --dry-run=server, and for real",
		func(file string) {
			raw, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "external", "reference", file))
			Expect(err).NotTo(HaveOccurred(), "run `make capi-crds` to copy Cluster API's examples")
			ns := newNamespace()
			var pools []*unstructured.Unstructured
			var docs []string
			for _, doc := range strings.Split(vars.Replace(string(raw)), "\n---") {
				u := &unstructured.Unstructured{}
				Expect(yaml.Unmarshal([]byte(doc), &u.Object)).To(Succeed())
				if u.GetKind() != "MachinePool" {
					continue
				}
				if u.GetNamespace() == "" {
					u.SetNamespace(ns)
				}
				pools = append(pools, u)
				docs = append(docs, doc)
			}
			Expect(pools).NotTo(BeEmpty(), "no MachinePool in %s", file)

			// As a user would check them: kubectl apply --dry-run=server of the MachinePool documents.
			manifest := filepath.Join(GinkgoT().TempDir(), "pools.yaml")
			Expect(os.WriteFile(manifest, []byte(strings.Join(docs, "\n---\n")), 0o600)).To(Succeed())
			stdout, stderr, err := kubectl("apply", "--dry-run=server", "-n", pools[0].GetNamespace(), "-f", manifest)
			Expect(err).NotTo(HaveOccurred(), "kubectl: %s", readAll(stderr))
			Expect(readAll(stdout)).To(ContainSubstring("created (server dry run)"))

			for _, u := range pools {
				Expect(k8s.Create(ctx, u)).To(Succeed())
				DeferCleanup(func() { _ = k8s.Delete(ctx, u) })

				got := &corev1beta1.MachinePool{}
				Expect(k8s.Get(ctx, client.ObjectKeyFromObject(u), got)).To(Succeed())
				Expect(got.Labels).To(HaveKeyWithValue(corev1beta1.ClusterNameLabel, got.Spec.ClusterName))
				Expect(got.Spec.Template.Spec.InfrastructureRef.Namespace).To(Equal(got.Namespace))
			}
		},
		Entry("infrastructure/docker/examples/machine-pool.yaml", "example-machine-pool.yaml"),
		Entry("e2e/data/infrastructure-docker/main/bases/mp.yaml", "e2e-mp.yaml"),
	)
})

var _ = Describe("the scale subresource", func() {
	It("scales a pool like kubectl scale and reports the selector", func() {
		ns := newNamespace()
		p := newPool(ns, "scalable")
		Expect(k8s.Create(ctx, p)).To(Succeed())
		p.Status.Replicas = 1
		p.Status.Selector = corev1beta1.ClusterNameLabel + "=demo," + corev1beta1.MachinePoolNameLabel + "=scalable"
		Expect(k8s.Status().Update(ctx, p)).To(Succeed())

		scale := &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 5}}
		Expect(k8s.SubResource("scale").Update(ctx, p, client.WithSubResourceBody(scale))).To(Succeed())

		got := &autoscalingv1.Scale{}
		Expect(k8s.SubResource("scale").Get(ctx, p, got)).To(Succeed())
		Expect(got.Spec.Replicas).To(Equal(int32(5)))
		Expect(got.Status.Replicas).To(Equal(int32(1)))
		Expect(got.Status.Selector).To(Equal(p.Status.Selector))
	})
})

// newPoolV1beta2 is newPool as a v1beta2 manifest.
func newPoolV1beta2(ns, name string) *corev1beta2.MachinePool {
	return &corev1beta2.MachinePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1beta2.MachinePoolSpec{
			ClusterName: "demo",
			Template: corev1beta2.MachineTemplateSpec{Spec: corev1beta2.MachineSpec{
				ClusterName: "demo",
				Bootstrap: corev1beta2.Bootstrap{ConfigRef: corev1beta2.ContractVersionedObjectReference{
					APIGroup: "bootstrap.cluster.x-k8s.io", Kind: "KubeadmConfig", Name: name + "-config"}},
				InfrastructureRef: corev1beta2.ContractVersionedObjectReference{
					APIGroup: "infrastructure.cluster.x-k8s.io", Kind: "SimMachinePool", Name: name},
				Version: "v1.30.0",
			}},
		},
	}
}

var _ = Describe("MachinePool admission in v1beta2 (the stored version) for both versions", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("defaults a v1beta2 pool as Cluster API v1.14 does, and minReadySeconds as v1.7 does", func() {
		p := newPoolV1beta2(ns, "defaults")
		p.Spec.Template.Spec.Bootstrap = corev1beta2.Bootstrap{DataSecretName: ptr.To("defaults-data")} // a kind this suite serves
		p.Spec.Template.Spec.Version = "1.30.2"
		Expect(k8s.Create(ctx, p)).To(Succeed())
		Expect(p.Labels).To(HaveKeyWithValue(corev1beta1.ClusterNameLabel, "demo"))
		Expect(p.Spec.Replicas).To(Equal(ptr.To[int32](1)))
		Expect(p.Spec.Template.Spec.MinReadySeconds).To(Equal(ptr.To[int32](0)))
		Expect(p.Spec.Template.Spec.Deletion.NodeDeletionTimeoutSeconds).To(Equal(ptr.To[int32](10)))
		Expect(p.Spec.Template.Spec.Version).To(Equal("v1.30.2"))

		By("reading it as v1beta1: the references in the pool's namespace, the timeout as a duration")
		v1 := &corev1beta1.MachinePool{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), v1)).To(Succeed())
		Expect(v1.Spec.Template.Spec.InfrastructureRef).To(And(HaveField("Namespace", ns), HaveField("Kind", "SimMachinePool")))
		Expect(v1.Spec.Template.Spec.NodeDeletionTimeout).To(Equal(&metav1.Duration{Duration: 10 * time.Second}))
	})

	It("accepts a pool whose referenced kinds are not installed yet, through either version, and reads it back in both", func() {
		// KubeadmConfig has no CRD in this suite: nothing can name its v1beta1 version but what was written.
		v1 := newPool(ns, "early-v1")
		Expect(k8s.Create(ctx, v1)).To(Succeed())
		got := &corev1beta1.MachinePool{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(v1), got)).To(Succeed())
		Expect(got.Spec.Template.Spec.Bootstrap.ConfigRef.APIVersion).To(Equal("bootstrap.cluster.x-k8s.io/v1beta1"))

		v2 := newPoolV1beta2(ns, "early-v2")
		Expect(k8s.Create(ctx, v2)).To(Succeed())
		err := k8s.Get(ctx, client.ObjectKeyFromObject(v2), &corev1beta1.MachinePool{})
		Expect(err).To(MatchError(And(ContainSubstring("KubeadmConfig.bootstrap.cluster.x-k8s.io"), ContainSubstring("no API version for the contract"))),
			"a v1beta2 reference to an uninstalled kind has no v1beta1 apiVersion until its CRD is installed")
	})

	It("accepts with a warning what Cluster API v1.7 accepts and v1.14 rejects: a template clusterName that differs", func() {
		p := newPoolV1beta2(ns, "mismatch")
		p.Spec.Template.Spec.ClusterName = "other"
		warnings, err := withWarnings(func(c client.Client) error { return c.Create(ctx, p) })
		Expect(err).NotTo(HaveOccurred())
		Expect(warnings).To(ContainElement(And(ContainSubstring("set both to the same name"), ContainSubstring("Cluster API v1.11 and later reject this"))))
	})

	It("rejects taints on the instances, as Cluster API v1.14 does, and says where to set them", func() {
		p := newPoolV1beta2(ns, "tainted")
		p.Spec.Template.Spec.Taints = []corev1beta2.MachineTaint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule,
			Propagation: corev1beta2.MachineTaintPropagationAlways}}
		err := k8s.Create(ctx, p)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(And(ContainSubstring("spec.template.spec.taints"), ContainSubstring("nodeRegistration.taints")))
	})

	It("judges a pool the same through either version: a v1beta1 reference in another namespace is rejected on create and update", func() {
		p := newPool(ns, "moved-ref")
		Expect(k8s.Create(ctx, p)).To(Succeed())
		p.Spec.Template.Spec.InfrastructureRef.Namespace = "elsewhere"
		expectInvalid(k8s.Update(ctx, p), "spec.template.spec.infrastructureRef.namespace", `must be the MachinePool's namespace "`+ns+`"`)
	})

	It("keeps a pool written through v1beta1 with values v1beta2 cannot hold writable through v1beta2, and the values intact", func() {
		p := newPool(ns, "negative")
		p.Spec.MinReadySeconds = ptr.To[int32](-5)
		p.Spec.Template.Spec.ClusterName = "other"
		p.Spec.Template.Spec.NodeDrainTimeout = &metav1.Duration{Duration: 1500 * time.Millisecond}
		Expect(k8s.Create(ctx, p)).To(Succeed())

		v2 := &corev1beta2.MachinePool{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), v2)).To(Succeed())
		Expect(v2.Spec.Template.Spec.MinReadySeconds).To(Equal(ptr.To[int32](0)))
		v2.Spec.Replicas = ptr.To[int32](4)
		warnings, err := withWarnings(func(c client.Client) error { return c.Update(ctx, v2) })
		Expect(err).NotTo(HaveOccurred())
		Expect(warnings).To(ContainElements(ContainSubstring("spec.minReadySeconds is negative (-5)"), ContainSubstring("set both to the same name")))

		got := &corev1beta1.MachinePool{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), got)).To(Succeed())
		Expect(got.Spec.Replicas).To(Equal(ptr.To[int32](4)))
		Expect(got.Spec.MinReadySeconds).To(Equal(ptr.To[int32](-5)))
		Expect(got.Spec.Template.Spec.NodeDrainTimeout).To(Equal(&metav1.Duration{Duration: 1500 * time.Millisecond}))
	})
})
