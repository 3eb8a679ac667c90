// Package drain cordons a Node and evicts its Pods through the Eviction API, as `kubectl drain` and Cluster
// API's Machine controller do: PodDisruptionBudgets honoured, DaemonSet and mirror Pods left alone, an
// optional timeout that survives a restart (the start time is an annotation on the Node).
package drain

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

	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

// StartedAnnotation records on a Node when its drain began, so the drain timeout survives a restart.
const StartedAnnotation = "machinepool.cluster.x-k8s.io/drain-started"

// Retry is how soon a drain that is still waiting (Pods being evicted, a disruption budget holding one back)
// is looked at again.
const Retry = 2 * time.Second

// Options tune one drain.
type Options struct {
	// Timeout gives up the drain this long after it began; 0 waits as long as it takes.
	Timeout time.Duration
	// Unreachable says the Node's kubelet is gone: Pods are evicted, but terminating ones are not waited for
	// (nothing would finish them), as Cluster API does.
	Unreachable bool
}

// Result says where the drain stands.
type Result struct {
	// Done is true when no Pod is left to wait for, or the timeout passed (TimedOut).
	Done     bool
	TimedOut bool
	// Waiting is the number of Pods still on the Node; Blocked of them a PodDisruptionBudget holds back.
	Waiting, Blocked int
	// Started is when the drain began.
	Started time.Time
}

// Node drains one Node of a workload cluster. Call it again until Result.Done.
func Node(ctx context.Context, wc *workload.Cluster, node *corev1.Node, opts Options) (Result, error) {
	started, err := cordon(ctx, wc, node)
	if err != nil {
		return Result{}, err
	}
	res := Result{Started: started}
	pods := &corev1.PodList{}
	if err := wc.Direct.List(ctx, pods, client.MatchingFields{"spec.nodeName": node.Name}); err != nil {
		return res, fmt.Errorf("listing the Pods of Node %s: %w", node.Name, err)
	}
	var errs []error
	for i := range pods.Items {
		pod := &pods.Items[i]
		if skip(pod) {
			continue
		}
		if !pod.DeletionTimestamp.IsZero() {
			if !opts.Unreachable {
				res.Waiting++ // its kubelet finishes it
			}
			continue
		}
		if !opts.Unreachable {
			res.Waiting++
		}
		eviction := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name}}
		err := wc.SubResource("eviction").Create(ctx, pod, eviction)
		switch {
		case err == nil, apierrors.IsNotFound(err):
		case apierrors.IsTooManyRequests(err):
			res.Blocked++ // a PodDisruptionBudget holds it back for now
		default:
			errs = append(errs, fmt.Errorf("evicting Pod %s/%s: %w", pod.Namespace, pod.Name, err))
		}
	}
	res.Done = res.Waiting == 0
	if !res.Done && opts.Timeout > 0 && time.Since(started) > opts.Timeout {
		res.Done, res.TimedOut = true, true
	}
	return res, errors.Join(errs...)
}

// cordon marks the Node unschedulable and records when the drain began; it returns that moment.
func cordon(ctx context.Context, wc *workload.Cluster, node *corev1.Node) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, node.Annotations[StartedAnnotation]); err == nil && node.Spec.Unschedulable {
		return t, nil
	}
	now := time.Now()
	patched := node.DeepCopy()
	patched.Spec.Unschedulable = true
	if patched.Annotations == nil {
		patched.Annotations = map[string]string{}
	}
	if _, err := time.Parse(time.RFC3339, patched.Annotations[StartedAnnotation]); err != nil {
		patched.Annotations[StartedAnnotation] = now.UTC().Format(time.RFC3339)
	}
	if err := wc.Patch(ctx, patched, client.MergeFrom(node)); err != nil {
		return now, fmt.Errorf("cordoning Node %s: %w", node.Name, err)
	}
	t, _ := time.Parse(time.RFC3339, patched.Annotations[StartedAnnotation])
	*node = *patched
	return t, nil
}

// skip says whether a drain leaves the Pod alone: DaemonSet Pods (their controller would recreate them on the
// Node), mirror Pods (the kubelet owns them), and Pods that already finished.
func skip(pod *corev1.Pod) bool {
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
