package sim

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/cloud"
)

// InstanceType is what one instance of a type offers.
type InstanceType struct {
	CPU, Memory, Pods, EphemeralStorage resource.Quantity
}

// InstanceTypes are the simulated cloud's instance types.
var InstanceTypes = map[string]InstanceType{
	"sim.small":  {CPU: resource.MustParse("2"), Memory: resource.MustParse("4Gi"), Pods: resource.MustParse("110"), EphemeralStorage: resource.MustParse("50Gi")},
	"sim.medium": {CPU: resource.MustParse("4"), Memory: resource.MustParse("16Gi"), Pods: resource.MustParse("110"), EphemeralStorage: resource.MustParse("100Gi")},
	"sim.large":  {CPU: resource.MustParse("8"), Memory: resource.MustParse("32Gi"), Pods: resource.MustParse("110"), EphemeralStorage: resource.MustParse("200Gi")},
}

// DefaultInstanceType is used when a pool names none or an unknown one.
const DefaultInstanceType = "sim.medium"

// ResourceList is what one instance of the type offers, as Node capacity.
func (t InstanceType) ResourceList() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU: t.CPU, corev1.ResourceMemory: t.Memory, corev1.ResourcePods: t.Pods,
		corev1.ResourceEphemeralStorage: t.EphemeralStorage,
	}
}

// Node facts every simulated instance reports.
const (
	Architecture    = "amd64"
	OperatingSystem = "linux"
)

// ErrNoBootstrapData says an instance cannot join: its bootstrap data Secret is missing or empty.
var ErrNoBootstrapData = errors.New("bootstrap data missing or empty")

// Kubelet does for an instance what its kubelet would: register the Node, keep its Ready condition fresh, and
// report Unknown once the instance is gone.
type Kubelet struct {
	// Workload writes the workload cluster's Nodes.
	Workload client.Client
	// Heartbeat is how often a running instance refreshes its Node's Ready condition; 0 or less: never, the
	// condition is written when the Node registers and when its status changes.
	Heartbeat time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

func (k *Kubelet) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

// Sync brings the Node of one instance in line with the instance's state and returns the Node (nil when the
// instance has none), and when the next heartbeat is due (zero when none is). hasBootstrapData is asked only
// when the instance is about to register its Node; injected are the faults that hit the instance now:
// NotReady keeps the Node Ready=False, NeverRegisters keeps a missing Node from registering, and a stopped
// kubelet writes nothing until its Node is due to turn Unknown, then marks it so as the node lifecycle
// controller would.
func (k *Kubelet) Sync(ctx context.Context, in cloud.Instance, injected InstanceFaults, hasBootstrapData func() bool) (*corev1.Node, time.Time, error) {
	node := &corev1.Node{}
	err := k.Workload.Get(ctx, client.ObjectKey{Name: in.ID}, node)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, time.Time{}, fmt.Errorf("reading Node %s: %w", in.ID, err)
	}
	exists := err == nil
	now := k.now()

	switch in.State {
	case cloud.Pending:
		return nil, time.Time{}, nil
	case cloud.Terminating, cloud.Terminated:
		if !exists {
			return nil, time.Time{}, nil
		}
		// Heartbeats stop; the node lifecycle controller would mark the Node Unknown. Envtest has none, so the
		// simulation does it. The Node itself stays: deleting it is the MachinePool controller's job.
		return node, time.Time{}, k.setReady(ctx, node, corev1.ConditionUnknown, "NodeStatusUnknown", "the instance stopped posting status", now)
	}

	stopped := !injected.KubeletStoppedAt.IsZero()
	if !exists {
		if stopped || injected.NeverRegisters {
			return nil, time.Time{}, nil // a stopped kubelet registers nothing, nor does one that never registers
		}
		if !hasBootstrapData() {
			return nil, time.Time{}, ErrNoBootstrapData
		}
		node = k.newNode(in)
		if err := k.Workload.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, time.Time{}, fmt.Errorf("registering Node %s: %w", in.ID, err)
		}
	}
	if stopped {
		if now.Before(injected.UnknownAt) {
			return node, time.Time{}, nil // no status, no heartbeat: the grace period runs
		}
		return node, time.Time{}, k.markUnknown(ctx, node, injected.UnknownAt)
	}
	status, reason, message := corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"
	if injected.NotReady {
		status, reason, message = corev1.ConditionFalse, "KubeletNotReady", "container runtime network not ready: NetworkReady=false (injected fault)"
	}
	if err := k.setReady(ctx, node, status, reason, message, now); err != nil {
		return node, time.Time{}, err
	}
	if k.Heartbeat <= 0 {
		return node, time.Time{}, nil
	}
	return node, heartbeatOf(node).Add(k.Heartbeat), nil
}

