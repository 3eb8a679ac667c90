package webhook_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
)

func newSimPool(ns, name string) *infrav1beta1.SimMachinePool {
	return &infrav1beta1.SimMachinePool{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func withRollingUpdate(p *infrav1beta1.SimMachinePool, surge, unavailable *intstr.IntOrString) *infrav1beta1.SimMachinePool {
	p.Spec.Strategy = &infrav1beta1.Strategy{RollingUpdate: &infrav1beta1.RollingUpdate{MaxSurge: surge, MaxUnavailable: unavailable}}
	return p
}

var _ = Describe("SimMachinePool admission", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("accepts an empty spec and fills in the schema's defaults", func() {
		p := newSimPool(ns, "defaults")
		Expect(k8s.Create(ctx, p)).To(Succeed())
		Expect(p.Spec.Region).To(Equal("local"))
		Expect(p.Spec.InstanceType).To(Equal("sim.medium"))
	})

	It("refuses to move a pool to another region (CEL rule)", func() {
		p := newSimPool(ns, "moving")
		p.Spec.Region = "eu-west"
		Expect(k8s.Create(ctx, p)).To(Succeed())
		p.Spec.Region = "us-east"
		expectInvalid(k8s.Update(ctx, p), "spec.region", "region cannot change, because it is part of every instance's provider ID")
	})

	It("accepts counts and percentages for maxSurge and maxUnavailable", func() {
		p := withRollingUpdate(newSimPool(ns, "rolling"), ptr.To(intstr.FromString("25%")), ptr.To(intstr.FromInt32(1)))
		p.Spec.Strategy.RollingUpdate.DeletePolicy = infrav1beta1.DeletePolicyNewest
		Expect(k8s.Create(ctx, p)).To(Succeed())
	})

	DescribeTable("rejects bad strategy values, naming the field",
		func(surge, unavailable *intstr.IntOrString, fieldPath, fix string) {
			err := k8s.Create(ctx, withRollingUpdate(newSimPool(ns, "bad-strategy"), surge, unavailable))
			expectInvalid(err, fieldPath, fix)
		},
		Entry("maxSurge not a number or percentage", ptr.To(intstr.FromString("lots")), nil,
			"spec.strategy.rollingUpdate.maxSurge", `a percentage such as "25%"`),
		Entry("maxUnavailable above 100%", nil, ptr.To(intstr.FromString("150%")),
			"spec.strategy.rollingUpdate.maxUnavailable", "must not be more than 100%"),
		Entry("negative maxUnavailable", nil, ptr.To(intstr.FromInt32(-1)),
			"spec.strategy.rollingUpdate.maxUnavailable", "must not be negative"),
		Entry("both zero", ptr.To(intstr.FromInt32(0)), ptr.To(intstr.FromString("0%")),
			"spec.strategy.rollingUpdate.maxSurge", "cannot both be 0"),
	)

	It("rejects an unknown delete policy and strategy type through the schema", func() {
		p := withRollingUpdate(newSimPool(ns, "policy"), nil, nil)
		p.Spec.Strategy.RollingUpdate.DeletePolicy = "Biggest"
		expectInvalid(k8s.Create(ctx, p), "spec.strategy.rollingUpdate.deletePolicy", `supported values: "Oldest", "Newest", "Random"`)

		p = withRollingUpdate(newSimPool(ns, "type"), nil, nil)
		p.Spec.Strategy.Type = "Recreate"
		expectInvalid(k8s.Create(ctx, p), "spec.strategy.type", `supported values: "RollingUpdate"`)
	})

	It("rejects negative simulation settings", func() {
		p := newSimPool(ns, "negative")
		p.Spec.Simulation = &infrav1beta1.Simulation{BootDelay: &metav1.Duration{Duration: -time.Second}}
		expectInvalid(k8s.Create(ctx, p), "spec.simulation.bootDelay", "must not be negative")

		p.Spec.Simulation = &infrav1beta1.Simulation{CapacityLimit: ptr.To[int32](-1)}
		expectInvalid(k8s.Create(ctx, p), "spec.simulation.capacityLimit", "should be greater than or equal to 0")
	})

	It("accepts injected faults and checks them through the schema, in pools and templates alike", func() {
		p := newSimPool(ns, "faults")
		p.Spec.Simulation = &infrav1beta1.Simulation{NodeMonitorGracePeriod: &metav1.Duration{Duration: 2 * time.Second},
			Faults: []infrav1beta1.SimulatedFault{
				{Type: infrav1beta1.SimulatedFaultKubeletStopped, Instances: []string{"abcdef-1"}, StartTime: &metav1.Time{Time: time.Now()}},
				{Type: infrav1beta1.SimulatedFaultNeverRegisters},
			}}
		Expect(k8s.Create(ctx, p)).To(Succeed())

		t := &infrav1beta1.SimMachinePoolTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "faulty"}}
		t.Spec.Template.Spec.Simulation = &infrav1beta1.Simulation{NodeMonitorGracePeriod: &metav1.Duration{Duration: -time.Second}}
		expectInvalid(k8s.Create(ctx, t), "spec.template.spec.simulation.nodeMonitorGracePeriod", "must be a duration that is not negative")
		t.Spec.Template.Spec.Simulation = &infrav1beta1.Simulation{Faults: []infrav1beta1.SimulatedFault{
			{Type: infrav1beta1.SimulatedFaultNotReady, Instances: []string{"workers-1"}}}}
		expectInvalid(k8s.Create(ctx, t), "spec.template.spec.simulation.faults[0].instances[0]", "must be an instance ID of the simulated cloud")
	})

	It("checks a SimMachinePoolTemplate's spec with the same rules", func() {
		t := &infrav1beta1.SimMachinePoolTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tpl"}}
		t.Spec.Template.Spec.Simulation = &infrav1beta1.Simulation{BootJitter: &metav1.Duration{Duration: -time.Second}}
		expectInvalid(k8s.Create(ctx, t), "spec.template.spec.simulation.bootJitter", "must not be negative")

		t.Spec.Template.Spec.Simulation = nil
		Expect(k8s.Create(ctx, t)).To(Succeed())
	})

	It("refuses SimMachinePools while the MachinePool feature gate is off", func() {
		Expect(gates.Set("MachinePool=false")).To(Succeed())
		DeferCleanup(func() { Expect(gates.Set("MachinePool=true")).To(Succeed()) })
		err := k8s.Create(ctx, newSimPool(ns, "gated"))
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("--feature-gates=MachinePool=true"))
	})
})
