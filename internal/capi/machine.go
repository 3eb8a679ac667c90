package capi

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
)

// Names of Cluster API's Machine API.
const (
	// MachineCRDName is the Machine CRD; MachinePool Machines exist only where it is served.
	MachineCRDName = "machines.cluster.x-k8s.io"
	// MachineFinalizer is Cluster API's Machine finalizer; the machinepoolmachine controller uses the same, so
	// either controller can finish a deletion the other started.
	MachineFinalizer = "machine.cluster.x-k8s.io"
)

// Machine phases, as Cluster API reports them.
const (
	MachinePhasePending      = "Pending"
	MachinePhaseProvisioning = "Provisioning"
	MachinePhaseProvisioned  = "Provisioned"
	MachinePhaseRunning      = "Running"
	MachinePhaseDeleting     = "Deleting"
	MachinePhaseFailed       = "Failed"
)

// Machine condition types the machinepoolmachine controller writes (Cluster API v1beta1 names).
const (
	NodeHealthyCondition       corev1beta1.ConditionType = "NodeHealthy"
	DrainingSucceededCondition corev1beta1.ConditionType = "DrainingSucceeded"
)

// Machine condition types a MachineHealthCheck writes (Cluster API v1.7.1's); the Machine's Ready summary reads
// them.
const (
	// HealthCheckSucceededCondition is False while a health check finds the Machine unhealthy.
	HealthCheckSucceededCondition corev1beta1.ConditionType = "HealthCheckSucceeded"
	// OwnerRemediatedCondition is False while the Machine waits for its owner to remediate it.
	OwnerRemediatedCondition corev1beta1.ConditionType = "OwnerRemediated"
)

// MachineGVK is Cluster API's v1beta1 Machine.
var MachineGVK = schema.GroupVersionKind{Group: "cluster.x-k8s.io", Version: "v1beta1", Kind: "Machine"}

// MachineCRDServed says whether Cluster API's Machine CRD is installed, reading the CRD's metadata through c (a
// cached client keeps a watch on CRDs instead of asking the API server each time).
func MachineCRDServed(ctx context.Context, c client.Reader) (bool, error) {
	crd := &metav1.PartialObjectMetadata{}
	crd.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
	err := c.Get(ctx, client.ObjectKey{Name: MachineCRDName}, crd)
	if err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("looking up the %s CRD: %w", MachineCRDName, err)
	}
	return err == nil, nil
}

// AddToScheme registers Machine, MachineHealthCheck and their lists under cluster.x-k8s.io/v1beta1.
func AddToScheme(s *runtime.Scheme) error {
	gv := MachineGVK.GroupVersion()
	s.AddKnownTypes(gv, &Machine{}, &MachineList{})
	addMachineHealthCheck(s)
	metav1.AddToGroupVersion(s, gv)
	return nil
}

// MachineSpec is the part of a Machine's spec we use.
type MachineSpec struct {
	ClusterName             string                 `json:"clusterName"`
	Bootstrap               Bootstrap              `json:"bootstrap"`
	InfrastructureRef       corev1.ObjectReference `json:"infrastructureRef"`
	ProviderID              *string                `json:"providerID,omitempty"`
	NodeDrainTimeout        *metav1.Duration       `json:"nodeDrainTimeout,omitempty"`
	NodeVolumeDetachTimeout *metav1.Duration       `json:"nodeVolumeDetachTimeout,omitempty"`
	NodeDeletionTimeout     *metav1.Duration       `json:"nodeDeletionTimeout,omitempty"`
}

// Bootstrap is a Machine's bootstrap block; MachinePool Machines leave it empty (the pool bootstraps them).
type Bootstrap struct {
	ConfigRef      *corev1.ObjectReference `json:"configRef,omitempty"`
	DataSecretName *string                 `json:"dataSecretName,omitempty"`
}

// MachineStatus is the part of a Machine's status we use.
type MachineStatus struct {
	NodeRef             *corev1.ObjectReference `json:"nodeRef,omitempty"`
	LastUpdated         *metav1.Time            `json:"lastUpdated,omitempty"`
	Phase               string                  `json:"phase,omitempty"`
	BootstrapReady      bool                    `json:"bootstrapReady"`
	InfrastructureReady bool                    `json:"infrastructureReady"`
	ObservedGeneration  int64                   `json:"observedGeneration,omitempty"`
	Conditions          corev1beta1.Conditions  `json:"conditions,omitempty"`
	// FailureReason and FailureMessage are set by Cluster API's Machine controller for a terminal failure; a
	// health check counts either as unhealthy.
	FailureReason  *string `json:"failureReason,omitempty"`
	FailureMessage *string `json:"failureMessage,omitempty"`
}

// +kubebuilder:object:root=true

// Machine is the part of Cluster API's v1beta1 Machine we use.
type Machine struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              MachineSpec   `json:"spec,omitempty"`
	Status            MachineStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// MachineList is a list of Machines.
type MachineList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Machine `json:"items"`
}
