package sim

import (
	"slices"
	"strings"
	"time"

	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
)

// defaultNodeMonitorGracePeriod is how long after its kubelet stopped posting status a Node turns Ready=Unknown
// when the pool's spec.simulation does not say (the node lifecycle controller's --node-monitor-grace-period).
const defaultNodeMonitorGracePeriod = 40 * time.Second

// InstanceFaults are the injected faults that hit one running instance at the moment of a sync.
type InstanceFaults struct {
	// NotReady makes the kubelet post Ready=False (reason KubeletNotReady).
	NotReady bool
	// KubeletStoppedAt, when set, is when the kubelet stopped posting status: from then on it writes nothing.
	KubeletStoppedAt time.Time
	// UnknownAt is when the Node of a stopped kubelet turns Ready=Unknown (KubeletStoppedAt plus the
	// group's node monitor grace period), as the node lifecycle controller would mark it.
	UnknownAt time.Time
	// NeverRegisters keeps an instance whose Node does not exist from registering it.
	NeverRegisters bool
}

// faultKey names a fault of spec.simulation.faults by what it is (type and instances, in any order), so the
// moment the cloud first saw a fault without a startTime stays attached to it across EnsureGroup calls.
func faultKey(f infrav1beta1.SimulatedFault) string {
	if len(f.Instances) == 0 {
		return string(f.Type) + ":*"
	}
	ids := slices.Clone(f.Instances)
	slices.Sort(ids)
	return string(f.Type) + ":" + strings.Join(slices.Compact(ids), ",")
}

// recordFaultStarts keeps, for every fault of the group's configuration that has no startTime, the moment the
// cloud first saw it (now for a new one), and forgets the faults no longer configured.
func (s *groupState) recordFaultStarts(now time.Time) {
	starts := map[string]time.Time{}
	for _, f := range s.Config.Faults {
		if f.StartTime != nil {
			continue
		}
		key := faultKey(f)
		if _, done := starts[key]; done {
			continue
		}
		if t, ok := s.FaultStarts[key]; ok {
			starts[key] = t
		} else {
			starts[key] = now
		}
	}
	if len(starts) == 0 {
		starts = nil
	}
	s.FaultStarts = starts
}

// nodeMonitorGracePeriod is the group's configured grace period (default 40s).
func (s *groupState) nodeMonitorGracePeriod() time.Duration {
	if d := s.Config.NodeMonitorGracePeriod; d != nil && d.Duration >= 0 {
		return d.Duration
	}
	return defaultNodeMonitorGracePeriod
}

// faultStart is when a configured fault begins: its startTime, else when the cloud first saw it (false when
// that was never recorded, which EnsureGroup always does before it saves the configuration).
func (s *groupState) faultStart(f infrav1beta1.SimulatedFault) (time.Time, bool) {
	if f.StartTime != nil {
		return f.StartTime.Time, true
	}
	t, ok := s.FaultStarts[faultKey(f)]
	return t, ok
}

// faultsOf says which faults hit instance id at now, and the next moment after now at which that changes
// (a fault starts, or a stopped kubelet's Node is due to turn Unknown; zero when nothing is ahead).
func (s *groupState) faultsOf(id string, now time.Time) (InstanceFaults, time.Time) {
	var out InstanceFaults
	var next time.Time
	ahead := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	grace := s.nodeMonitorGracePeriod()
	for _, f := range s.Config.Faults {
		if len(f.Instances) > 0 && !slices.Contains(f.Instances, id) {
			continue
		}
		start, ok := s.faultStart(f)
		if !ok {
			continue
		}
		if now.Before(start) {
			ahead(start)
			continue
		}
		switch f.Type {
		case infrav1beta1.SimulatedFaultKubeletStopped:
			// The earliest stop wins: a kubelet that stopped cannot stop again.
			if out.KubeletStoppedAt.IsZero() || start.Before(out.KubeletStoppedAt) {
				out.KubeletStoppedAt, out.UnknownAt = start, start.Add(grace)
			}
		case infrav1beta1.SimulatedFaultNotReady:
			out.NotReady = true
		case infrav1beta1.SimulatedFaultNeverRegisters:
			out.NeverRegisters = true
		}
	}
	if !out.UnknownAt.IsZero() {
		ahead(out.UnknownAt)
	}
	return out, next
}
