package capi

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
)

// Names of Cluster API's MachineHealthCheck API (v1.7.1, cluster.x-k8s.io/v1beta1). Unlike Machine, the type
// below carries every field: the admission webhook decodes, defaults and re-encodes whole objects.
const (
	// MachineHealthCheckCRDName is the MachineHealthCheck CRD; the machinehealthcheck controller starts once it
	// is served.
	MachineHealthCheckCRDName = "machinehealthchecks.cluster.x-k8s.io"
	// DefaultNodeStartupTimeout is how long a Machine may go without a Node when nodeStartupTimeout is unset.
	DefaultNodeStartupTimeout = 10 * time.Minute
)

// Annotations a health check reads on Machines (present means set, whatever the value, as in Cluster API).
const (
	// SkipRemediationAnnotation keeps a Machine out of every health check.
	SkipRemediationAnnotation = "cluster.x-k8s.io/skip-remediation"
	// RemediateMachineAnnotation marks a Machine unhealthy on demand.
	RemediateMachineAnnotation = "cluster.x-k8s.io/remediate-machine"
)

// Condition reasons and types of Cluster API v1.7.1's MachineHealthCheck.
const (
	MachineHasFailureReason             = "MachineHasFailure"
	HasRemediateMachineAnnotationReason = "HasRemediateMachineAnnotation"
	NodeStartupTimeoutReason            = "NodeStartupTimeout"
	UnhealthyNodeConditionReason        = "UnhealthyNode"
	NodeNotFoundReason                  = "NodeNotFound"
	WaitingForRemediationReason         = "WaitingForRemediation"
	TooManyUnhealthyReason              = "TooManyUnhealthy"
)

// RemediationAllowedCondition is the health check's condition that is False while too many targets are unhealthy.
const RemediationAllowedCondition corev1beta1.ConditionType = "RemediationAllowed"

// MachineHealthCheckGVK is Cluster API's v1beta1 MachineHealthCheck.
var MachineHealthCheckGVK = schema.GroupVersionKind{Group: "cluster.x-k8s.io", Version: "v1beta1", Kind: "MachineHealthCheck"}

// MachineHealthCheckSpec is Cluster API v1.7.1's MachineHealthCheck spec.
type MachineHealthCheckSpec struct {
	ClusterName         string                  `json:"clusterName"`
	Selector            metav1.LabelSelector    `json:"selector"`
	UnhealthyConditions []UnhealthyCondition    `json:"unhealthyConditions"`
	MaxUnhealthy        *intstr.IntOrString     `json:"maxUnhealthy,omitempty"`
	UnhealthyRange      *string                 `json:"unhealthyRange,omitempty"`
	NodeStartupTimeout  *metav1.Duration        `json:"nodeStartupTimeout,omitempty"`
	RemediationTemplate *corev1.ObjectReference `json:"remediationTemplate,omitempty"`
}

// UnhealthyCondition is a Node condition that makes a Machine unhealthy once it has had its status for longer
// than the timeout.
type UnhealthyCondition struct {
	Type    corev1.NodeConditionType `json:"type"`
	Status  corev1.ConditionStatus   `json:"status"`
	Timeout metav1.Duration          `json:"timeout"`
}

// MachineHealthCheckStatus is Cluster API v1.7.1's MachineHealthCheck status.
type MachineHealthCheckStatus struct {
	ExpectedMachines    int32                  `json:"expectedMachines"`
	CurrentHealthy      int32                  `json:"currentHealthy"`
	RemediationsAllowed int32                  `json:"remediationsAllowed"`
	ObservedGeneration  int64                  `json:"observedGeneration,omitempty"`
	Targets             []string               `json:"targets,omitempty"`
	Conditions          corev1beta1.Conditions `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true

// MachineHealthCheck is Cluster API's v1beta1 MachineHealthCheck.
type MachineHealthCheck struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              MachineHealthCheckSpec   `json:"spec,omitempty"`
	Status            MachineHealthCheckStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// MachineHealthCheckList is a list of MachineHealthChecks.
type MachineHealthCheckList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MachineHealthCheck `json:"items"`
}

func addMachineHealthCheck(s *runtime.Scheme) {
	s.AddKnownTypes(MachineHealthCheckGVK.GroupVersion(), &MachineHealthCheck{}, &MachineHealthCheckList{})
}

// MaxUnhealthy is how many of total targets may be unhealthy: an int as given, a percentage of total rounded
// down (Cluster API's rounding); unset means 100%.
func MaxUnhealthy(v *intstr.IntOrString, total int) (int, error) {
	if v == nil {
		return total, nil
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(v, total, false)
	if err != nil {
		return 0, fmt.Errorf("spec.maxUnhealthy: %w", err)
	}
	return n, nil
}

// ParseUnhealthyRange reads a MachineHealthCheck's unhealthyRange, "[min-max]", as Cluster API v1.7.1's
// controller does (numbers up to 2^32-1), and refuses a max below the min.
func ParseUnhealthyRange(r string) (minimum, maximum int, err error) {
	inner, ok := strings.CutPrefix(r, "[")
	if ok {
		inner, ok = strings.CutSuffix(inner, "]")
	}
	lo, hi, found := strings.Cut(inner, "-")
	if !ok || !found {
		return 0, 0, fmt.Errorf("must be a range [min-max] of non-negative integers, e.g. [1-3]")
	}
	minV, err := strconv.ParseUint(lo, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("min %q must be an integer from 0 to %d: write the range as [min-max], e.g. [1-3]", lo, uint32(math.MaxUint32))
	}
	maxV, err := strconv.ParseUint(hi, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("max %q must be an integer from 0 to %d: write the range as [min-max], e.g. [1-3]", hi, uint32(math.MaxUint32))
	}
	if maxV < minV {
		return 0, 0, fmt.Errorf("max value %d cannot be less than min value %d: write the range as [min-max] with min <= max, e.g. [%d-%d]",
			maxV, minV, maxV, minV)
	}
	return int(minV), int(maxV), nil
}
