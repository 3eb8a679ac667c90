package simmachinepool

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

// DrainStartedAnnotation records on a Node when its drain began, so the drain timeout survives a restart.
const DrainStartedAnnotation = "sim.infrastructure.cluster.x-k8s.io/drain-started"

// drainRetry is how soon a drain that is still waiting (Pods being evicted, a disruption budget holding one
// back) is looked at again.
const drainRetry = 2 * time.Second

// drain cordons an instance's Node and evicts its Pods through the Eviction API (disruption budgets honoured,
// DaemonSet and mirror Pods left alone), finishing Pods that are already terminating the way their kubelet
// would. It says whether the Node is drained, or the drain gave up after the pool's nodeDrainTimeout.
func (r *Reconciler) drain(ctx context.Context, smp *infrav1beta1.SimMachinePool, pool *corev1beta1.MachinePool, wc *workload.Cluster, node *corev1.Node) (bool, error) {
	if wc == nil || node == nil {
		return true, nil // nothing registered: nothing to drain
	}
	started, err := r.cordon(ctx, wc, node)
	if err != nil {
		return false, err
	}
	pods := &corev1.PodList{}
	if err := wc.Direct.List(ctx, pods, client.MatchingFields{"spec.nodeName": node.Name}); err != nil {
		return false, fmt.Errorf("listing the Pods of Node %s: %w", node.Name, err)
	}
	var waiting, blocked int
	var errs []error
	for i := range pods.Items {
		pod := &pods.Items[i]
		if skipOnDrain(pod) {
			continue
		}
		waiting++
		if !pod.DeletionTimestamp.IsZero() {
			// The kubelet finishes a terminating Pod; envtest has none, so the simulated one does.
			if err := finishPod(ctx, wc, pod); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		eviction := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name}}
		err := wc.SubResource("eviction").Create(ctx, pod, eviction)
		switch {
		case err == nil, apierrors.IsNotFound(err):
		case apierrors.IsTooManyRequests(err):
			blocked++ // a PodDisruptionBudget holds it back for now
		default:
			errs = append(errs, fmt.Errorf("evicting Pod %s/%s: %w", pod.Namespace, pod.Name, err))
		}
	}
	if waiting == 0 {
		r.event(smp, corev1.EventTypeNormal, "NodeDrained", "Drain", "drained Node %s", node.Name)
		return true, errors.Join(errs...)
	}
	if timeout := pool.Spec.Template.Spec.NodeDrainTimeout; timeout != nil && timeout.Duration > 0 && time.Since(started) > timeout.Duration {
		r.event(smp, corev1.EventTypeWarning, "DrainTimeout", "Drain",
			"gave up draining Node %s after nodeDrainTimeout %s: %d Pods left, %d held back by a PodDisruptionBudget", node.Name, timeout.Duration, waiting, blocked)
		return true, errors.Join(errs...)
	}
	if blocked > 0 {
		r.event(smp, corev1.EventTypeNormal, "DrainBlocked", "Drain",
			"draining Node %s: %d Pods held back by a PodDisruptionBudget", node.Name, blocked)
	}
	return false, errors.Join(errs...)
}

// cordon marks the Node unschedulable and records when the drain began; it returns that moment.
func (r *Reconciler) cordon(ctx context.Context, wc *workload.Cluster, node *corev1.Node) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, node.Annotations[DrainStartedAnnotation]); err == nil && node.Spec.Unschedulable {
		return t, nil
	}
	now := time.Now()
	patched := node.DeepCopy()
	patched.Spec.Unschedulable = true
	if patched.Annotations == nil {
		patched.Annotations = map[string]string{}
	}
	if _, err := time.Parse(time.RFC3339, patched.Annotations[DrainStartedAnnotation]); err != nil {
		patched.Annotations[DrainStartedAnnotation] = now.UTC().Format(time.RFC3339)
	}
	if err := wc.Patch(ctx, patched, client.MergeFrom(node)); err != nil {
		return now, fmt.Errorf("cordoning Node %s: %w", node.Name, err)
	}
	t, _ := time.Parse(time.RFC3339, patched.Annotations[DrainStartedAnnotation])
	*node = *patched
	return t, nil
}

// skipOnDrain says whether a drain leaves the Pod alone: DaemonSet Pods (their controller would recreate them
// on the Node) and mirror Pods (the kubelet owns them), and Pods that already finished.
func skipOnDrain(pod *corev1.Pod) bool {
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return true
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return true
	}
	for _, o := range pod.OwnerReferences {
		if o.Kind == "DaemonSet" && o.Controller != nil && *o.Controller {
			return true
		}
	}
	return false
}
