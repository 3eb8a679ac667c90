package contract

import (
	"errors"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/version"
)

// Field paths of Cluster API's contracts (v1beta1, and v1beta2's initialization block where providers are
// moving to it).
var (
	statusReady          = path{"status", "ready"}
	statusFailureReason  = path{"status", "failureReason"}
	statusFailureMessage = path{"status", "failureMessage"}

	infraProviderIDList = path{"spec", "providerIDList"}
	infraReplicas       = path{"status", "replicas"}
	infraProvisioned    = path{"status", "initialization", "provisioned"}
	infraMachineKind    = path{"status", "infrastructureMachineKind"}
	infraUpToDate       = path{"status", "upToDateReplicas"}

	infraMachineProviderID    = path{"spec", "providerID"}
	infraMachineInterruptible = path{"status", "interruptible"}

	bootstrapDataSecretName    = path{"status", "dataSecretName"}
	bootstrapDataSecretCreated = path{"status", "initialization", "dataSecretCreated"}

	clusterPaused           = path{"spec", "paused"}
	clusterInfraReady       = path{"status", "infrastructureReady"}
	clusterInfraProvisioned = path{"status", "initialization", "infrastructureProvisioned"}
	clusterConditions       = path{"status", "conditions"}
)

// Failure is a provider's report of a terminal problem: status.failureReason and status.failureMessage.
// Either may be set alone.
type Failure struct {
	Reason  string
	Message string
}

// IsZero says that no failure is reported.
func (f Failure) IsZero() bool { return f.Reason == "" && f.Message == "" }

func readFailure(u *unstructured.Unstructured) (Failure, error) {
	reason, _, err1 := readString(u, statusFailureReason)
	message, _, err2 := readString(u, statusFailureMessage)
	return Failure{Reason: reason, Message: message}, errors.Join(err1, err2)
}

// readEither is true when either boolean field is true.
func readEither(u *unstructured.Unstructured, a, b path) (bool, error) {
	va, err1 := readBool(u, a)
	vb, err2 := readBool(u, b)
	return va || vb, errors.Join(err1, err2)
}

// InfraMachinePool reads the InfraMachinePool contract (AWSMachinePool, DockerMachinePool, SimMachinePool, ...).
var InfraMachinePool infraMachinePool

type infraMachinePool struct{}

// ProviderIDList is spec.providerIDList; found is false while the provider has not reported it, which is not
// the same as an empty list (zero instances).
func (infraMachinePool) ProviderIDList(u *unstructured.Unstructured) (ids []string, found bool, err error) {
	return readStrings(u, infraProviderIDList)
}

// Replicas is status.replicas, the number of instances the provider reports.
func (infraMachinePool) Replicas(u *unstructured.Unstructured) (replicas int32, found bool, err error) {
	return readInt32(u, infraReplicas)
}

// UpToDateReplicas is status.upToDateReplicas, the instances that run the pool's current spec: our extension of
// the contract (the Sim reports it); found is false for providers that do not.
func (infraMachinePool) UpToDateReplicas(u *unstructured.Unstructured) (upToDate int32, found bool, err error) {
	return readInt32(u, infraUpToDate)
}

// Provisioned is status.ready (v1beta1) or status.initialization.provisioned (v1beta2).
func (infraMachinePool) Provisioned(u *unstructured.Unstructured) (bool, error) {
	return readEither(u, statusReady, infraProvisioned)
}

// Failure is status.failureReason and status.failureMessage.
func (infraMachinePool) Failure(u *unstructured.Unstructured) (Failure, error) { return readFailure(u) }

// InfrastructureMachineKind is status.infrastructureMachineKind: the kind of the per-instance objects the
// provider keeps (MachinePool Machines); "" when the provider keeps none.
func (infraMachinePool) InfrastructureMachineKind(u *unstructured.Unstructured) (string, error) {
	kind, _, err := readString(u, infraMachineKind)
	return kind, err
}

// InfraMachine reads the InfraMachine contract (AWSMachine, DockerMachine, SimMachinePoolMachine, ...).
var InfraMachine infraMachine

type infraMachine struct{}