// heartbeatDue says whether a heartbeat last posted at last is to be posted now. Heartbeats falling due within
// a quarter of the interval are posted together, the latest up to that much early: a group's kubelets then wake
// at most about five times per interval however many instances it has, rather than once per instance.
func (k *Kubelet) heartbeatDue(last, now time.Time) bool {
	return k.Heartbeat > 0 && now.Sub(last) >= k.Heartbeat-k.Heartbeat/4
}

func heartbeatOf(node *corev1.Node) time.Time {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.LastHeartbeatTime.Time
		}
	}
	return time.Time{}
}

func (k *Kubelet) newNode(in cloud.Instance) *corev1.Node {
	t, ok := InstanceTypes[in.InstanceType]
	if !ok {
		t = InstanceTypes[DefaultInstanceType]
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: in.ID,
			Labels: map[string]string{
				corev1.LabelHostname: in.ID, corev1.LabelArchStable: Architecture, corev1.LabelOSStable: OperatingSystem,
				corev1.LabelInstanceTypeStable: in.InstanceType, corev1.LabelTopologyZone: in.FailureDomain,
			},
		},
		Spec: corev1.NodeSpec{
			ProviderID: in.ProviderID,
			Taints:     []corev1.Taint{{Key: corev1beta1.NodeUninitializedTaint, Effect: corev1.TaintEffectNoSchedule}},
		},
		Status: corev1.NodeStatus{Capacity: t.ResourceList(), Allocatable: t.ResourceList()},
	}
}

// readyCondition is the Node's Ready condition, nil when it has none.
func readyCondition(node *corev1.Node) *corev1.NodeCondition {
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == corev1.NodeReady {
			return &node.Status.Conditions[i]
		}
	}
	return nil
}

// setReady writes the Node's Ready condition when its status changes or its heartbeat is due.
func (k *Kubelet) setReady(ctx context.Context, node *corev1.Node, status corev1.ConditionStatus, reason, message string, now time.Time) error {
	current := readyCondition(node)
	if current != nil && current.Status == status && (status != corev1.ConditionTrue && status != corev1.ConditionFalse ||
		!k.heartbeatDue(current.LastHeartbeatTime.Time, now)) {
		return nil
	}
	transition := metav1.NewTime(now)
	if current != nil && current.Status == status {
		transition = current.LastTransitionTime
	}
	return k.postReady(ctx, node, corev1.NodeCondition{Type: corev1.NodeReady, Status: status, Reason: reason, Message: message,
		LastHeartbeatTime: metav1.NewTime(now), LastTransitionTime: transition})
}

// markUnknown does what the node lifecycle controller does to a Node whose kubelet stopped posting status for
// the grace period: Ready turns Unknown at the moment the grace period ended, the last heartbeat stays.
func (k *Kubelet) markUnknown(ctx context.Context, node *corev1.Node, at time.Time) error {
	current := readyCondition(node)
	if current != nil && current.Status == corev1.ConditionUnknown {
		return nil
	}
	heartbeat := node.CreationTimestamp
	if current != nil {
		heartbeat = current.LastHeartbeatTime
	}
	return k.postReady(ctx, node, corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown,
		Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting node status (injected fault KubeletStopped).",
		LastHeartbeatTime: heartbeat, LastTransitionTime: metav1.NewTime(at)})
}

// postReady patches the Node's status with cond as its Ready condition.
func (k *Kubelet) postReady(ctx context.Context, node *corev1.Node, cond corev1.NodeCondition) error {
	patched := node.DeepCopy()
	if current := readyCondition(patched); current != nil {
		*current = cond
	} else {
		patched.Status.Conditions = append(patched.Status.Conditions, cond)
	}
	if len(patched.Status.Capacity) == 0 {
		patched.Status.Capacity = node.Status.Capacity
	}
	patched.Status.NodeInfo.Architecture, patched.Status.NodeInfo.OperatingSystem = Architecture, OperatingSystem
	if err := k.Workload.Status().Patch(ctx, patched, client.MergeFrom(node)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("posting status of Node %s: %w", node.Name, err)
	}
	*node = *patched
	return nil
}
