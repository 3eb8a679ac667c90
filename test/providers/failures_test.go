package providers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
)

var _ = Describe("A provider's failure fields", func() {
	DescribeTable("make the pool Failed with the provider's reason and message",
		func(gvk schema.GroupVersionKind, spec map[string]any, finalizer string, status map[string]any) {
			w := newWorld("demo")
			w.createCluster(nil)
			w.createInfra(gvk, "workers", spec)
			pool := w.v1beta1Pool("workers", gvk, 2)
			c := &cloud{gvk: gvk, key: w.key("workers"), pool: pool}
			c.awaitAdoption()

			By("playing the provider reporting a terminal failure")
			c.update(func(u *unstructured.Unstructured) {
				controllerutil.AddFinalizer(u, finalizer)
				for k, v := range status {
					set(u, v, "status", k)
				}
			})

			reason, _ := status["failureReason"].(string)
			message := status["failureMessage"].(string)
			Eventually(func(g Gomega) {
				mp := pool.v1beta1(g)
				g.Expect(mp.Status.Phase).To(Equal("Failed"))
				g.Expect(mp.Status.FailureMessage).To(HaveValue(Equal(message)))
				if reason == "" {
					g.Expect(mp.Status.FailureReason).To(BeNil())
				} else {
					g.Expect(mp.Status.FailureReason).To(HaveValue(BeEquivalentTo(reason)))
				}
				g.Expect(mp.Status.Conditions).To(ContainElement(And(HaveField("Type", corev1beta1.InfrastructureReadyCondition),
					HaveField("Status", corev1.ConditionFalse), HaveField("Reason", corev1beta1.InfrastructureFailedReason),
					HaveField("Message", ContainSubstring(message)))))
			}).Should(Succeed())
		},
		// pkg/cloud/services/eks/nodegroup.go setStatus: ready false and only a failureMessage ("TODO
		// FailureReason"), then the reconcile error on EKSNodegroupReady.
		Entry("AWSManagedMachinePool: its EKS node group CREATE_FAILED (CAPA writes failureMessage alone)",
			awsManagedMachinePoolGVK, map[string]any{"amiType": "AL2023_x86_64_STANDARD"}, awsManagedMachinePoolFinalizer,
			map[string]any{"ready": false, "failureMessage": "EKS nodegroup in failed CREATE_FAILED status",
				"conditions": []any{map[string]any{"type": "EKSNodegroupReady", "status": "False", "severity": "Error",
					"reason": "EKSNodegroupReconciliationFailed", "message": "failed to reconcile nodegroup: nodegroup in failed state",
					"lastTransitionTime": time.Now().UTC().Truncate(time.Second).Format(time.RFC3339)}}}),
		// The fields are in AWSMachinePool's status and CAPA's reconcile stops on them (MachinePoolScope.HasFailed),
		// though v2.13.0's own code never sets them on a pool: what an operator or an older CAPA leaves there.
		Entry("AWSMachinePool: failureReason and failureMessage",
			awsMachinePoolGVK, map[string]any{"minSize": int64(1), "maxSize": int64(10),
				"awsLaunchTemplate": map[string]any{"instanceType": "t3.large"}}, awsMachinePoolFinalizer,
			map[string]any{"failureReason": "UpdateError", "failureMessage": "ASG my-asg: launch template lt-0c2a7d4e5f6a7b8c9 not found"}),
	)
})