// ProviderID is spec.providerID; "" until the provider knows it.
func (infraMachine) ProviderID(u *unstructured.Unstructured) (string, error) {
	id, _, err := readString(u, infraMachineProviderID)
	return id, err
}

// Provisioned is status.ready (v1beta1) or status.initialization.provisioned (v1beta2).
func (infraMachine) Provisioned(u *unstructured.Unstructured) (bool, error) {
	return readEither(u, statusReady, infraProvisioned)
}

// Interruptible is status.interruptible: the instance may be taken back by the cloud (spot, preemptible).
func (infraMachine) Interruptible(u *unstructured.Unstructured) (bool, error) {
	return readBool(u, infraMachineInterruptible)
}

// Failure is status.failureReason and status.failureMessage.
func (infraMachine) Failure(u *unstructured.Unstructured) (Failure, error) { return readFailure(u) }

// BootstrapConfig reads the BootstrapConfig contract (KubeadmConfig, ...).
var BootstrapConfig bootstrapConfig

type bootstrapConfig struct{}

// Ready is status.ready (v1beta1) or status.initialization.dataSecretCreated (v1beta2).
func (bootstrapConfig) Ready(u *unstructured.Unstructured) (bool, error) {
	return readEither(u, statusReady, bootstrapDataSecretCreated)
}

// DataSecretName is status.dataSecretName.
func (bootstrapConfig) DataSecretName(u *unstructured.Unstructured) (name string, found bool, err error) {
	return readString(u, bootstrapDataSecretName)
}

// Failure is status.failureReason and status.failureMessage.
func (bootstrapConfig) Failure(u *unstructured.Unstructured) (Failure, error) { return readFailure(u) }

// Cluster reads Cluster API's Cluster (v1beta1 or v1beta2).
var Cluster cluster

type cluster struct{}

// Paused is spec.paused.
func (cluster) Paused(u *unstructured.Unstructured) (bool, error) {
	return readBool(u, clusterPaused)
}

// InfrastructureReady is status.infrastructureReady (v1beta1) or
// status.initialization.infrastructureProvisioned (v1beta2).
func (cluster) InfrastructureReady(u *unstructured.Unstructured) (bool, error) {
	return readEither(u, clusterInfraReady, clusterInfraProvisioned)
}

// TrueSince is when the Cluster's v1beta1 condition of type t (status.conditions) became True; nil while it is
// not True. An unreadable lastTransitionTime reads as the zero time.
func (cluster) TrueSince(u *unstructured.Unstructured, t string) *metav1.Time {
	list, _, _ := unstructured.NestedSlice(u.Object, clusterConditions...)
	for _, c := range list {
		m, _ := c.(map[string]any)
		if m["type"] != t || m["status"] != "True" {
			continue
		}
		ts, _ := m["lastTransitionTime"].(string)
		parsed, err := time.Parse(time.RFC3339, ts)
		if err != nil {
			parsed = time.Time{}
		}
		return &metav1.Time{Time: parsed}
	}
	return nil
}

// ContractLabel is the label a provider's CRD carries to name the API versions that follow Cluster API's
// v1beta1 contract, for example "cluster.x-k8s.io/v1beta1": "v1alpha4_v1beta1"; ContractLabelV1beta2 names those
// that follow the v1beta2 contract.
const (
	ContractLabel        = "cluster.x-k8s.io/v1beta1"
	ContractLabelV1beta2 = "cluster.x-k8s.io/v1beta2"
)

// contractLabels are the contract labels, newest contract first: a reference follows the newest contract its
// CRD declares, as Cluster API does.
var contractLabels = []string{ContractLabelV1beta2, ContractLabel}

// LatestContractVersion returns the newest API version that a CRD's labels list for the newest contract they
// name (Kubernetes version ordering: v1beta1 > v1alpha4); ok is false when no contract label has a version.
func LatestContractVersion(labels map[string]string) (string, bool) {
	for _, label := range contractLabels {
		latest := ""
		for _, v := range strings.Split(labels[label], "_") {
			if v != "" && (latest == "" || version.CompareKubeAwareVersionStrings(v, latest) > 0) {
				latest = v
			}
		}
		if latest != "" {
			return latest, true
		}
	}
	return "", false
}
