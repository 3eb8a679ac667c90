package workload

import (
	"encoding/json"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
)

func TestNodeLabels(t *testing.T) {
	got := NodeLabels(map[string]string{
		"node-role.kubernetes.io/worker":             "",
		"node-role.kubernetes.io":                    "bare",
		"node-role.kubernetes.io.example.com/x":      "not the domain",
		"node-restriction.kubernetes.io/zone":        "z1",
		"prod.node-restriction.kubernetes.io/tier":   "gold",
		"node.cluster.x-k8s.io/pool":                 "a",
		"team.node.cluster.x-k8s.io/owner":           "b",
		"cluster.x-k8s.io/pool-name":                 "workers",
		"topology.kubernetes.io/zone":                "z1",
		"team":                                       "c",
		"evilnode-restriction.kubernetes.io/spoofed": "no dot before the domain",
	})
	want := map[string]string{
		"node-role.kubernetes.io/worker":           "",
		"node-role.kubernetes.io":                  "bare",
		"node-restriction.kubernetes.io/zone":      "z1",
		"prod.node-restriction.kubernetes.io/tier": "gold",
		"node.cluster.x-k8s.io/pool":               "a",
		"team.node.cluster.x-k8s.io/owner":         "b",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("NodeLabels = %v, want %v", got, want)
	}
}

func TestNodeMetadataPatch(t *testing.T) {
	uninitialized := corev1.Taint{Key: corev1beta1.NodeUninitializedTaint, Effect: corev1.TaintEffectNoSchedule}
	other := corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}
	node := func(annotations, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", ResourceVersion: "7", Annotations: annotations, Labels: labels},
			Spec: corev1.NodeSpec{Taints: taints}}
	}
	for _, tc := range []struct {
		name string
		meta NodeMetadata
		node *corev1.Node
		want string // the patch as JSON, "" for none
	}{
		{
			name: "nothing missing: no patch",
			meta: NodeMetadata{Annotations: map[string]string{corev1beta1.MachineAnnotation: "m1"}, MachineLabels: map[string]string{"node-role.kubernetes.io/worker": ""}, Untaint: true},
			node: node(map[string]string{corev1beta1.MachineAnnotation: "m1", corev1beta1.LabelsFromMachineAnnotation: "node-role.kubernetes.io/worker"},
				map[string]string{"node-role.kubernetes.io/worker": "", "kubernetes.io/hostname": "n1"}, other),
		},
		{
			name: "no Machine labels and no record of any: no patch",
			meta: NodeMetadata{MachineLabels: map[string]string{}},
			node: node(nil, map[string]string{"kubernetes.io/hostname": "n1"}),
		},
		{
			name: "the record lists the labels in another order: no patch",
			meta: NodeMetadata{MachineLabels: map[string]string{"node.cluster.x-k8s.io/a": "1", "node.cluster.x-k8s.io/b": "2"}},
			node: node(map[string]string{corev1beta1.LabelsFromMachineAnnotation: "node.cluster.x-k8s.io/b,node.cluster.x-k8s.io/a"},
				map[string]string{"node.cluster.x-k8s.io/a": "1", "node.cluster.x-k8s.io/b": "2"}),
		},
		{
			name: "annotations and labels added, the record written sorted",
			meta: NodeMetadata{Annotations: map[string]string{corev1beta1.MachineAnnotation: "m1", corev1beta1.ClusterNamespaceAnnotation: "ns"},
				MachineLabels: map[string]string{"node.cluster.x-k8s.io/b": "2", "node-role.kubernetes.io/worker": ""}},
			node: node(map[string]string{corev1beta1.ClusterNamespaceAnnotation: "ns"}, nil),
			want: `{"metadata":{"annotations":{"cluster.x-k8s.io/labels-from-machine":"node-role.kubernetes.io/worker,node.cluster.x-k8s.io/b","cluster.x-k8s.io/machine":"m1"},` +
				`"labels":{"node-role.kubernetes.io/worker":"","node.cluster.x-k8s.io/b":"2"}}}`,
		},
		{
			name: "a label the Machine lost is removed; one someone else set stays",
			meta: NodeMetadata{MachineLabels: map[string]string{"node.cluster.x-k8s.io/a": "1"}},
			node: node(map[string]string{corev1beta1.LabelsFromMachineAnnotation: "node.cluster.x-k8s.io/a,node.cluster.x-k8s.io/gone"},
				map[string]string{"node.cluster.x-k8s.io/a": "1", "node.cluster.x-k8s.io/gone": "x", "node.cluster.x-k8s.io/theirs": "y"}),
			want: `{"metadata":{"annotations":{"cluster.x-k8s.io/labels-from-machine":"node.cluster.x-k8s.io/a"},"labels":{"node.cluster.x-k8s.io/gone":null}}}`,
		},
		{
			name: "a changed value is updated",
			meta: NodeMetadata{MachineLabels: map[string]string{"node.cluster.x-k8s.io/a": "2"}},
			node: node(map[string]string{corev1beta1.LabelsFromMachineAnnotation: "node.cluster.x-k8s.io/a"}, map[string]string{"node.cluster.x-k8s.io/a": "1"}),
			want: `{"metadata":{"labels":{"node.cluster.x-k8s.io/a":"2"}}}`,
		},
		{
			name: "nil MachineLabels leaves labels and the record alone",
			meta: NodeMetadata{Annotations: map[string]string{corev1beta1.OwnerNameAnnotation: "workers"}},
			node: node(map[string]string{corev1beta1.LabelsFromMachineAnnotation: "node.cluster.x-k8s.io/a"}, map[string]string{"node.cluster.x-k8s.io/a": "1"}),
			want: `{"metadata":{"annotations":{"cluster.x-k8s.io/owner-name":"workers"}}}`,
		},
		{
			name: "the uninitialized taint goes, others stay, and the patch carries the resourceVersion",
			meta: NodeMetadata{Untaint: true},
			node: node(nil, nil, uninitialized, other),
			want: `{"metadata":{"resourceVersion":"7"},"spec":{"taints":[{"key":"dedicated","value":"gpu","effect":"NoSchedule"}]}}`,
		},
		{
			name: "without Untaint the taint stays",
			meta: NodeMetadata{},
			node: node(nil, nil, uninitialized),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := tc.meta.Patch(tc.node)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if raw != nil {
					t.Fatalf("patch %s, want none", raw)
				}
				return
			}
			var got, want any
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("patch %s\nwant  %s", raw, tc.want)
			}
		})
	}
}
