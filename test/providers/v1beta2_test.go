package providers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/machinepool-operator/machinepool-operator/internal/contract"
)

var _ = Describe("The providers' CRDs", func() {
	It("carry the contract labels their kustomizations add", func() {
		for crd, label := range map[string]string{
			"awsmachinepools.infrastructure.cluster.x-k8s.io":        "v1beta1_v1beta2",
			"awsmanagedmachinepools.infrastructure.cluster.x-k8s.io": "v1beta1_v1beta2",
			"awsmachines.infrastructure.cluster.x-k8s.io":            "v1beta1_v1beta2",
			"gcpmachinepools.infrastructure.cluster.x-k8s.io":        "v1beta1",
			"gcpmanagedmachinepools.infrastructure.cluster.x-k8s.io": "v1beta1",
		} {
			c := &apiextensionsv1.CustomResourceDefinition{}
			Expect(k8s.Get(ctx, client.ObjectKey{Name: crd}, c)).To(Succeed())
			Expect(c.Labels).To(HaveKeyWithValue(contract.ContractLabel, label), crd)
			Expect(c.Spec.Conversion).To(Or(BeNil(), HaveField("Strategy", apiextensionsv1.NoneConverter)), "%s: no conversion webhook", crd)
		}
	})
})

var _ = Describe("A v1beta2 MachinePool on a real provider's pool", func() {
	DescribeTable("reads back in v1beta1 with the version the CRD's contract label names, and lives as the v1beta1 one",
		func(gvk schema.GroupVersionKind, spec map[string]any, play func(w *world, name string, pool poolRef) *cloud) {
			w := newWorld("demo")
			w.createCluster(nil)
			w.createInfra(gvk, "workers", spec)
			pool := w.v1beta2Pool("workers", gvk, 2)

			By("the v1beta1 read rebuilds each reference's apiVersion from its CRD's contract label")
			v1 := pool.v1beta1(Default)
			Expect(v1.Spec.Template.Spec.InfrastructureRef).To(And(HaveField("APIVersion", gvk.GroupVersion().String()),
				HaveField("Kind", gvk.Kind), HaveField("Name", "workers")))
			Expect(v1.Spec.Template.Spec.Bootstrap.ConfigRef).To(HaveField("APIVersion", bootstrapGVK.GroupVersion().String()))

			lifecycle(play(w, "workers", pool), nil)
		},
		Entry("AWSMachinePool (infrastructure.cluster.x-k8s.io/v1beta2)", awsMachinePoolGVK,
			map[string]any{"minSize": int64(1), "maxSize": int64(10),
				"awsLaunchTemplate": map[string]any{"instanceType": "t3.large", "iamInstanceProfile": "nodes.cluster-api-provider-aws.sigs.k8s.io"}},
			func(w *world, name string, pool poolRef) *cloud { return awsMachinePoolCloud(w, name, pool, false) }),
		Entry("GCPMachinePool (infrastructure.cluster.x-k8s.io/v1beta1)", gcpMachinePoolGVK,
			map[string]any{"instanceType": "n2-standard-2"}, gcpMachinePoolCloud),
	)
})
