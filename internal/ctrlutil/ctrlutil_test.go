package ctrlutil

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/event"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
)

func TestWatchFilter(t *testing.T) {
	labelled := &corev1beta1.MachinePool{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{corev1beta1.WatchFilterLabel: "a"}}}
	plain := &corev1beta1.MachinePool{}
	for _, tc := range []struct {
		filter string
		obj    *corev1beta1.MachinePool
		want   bool
	}{{"", plain, true}, {"", labelled, true}, {"a", labelled, true}, {"b", labelled, false}, {"a", plain, false}} {
		if got := WatchFilter(tc.filter).Create(event.CreateEvent{Object: tc.obj}); got != tc.want {
			t.Errorf("WatchFilter(%q) on labels %v = %v, want %v", tc.filter, tc.obj.Labels, got, tc.want)
		}
	}
}

func TestFollowWatchFilter(t *testing.T) {
	pool := func(labels map[string]string) *corev1beta1.MachinePool {
		return &corev1beta1.MachinePool{ObjectMeta: metav1.ObjectMeta{Labels: labels}}
	}
	obj := pool(nil)
	FollowWatchFilter(obj, pool(map[string]string{corev1beta1.WatchFilterLabel: "a", "other": "x"}))
	if got := obj.Labels; len(got) != 1 || got[corev1beta1.WatchFilterLabel] != "a" {
		t.Errorf("from a labelled owner: labels %v, want only the watch filter a", got)
	}
	FollowWatchFilter(obj, pool(map[string]string{corev1beta1.WatchFilterLabel: "b"}))
	if got := obj.Labels[corev1beta1.WatchFilterLabel]; got != "b" {
		t.Errorf("owner relabelled to b: got %q", got)
	}
	obj.Labels["kept"] = "1"
	FollowWatchFilter(obj, pool(nil))
	if _, ok := obj.Labels[corev1beta1.WatchFilterLabel]; ok || obj.Labels["kept"] != "1" {
		t.Errorf("owner without the label: labels %v, want the filter gone and the rest kept", obj.Labels)
	}
}

func TestNotOwnStatus(t *testing.T) {
	base := &corev1beta1.MachinePool{ObjectMeta: metav1.ObjectMeta{Generation: 1, Labels: map[string]string{"a": "1"}}}
	for _, tc := range []struct {
		name   string
		change func(*corev1beta1.MachinePool)
		want   bool
	}{
		{"status only", func(p *corev1beta1.MachinePool) { p.Status.Replicas = 3; p.ResourceVersion = "9" }, false},
		{"spec", func(p *corev1beta1.MachinePool) { p.Generation = 2 }, true},
		{"labels", func(p *corev1beta1.MachinePool) { p.Labels = map[string]string{"a": "2"} }, true},
		{"annotations", func(p *corev1beta1.MachinePool) { p.Annotations = map[string]string{"x": ""} }, true},
		{"finalizers", func(p *corev1beta1.MachinePool) { p.Finalizers = []string{"f"} }, true},
		{"owners", func(p *corev1beta1.MachinePool) { p.OwnerReferences = []metav1.OwnerReference{{Name: "c"}} }, true},
		{"deletion", func(p *corev1beta1.MachinePool) { p.DeletionTimestamp = ptr.To(metav1.Now()) }, true},
	} {
		n := base.DeepCopy()
		tc.change(n)
		if got := NotOwnStatus().Update(event.UpdateEvent{ObjectOld: base, ObjectNew: n}); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRequests(t *testing.T) {
	items := []corev1beta1.MachinePool{{ObjectMeta: metav1.ObjectMeta{Namespace: "n", Name: "a"}}, {ObjectMeta: metav1.ObjectMeta{Namespace: "n", Name: "b"}}}
	got := Requests(items)
	if len(got) != 2 || got[0].Name != "a" || got[1].Namespace != "n" || got[1].Name != "b" {
		t.Fatalf("Requests = %v", got)
	}
}

func TestSoonerAndDesired(t *testing.T) {
	for _, tc := range [][3]time.Duration{{0, 0, 0}, {0, 2, 2}, {2, 0, 2}, {3, 2, 2}, {2, 3, 2}} {
		if got := Sooner(tc[0], tc[1]); got != tc[2] {
			t.Errorf("Sooner(%v, %v) = %v, want %v", tc[0], tc[1], got, tc[2])
		}
	}
	for _, tc := range []struct {
		replicas *int32
		want     int32
	}{{nil, 1}, {ptr.To[int32](-2), 0}, {ptr.To[int32](0), 0}, {ptr.To[int32](7), 7}} {
		if got := DesiredReplicas(&corev1beta1.MachinePool{Spec: corev1beta1.MachinePoolSpec{Replicas: tc.replicas}}); got != tc.want {
			t.Errorf("DesiredReplicas(%v) = %d, want %d", tc.replicas, got, tc.want)
		}
	}
}
