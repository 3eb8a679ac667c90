package conversion

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
)

// BenchmarkControllerRoundTrip is what the machinepool controller adds to each reconcile by working on v1beta1
// and storing v1beta2: one ToV1beta1 of the stored pool and one ToV1beta2 back, for a Running pool of 10
// instances written through v1beta1 (so it carries conversion data). The API version lookup is a table here;
// in the manager it reads the CRD's labels from the informer cache. `go test -bench . ./internal/conversion/`
// prints ns/op and allocations.
func BenchmarkControllerRoundTrip(b *testing.B) {
	ctx := context.Background()
	conv := Converter{APIVersion: contracts{
		{Group: "infrastructure.cluster.x-k8s.io", Kind: "SimMachinePool"}: "infrastructure.cluster.x-k8s.io/v1beta1",
		{Group: "bootstrap.cluster.x-k8s.io", Kind: "KubeadmConfig"}:       "bootstrap.cluster.x-k8s.io/v1beta1",
	}.lookup}
	v1 := runningPool(10)
	stored := &corev1beta2.MachinePool{}
	if err := conv.ToV1beta2(ctx, v1, stored); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		working := &corev1beta1.MachinePool{}
		if err := conv.ToV1beta1(ctx, stored, working); err != nil {
			b.Fatal(err)
		}
		back := &corev1beta2.MachinePool{}
		if err := conv.ToV1beta2(ctx, working, back); err != nil {
			b.Fatal(err)
		}
	}
}

// runningPool is a v1beta1 pool as the controller leaves it once n instances run.
func runningPool(n int) *corev1beta1.MachinePool {
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	p := &corev1beta1.MachinePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "workers", Labels: map[string]string{"cluster.x-k8s.io/cluster-name": "demo"},
			Finalizers: []string{"machinepool.cluster.x-k8s.io"}},
		Spec: corev1beta1.MachinePoolSpec{ClusterName: "demo", Replicas: ptr.To(int32(n)), MinReadySeconds: ptr.To[int32](0),
			Template: corev1beta1.MachineTemplateSpec{Spec: corev1beta1.MachineSpec{ClusterName: "demo", Version: ptr.To("v1.30.0"),
				Bootstrap: corev1beta1.Bootstrap{ConfigRef: &corev1.ObjectReference{APIVersion: "bootstrap.cluster.x-k8s.io/v1beta1",
					Kind: "KubeadmConfig", Name: "workers", Namespace: "team-a"}, DataSecretName: ptr.To("workers-data")},
				InfrastructureRef: corev1.ObjectReference{APIVersion: "infrastructure.cluster.x-k8s.io/v1beta1", Kind: "SimMachinePool",
					Name: "workers", Namespace: "team-a"},
				NodeDeletionTimeout: &metav1.Duration{Duration: 10 * time.Second}}}},
		Status: corev1beta1.MachinePoolStatus{Replicas: int32(n), ReadyReplicas: int32(n), AvailableReplicas: int32(n),
			Phase: "Running", BootstrapReady: true, InfrastructureReady: true, ObservedGeneration: 3},
	}
	for i := range n {
		p.Spec.ProviderIDList = append(p.Spec.ProviderIDList, fmt.Sprintf("sim://local/team-a-workers/i-%04d", i))
		p.Status.NodeRefs = append(p.Status.NodeRefs, corev1.ObjectReference{Kind: "Node", Name: fmt.Sprintf("workers-%04d", i)})
	}
	for _, t := range []corev1beta1.ConditionType{"Ready", "BootstrapReady", "InfrastructureReady", "ReplicasReady"} {
		p.Status.Conditions = append(p.Status.Conditions, corev1beta1.Condition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	return p
}
