package simmachinepool

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/ctrlutil"
)

// machinePool is what the Sim reads of the MachinePool that owns a SimMachinePool. It is read in v1beta2 where
// the MachinePool CRD serves it (ours, Cluster API v1.11 and later: the stored version) and in v1beta1
// otherwise (Cluster API v1.7), and never converted, so neither the API server's conversion webhook nor a
// reference elsewhere in the pool that cannot be converted stands between a pool and its instances.
type machinePool struct {
	metav1.ObjectMeta
	ClusterName    string
	Replicas       *int32
	FailureDomains []string
	// DataSecretName is the bootstrap data Secret, nil until the bootstrap provider has written it.
	DataSecretName *string
	// Version is the Kubernetes version of new instances, "" when the pool sets none.
	Version string
	// NodeDrainTimeout bounds a Node's drain; 0 waits as long as it takes.
	NodeDrainTimeout time.Duration
}

// desiredReplicas is the pool's replicas, 1 when unset (the webhook defaults it).
func (p *machinePool) desiredReplicas() int32 { return ctrlutil.Desired(p.Replicas) }

// poolVersion says which version of MachinePool the Sim reads: v1beta2 where the API server serves it (and the
// scheme knows it).
func poolVersion(mapper meta.RESTMapper, scheme *runtime.Scheme) schema.GroupVersion {
	gk := schema.GroupKind{Group: corev1beta2.GroupVersion.Group, Kind: "MachinePool"}
	if !scheme.Recognizes(corev1beta2.GroupVersion.WithKind(gk.Kind)) {
		return corev1beta1.GroupVersion
	}
	if _, err := mapper.RESTMapping(gk, corev1beta2.GroupVersion.Version); err == nil {
		return corev1beta2.GroupVersion
	}
	return corev1beta1.GroupVersion
}

// newPoolObject is an empty MachinePool of the version the Sim reads.
func newPoolObject(gv schema.GroupVersion) client.Object {
	if gv == corev1beta2.GroupVersion {
		return &corev1beta2.MachinePool{}
	}
	return &corev1beta1.MachinePool{}
}

// poolOf reads what the Sim needs of a MachinePool of either version.
func poolOf(o client.Object) *machinePool {
	switch p := o.(type) {
	case *corev1beta2.MachinePool:
		out := &machinePool{ObjectMeta: p.ObjectMeta, ClusterName: p.Spec.ClusterName, Replicas: p.Spec.Replicas,
			FailureDomains: p.Spec.FailureDomains, DataSecretName: p.Spec.Template.Spec.Bootstrap.DataSecretName,
			Version: p.Spec.Template.Spec.Version}
		if s := p.Spec.Template.Spec.Deletion.NodeDrainTimeoutSeconds; s != nil {
			out.NodeDrainTimeout = time.Duration(*s) * time.Second
		}
		return out
	case *corev1beta1.MachinePool:
		out := &machinePool{ObjectMeta: p.ObjectMeta, ClusterName: p.Spec.ClusterName, Replicas: p.Spec.Replicas,
			FailureDomains: p.Spec.FailureDomains, DataSecretName: p.Spec.Template.Spec.Bootstrap.DataSecretName,
			Version: ptr.Deref(p.Spec.Template.Spec.Version, "")}
		if t := p.Spec.Template.Spec.NodeDrainTimeout; t != nil {
			out.NodeDrainTimeout = t.Duration
		}
		return out
	}
	return nil
}

// infraOfPool maps a MachinePool of either version to the SimMachinePool it references.
func infraOfPool(_ context.Context, o client.Object) []reconcile.Request {
	var kind, group, name string
	switch p := o.(type) {
	case *corev1beta2.MachinePool:
		ref := p.Spec.Template.Spec.InfrastructureRef
		kind, group, name = ref.Kind, ref.APIGroup, ref.Name
	case *corev1beta1.MachinePool:
		ref := p.Spec.Template.Spec.InfrastructureRef
		gv, _ := schema.ParseGroupVersion(ref.APIVersion)
		kind, group, name = ref.Kind, gv.Group, ref.Name
	}
	if kind != "SimMachinePool" || group != infrav1beta1.GroupVersion.Group {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}
