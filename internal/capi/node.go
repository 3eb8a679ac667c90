package capi

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

// NodeMetadata is what Cluster API v1.7's Machine controller keeps on a Machine's Node: the cluster, namespace,
// Machine and owner annotations, the Machine's labels in the domains it copies to Nodes (with
// cluster.x-k8s.io/interruptible when the infra machine reports status.interruptible), and no uninitialized
// taint. The machinepool controller puts the same on a Node it adopts when it knows the Node's Machine, so the
// Node is written once.
func NodeMetadata(m *Machine, interruptible bool) workload.NodeMetadata {
	annotations := map[string]string{
		corev1beta1.ClusterNameAnnotation:      m.Spec.ClusterName,
		corev1beta1.ClusterNamespaceAnnotation: m.Namespace,
		corev1beta1.MachineAnnotation:          m.Name,
	}
	if owner := metav1.GetControllerOfNoCopy(m); owner != nil {
		annotations[corev1beta1.OwnerKindAnnotation] = owner.Kind
		annotations[corev1beta1.OwnerNameAnnotation] = owner.Name
	}
	labels := workload.NodeLabels(m.Labels)
	if interruptible {
		labels[corev1beta1.InterruptibleLabel] = ""
	}
	return workload.NodeMetadata{Annotations: annotations, MachineLabels: labels, Untaint: true}
}
