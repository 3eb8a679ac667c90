package simmachinepool

import (
	"hash/fnv"
	"sort"

	corev1 "k8s.io/api/core/v1"

	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/cloud"
	"github.com/machinepool-operator/machinepool-operator/internal/workload"
)

// DeleteMachineAnnotation marks the instance that the cluster-autoscaler or a user wants removed first: on its
// Machine (what the autoscaler annotates), or on its Node where no Machines exist.
const DeleteMachineAnnotation = "cluster.x-k8s.io/delete-machine"

// candidate is a live instance and what the scale-in order looks at.
type candidate struct {
	instance cloud.Instance
	seq      int
	going    bool // its Machine is being deleted
	marked   bool // its Machine or its Node carries the delete-machine annotation
	ready    bool // running with a Ready Node
	outdated bool // launched with another spec hash
}

// pickVictims returns the n instances to remove first, in Cluster API's order: its Machine already being
// deleted, marked for deletion, then not Ready (pending, failed to join), then outdated, then by the delete
// policy (Oldest, Newest, Random).
func pickVictims(cands []candidate, n int, policy infrav1beta1.DeletePolicy) []cloud.Instance {
	rank := func(c candidate) int {
		switch {
		case c.going:
			return 0
		case c.marked:
			return 1
		case !c.ready:
			return 2
		case c.outdated:
			return 3
		}
		return 4
	}
	sorted := append([]candidate(nil), cands...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra < rb
		}
		switch policy {
		case infrav1beta1.DeletePolicyNewest:
			return a.seq > b.seq
		case infrav1beta1.DeletePolicyRandom:
			return scramble(a.instance.ID) < scramble(b.instance.ID)
		}
		return a.seq < b.seq // Oldest, the default
	})
	out := make([]cloud.Instance, 0, n)
	for i := 0; i < n && i < len(sorted); i++ {
		out = append(out, sorted[i].instance)
	}
	return out
}

// scramble orders instances "randomly" but repeatably, so a retried scale-in picks the same victims.
func scramble(id string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return h.Sum32()
}

func nodeReady(n *corev1.Node) bool {
	if n == nil {
		return false
	}
	_, ready := workload.ReadySince(n)
	return ready
}
