package webhook_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
)

var _ = Describe("MachinePool conversion webhook", func() {
	It("serves v1beta1 pools as v1beta2 and back through the API server, losing nothing either version holds", func() {
		ns := newNamespace()
		v1 := &corev1beta1.MachinePool{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "workers"},
			Spec: corev1beta1.MachinePoolSpec{ClusterName: "demo", Replicas: ptr.To[int32](3), MinReadySeconds: ptr.To[int32](20),
				Template: corev1beta1.MachineTemplateSpec{Spec: corev1beta1.MachineSpec{
					ClusterName: "demo", Version: ptr.To("v1.30.0"),
					Bootstrap:         corev1beta1.Bootstrap{DataSecretName: ptr.To("workers-data")},
					InfrastructureRef: newPool(ns, "workers").Spec.Template.Spec.InfrastructureRef,
					NodeDrainTimeout:  &metav1.Duration{Duration: 1500 * time.Millisecond},
				}}},
		}
		Expect(k8s.Create(ctx, v1)).To(Succeed())

		By("reading it as v1beta2")
		v2 := &corev1beta2.MachinePool{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(v1), v2)).To(Succeed())
		spec := v2.Spec.Template.Spec
		Expect(spec.InfrastructureRef).To(Equal(corev1beta2.ContractVersionedObjectReference{
			APIGroup: "infrastructure.cluster.x-k8s.io", Kind: "SimMachinePool", Name: "workers"}))
		Expect(spec.MinReadySeconds).To(HaveValue(BeEquivalentTo(20)))
		Expect(spec.Deletion.NodeDrainTimeoutSeconds).To(HaveValue(BeEquivalentTo(1)), "1.5 s in whole seconds")
		Expect(spec.Version).To(Equal("v1.30.0"))

		By("writing a field only v1beta2 has, through v1beta2")
		v2.Spec.Replicas = ptr.To[int32](5)
		gates := []corev1beta2.MachineReadinessGate{{ConditionType: "example.com/NetworkReady"}}
		v2.Spec.Template.Spec.ReadinessGates = gates
		Expect(k8s.Update(ctx, v2)).To(Succeed())
		Expect(v2.Spec.Template.Spec.ReadinessGates).To(Equal(gates), "the API server's answer, converted back from storage")

		By("v1beta1 readers see the change and the exact duration they wrote")
		back := &corev1beta1.MachinePool{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(v1), back)).To(Succeed())
		Expect(back.Spec.Replicas).To(HaveValue(BeEquivalentTo(5)))
		Expect(back.Spec.Template.Spec.NodeDrainTimeout.Duration).To(Equal(1500 * time.Millisecond))
		Expect(back.Spec.Template.Spec.InfrastructureRef.APIVersion).To(Equal("infrastructure.cluster.x-k8s.io/v1beta1"),
			"the reference's version comes from the SimMachinePool CRD's contract label")

		By("a v1beta1 write keeps what only v1beta2 has")
		back.Spec.Replicas = ptr.To[int32](4)
		Expect(k8s.Update(ctx, back)).To(Succeed())
		again := &corev1beta2.MachinePool{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(v1), again)).To(Succeed())
		Expect(again.Spec.Replicas).To(HaveValue(BeEquivalentTo(4)))
		Expect(again.Spec.Template.Spec.ReadinessGates).To(Equal(gates))
	})
})
