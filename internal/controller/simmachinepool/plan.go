package simmachinepool

import (
	"hash/fnv"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/cloud"
)

// Observed is what one reconcile knows of a pool and its group: the input of plan.
type Observed struct {
	// Desired is the owning MachinePool's spec.replicas.
	Desired int32
	// SpecHash is the hash of the launch configuration new instances get; instances with another are outdated.
	SpecHash string
	// Instances are the group's instances as the cloud describes them, in launch order.
	Instances []cloud.Instance
	// Facts are what the Kubernetes API says of each instance, by instance ID.
	Facts map[string]Facts
	// Strategy is the pool's rollout strategy (nil: maxSurge 1, maxUnavailable 0, delete policy Oldest).
	Strategy *infrav1beta1.Strategy
	// ThroughMachines says instances are removed by deleting their Machine (Cluster API's Machine CRD is
	// served): the Machine controller drains the Node, and the infra machine's finalizer terminates the instance.
	ThroughMachines bool
}

// Facts are what the Kubernetes API says of one instance.
type Facts struct {
	// Going: its Machine is being deleted.
	Going bool
	// Marked: its Machine or its Node carries cluster.x-k8s.io/delete-machine.
	Marked bool
	// NodeReady: its Node exists and is Ready.
	NodeReady bool
}

// Plan is what a reconcile does to the group: remove the chosen instances, then keep Capacity launched.
type Plan struct {
	// Capacity is the group's desired capacity: the pool's replicas, plus the surge while a rollout runs.
	Capacity int32
	// Launch is how many instances ensuring Capacity launches now.
	Launch int
	// DeleteMachines are the instances removed by deleting their Machine (ThroughMachines).
	DeleteMachines []string
	// Terminate are the instances whose Nodes are drained and which are then terminated (no Machines).
	Terminate []string
	// Replace are the outdated instances among those removed: the rollout's share.
	Replace []string
	// ReadyNow is how many instances run with a Ready Node that is not going away.
	ReadyNow int
	// Wait is the earliest moment an instance changes state on its own (a boot or shutdown completes); zero
	// when none will.
	Wait time.Time
}

// plan decides a reconcile from what is observed. It is pure: it reads nothing and writes nothing.
//
// Instances launched with another spec hash are replaced within maxSurge/maxUnavailable: the group grows by
// the surge, and an outdated instance goes only while enough Ready ones remain. Removals follow Cluster API's
// order (pickVictims). Failed and terminated instances do not count.
func plan(o Observed) Plan {
	var live, outdated []candidate
	p := Plan{Wait: nextChange(o.Instances)}
	for i, in := range o.Instances {
		if in.State != cloud.Pending && in.State != cloud.Running {
			continue
		}
		f := o.Facts[in.ID]
		c := candidate{instance: in, seq: i, going: f.Going, marked: f.Marked, outdated: in.SpecHash != o.SpecHash}
		c.ready = in.State == cloud.Running && f.NodeReady && !c.going
		live = append(live, c)
		if c.outdated && !c.going {
			outdated = append(outdated, c)
		}
		if c.ready {
			p.ReadyNow++
		}
	}
	desired := max(o.Desired, 0)
	maxSurge, maxUnavailable := rollingBounds(o.Strategy, desired)
	p.Capacity = desired
	if len(outdated) > 0 && desired > 0 { // a pool scaled to zero has nothing to roll out
		p.Capacity += min(maxSurge, int32(len(outdated))) //nolint:gosec // bounded by the pool's size
	}
	policy := deletePolicy(o.Strategy)
	var victims []candidate
	if excess := len(live) - int(p.Capacity); excess > 0 {
		victims = pickVictims(live, excess, policy) // scale-in
	} else if len(outdated) > 0 {
		if budget := p.ReadyNow - int(desired-maxUnavailable); budget > 0 {
			victims = pickVictims(outdated, min(budget, len(outdated)), policy) // rollout
		}
	}
	for _, v := range victims {
		if o.ThroughMachines {
			p.DeleteMachines = append(p.DeleteMachines, v.instance.ID)
		} else {
			p.Terminate = append(p.Terminate, v.instance.ID)
		}
		if v.outdated {
			p.Replace = append(p.Replace, v.instance.ID)
		}
	}
	p.Launch = max(int(p.Capacity)-len(live), 0)
	return p
}

// nextChange is the earliest moment one of the instances changes state on its own; zero when none will.
func nextChange(instances []cloud.Instance) time.Time {
	var next time.Time
	for _, in := range instances {
		if !in.ChangesAt.IsZero() && (next.IsZero() || in.ChangesAt.Before(next)) {
			next = in.ChangesAt
		}
	}
	return next
}

// candidate is a live instance and what the removal order looks at.
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
func pickVictims(cands []candidate, n int, policy infrav1beta1.DeletePolicy) []candidate {
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
	return sorted[:min(n, len(sorted))]
}

// scramble orders instances "randomly" but repeatably, so a retried scale-in picks the same victims.
func scramble(id string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return h.Sum32()
}

// rollingBounds resolves maxSurge (default 1, percentages round up) and maxUnavailable (default 0, round down)
// against the desired count; at least one of them is kept above zero so a rollout always progresses.
func rollingBounds(strategy *infrav1beta1.Strategy, desired int32) (surge, unavailable int32) {
	surgeV, unavailV := intstr.FromInt32(1), intstr.FromInt32(0)
	if strategy != nil && strategy.RollingUpdate != nil {
		if strategy.RollingUpdate.MaxSurge != nil {
			surgeV = *strategy.RollingUpdate.MaxSurge
		}
		if strategy.RollingUpdate.MaxUnavailable != nil {
			unavailV = *strategy.RollingUpdate.MaxUnavailable
		}
	}
	s, err1 := intstr.GetScaledValueFromIntOrPercent(&surgeV, int(desired), true)
	u, err2 := intstr.GetScaledValueFromIntOrPercent(&unavailV, int(desired), false)
	if err1 != nil || s < 0 {
		s = 1
	}
	if err2 != nil || u < 0 {
		u = 0
	}
	if s == 0 && u == 0 {
		s = 1
	}
	return int32(min(s, int(desired)+1)), int32(min(u, int(desired))) //nolint:gosec // bounded by desired
}

func deletePolicy(strategy *infrav1beta1.Strategy) infrav1beta1.DeletePolicy {
	if strategy != nil && strategy.RollingUpdate != nil && strategy.RollingUpdate.DeletePolicy != "" {
		return strategy.RollingUpdate.DeletePolicy
	}
	return infrav1beta1.DeletePolicyOldest
}
