package machinepool_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
)

// installClusterCRD installs the Cluster CRD fixture and waits until it is served.
func installClusterCRD() {
	GinkgoHelper()
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: clusterCRD.Name, Labels: clusterCRD.Labels},
		Spec:       clusterCRD.Spec,
	}
	Expect(client.IgnoreAlreadyExists(k8s.Create(ctx, crd))).To(Succeed())
	Eventually(func() bool {
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(crd), crd)).To(Succeed())
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true
			}
		}
		return false
	}).Should(BeTrue())
}

var _ = Describe("MachinePool controller without Cluster API", func() {
	It("runs standalone while the Cluster CRD is not served, and waits for a Cluster once it is installed", func() {
		e := newEnv()
		Expect(k8s.Delete(ctx, clusterCRD.DeepCopy())).To(Succeed())
		DeferCleanup(installClusterCRD)
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(clusterCRD), &apiextensionsv1.CustomResourceDefinition{}))
		}).Should(BeTrue())

		By("reaching Running with no Cluster object at all")
		p, _ := e.running("standalone", 1)
		Expect(get(p).OwnerReferences).To(BeEmpty())

		By("noticing Cluster API being installed, without a restart")
		installClusterCRD()
		Eventually(condition(p, corev1beta1.ReadyCondition)).Should(haveCondition(corev1.ConditionFalse, corev1beta1.WaitingForClusterReason))
		Expect(phase(p)()).To(Equal("Pending"))

		By("owning the pool by the Cluster once it exists")
		e.createCluster(true)
		Eventually(phase(p)).Should(Equal("Running"))
		Expect(get(p).OwnerReferences).To(ContainElement(HaveField("Kind", "Cluster")))
	})
})
