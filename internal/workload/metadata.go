package workload

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
)

// The label domains Cluster API copies from a Machine to its Node: node-role.kubernetes.io (exactly), and
// node-restriction.kubernetes.io and node.cluster.x-k8s.io with their subdomains.
const (
	nodeRoleLabelPrefix        = "node-role.kubernetes.io"
	nodeRestrictionLabelDomain = "node-restriction.kubernetes.io"
	managedNodeLabelDomain     = "node.cluster.x-k8s.io"
)

// NodeLabels returns the labels of a Machine that Cluster API keeps on its Node: those whose prefix (the part
// before "/") is one of the managed domains.
func NodeLabels(machineLabels map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range machineLabels {
		if managedNodeLabel(k) {
			out[k] = v
		}
	}
	return out
}

// managedNodeLabel says whether a label key is in a domain Cluster API copies from Machines to Nodes.
func managedNodeLabel(key string) bool {
	prefix, _, _ := strings.Cut(key, "/")
	return prefix == nodeRoleLabelPrefix ||
		prefix == nodeRestrictionLabelDomain || strings.HasSuffix(prefix, "."+nodeRestrictionLabelDomain) ||
		prefix == managedNodeLabelDomain || strings.HasSuffix(prefix, "."+managedNodeLabelDomain)
}

// NodeMetadata is what a controller keeps on a Node: annotations it sets (never removes), the labels a Machine
// gives its Node, and the uninitialized taint removed.
type NodeMetadata struct {
	// Annotations are set to these values.
	Annotations map[string]string
	// MachineLabels, when not nil, are the Node's labels from its Machine: added and updated, and those the
	// Machine no longer has (as corev1beta1.LabelsFromMachineAnnotation recorded them) removed. Nil leaves labels alone.
	MachineLabels map[string]string
	// Untaint removes the uninitialized taint.
	Untaint bool
}

// Patch returns the JSON merge patch that brings node in line, or nil when it already is. Annotations and
// labels merge key by key; the taint list is replaced whole, so only then does the patch carry the
// resourceVersion, keeping a taint someone else added meanwhile (a conflict retries).
func (m NodeMetadata) Patch(node *corev1.Node) ([]byte, error) {
	annotations := map[string]any{}
	for k, v := range m.Annotations {
		if cur, ok := node.Annotations[k]; !ok || cur != v {
			annotations[k] = v
		}
	}
	labels := map[string]any{}
	if m.MachineLabels != nil {
		for k, v := range m.MachineLabels {
			if cur, ok := node.Labels[k]; !ok || cur != v {
				labels[k] = v
			}
		}
		previous := splitKeys(node.Annotations[corev1beta1.LabelsFromMachineAnnotation])
		for _, k := range previous {
			if _, keep := m.MachineLabels[k]; !keep {
				if _, ok := node.Labels[k]; ok {
					labels[k] = nil
				}
			}
		}
		current := slices.Sorted(maps.Keys(m.MachineLabels))
		// Compared as sets: Cluster API writes the list in map order.
		if !slices.Equal(current, slices.Sorted(slices.Values(previous))) {
			annotations[corev1beta1.LabelsFromMachineAnnotation] = strings.Join(current, ",")
		}
	}
	var taints []corev1.Taint
	untaint := false
	if m.Untaint {
		taints = make([]corev1.Taint, 0, len(node.Spec.Taints))
		for _, t := range node.Spec.Taints {
			if t.Key != corev1beta1.NodeUninitializedTaint || t.Effect != corev1.TaintEffectNoSchedule {
				taints = append(taints, t)
			}
		}
		untaint = len(taints) != len(node.Spec.Taints)
	}
	if len(annotations) == 0 && len(labels) == 0 && !untaint {
		return nil, nil
	}
	metadata := map[string]any{}
	if len(annotations) > 0 {
		metadata["annotations"] = annotations
	}
	if len(labels) > 0 {
		metadata["labels"] = labels
	}
	body := map[string]any{"metadata": metadata}
	if untaint {
		metadata["resourceVersion"] = node.ResourceVersion
		body["spec"] = map[string]any{"taints": taints}
	}
	return json.Marshal(body)
}

// splitKeys reads a comma-separated list of label keys; "" is none.
func splitKeys(s string) []string {
	var keys []string
	for k := range strings.SplitSeq(s, ",") {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}
