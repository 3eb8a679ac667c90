package sim

import (
	"encoding/base32"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"time"

	infrav1beta1 "github.com/machinepool-operator/machinepool-operator/api/infrastructure/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/cloud"
)

// Reasons the simulated cloud gives for an instance's state.
const (
	ReasonBooting              = "Booting"
	ReasonInsufficientCapacity = "InsufficientCapacity"
	ReasonLaunchFailed         = "LaunchFailed"
	ReasonTerminatedOutOfBand  = "TerminatedOutOfBand"
	ReasonTerminated           = "Terminated"
)

const (
	defaultBootDelay = time.Second
	// terminationDelay is how long an instance takes to shut down.
	terminationDelay = time.Second
	// keepTerminated is how long terminated instances stay visible.
	keepTerminated = 10 * time.Minute
)

// groupState is what the cloud persists per scaling group.
type groupState struct {
	Region  string             `json:"region"`
	Desired int32              `json:"desired"`
	Launch  cloud.LaunchConfig `json:"launch"`
	// Cluster is the workload cluster (in the group's namespace) the instances' kubelets join.
	Cluster string `json:"cluster,omitempty"`
	// Config is the pool's spec.simulation, as handed through GroupSpec.ProviderConfig.
	Config infrav1beta1.Simulation `json:"config,omitzero"`
	// FaultStarts are the moments the cloud first saw the configured faults that have no startTime, by
	// faultKey: every instance a fault hits shares its start, and a restarted manager keeps it.
	FaultStarts map[string]time.Time `json:"faultStarts,omitempty"`
	Counter     int64                `json:"counter"`
	Instances   []instanceRecord     `json:"instances"`
}

// instanceRecord is one instance as persisted; its state is derived from the times in it.
type instanceRecord struct {
	ID              string     `json:"id"`
	Seq             int64      `json:"seq"`
	FailureDomain   string     `json:"failureDomain,omitempty"`
	SpecHash        string     `json:"specHash,omitempty"`
	BootstrapSecret string     `json:"bootstrapSecret,omitempty"`
	Version         string     `json:"version,omitempty"`
	InstanceType    string     `json:"instanceType,omitempty"`
	LaunchedAt      time.Time  `json:"launchedAt"`
	BootAt          time.Time  `json:"bootAt"`
	TerminatingAt   *time.Time `json:"terminatingAt,omitempty"`
	// Reason is set for instances that failed to launch or were terminated out of band.
	Reason string `json:"reason,omitempty"`
	// NeverReady makes the instance run without its Node ever becoming Ready (fault injection).
	NeverReady bool `json:"neverReady,omitempty"`
}

// live says whether the instance counts towards the group's capacity and desired count.
func (r *instanceRecord) live() bool { return r.TerminatingAt == nil && r.Reason != ReasonLaunchFailed }

// groupPrefix is the part of instance IDs that makes them unique across the cloud: a short hash of
// namespace/group.
func groupPrefix(ref cloud.GroupRef) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(ref.Namespace + "/" + ref.Name))
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h.Sum(nil)))[:6]
}

// providerIDPrefix starts the provider ID of every simulated instance.
const providerIDPrefix = "sim://"

// ProviderID is the provider ID of an instance: sim://<region>/<group>/<id>.
func ProviderID(region, group, id string) string {
	return fmt.Sprintf("%s%s/%s/%s", providerIDPrefix, region, group, id)
}

// jitter is a deterministic share of max for an instance, from the cloud's seed.
func jitter(seed int64, id string, max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(strconv.FormatInt(seed, 10) + "/" + id))
	return time.Duration(h.Sum64() % uint64(max)) //nolint:gosec // the remainder is below max, an int64
}

// bootDelay and bootJitter are the group's configured boot delay (default 1s) and jitter (default 0).
func (s *groupState) bootDelay() (time.Duration, time.Duration) {
	delay, jitter := defaultBootDelay, time.Duration(0)
	if d := s.Config.BootDelay; d != nil && d.Duration >= 0 {
		delay = d.Duration
	}
	if d := s.Config.BootJitter; d != nil && d.Duration >= 0 {
		jitter = d.Duration
	}
	return delay, jitter
}

// capacity is how many instances the group may run, and whether it is limited at all.
func (s *groupState) capacity() (int, bool) {
	if c := s.Config.CapacityLimit; c != nil && *c >= 0 {
		return int(*c), true
	}
	return 0, false
}

// view turns the persisted records into instances as the cloud reports them at now.
func (s *groupState) view(ref cloud.GroupRef, now time.Time) []cloud.Instance {
	limit, limited := s.capacity()
	records := append([]instanceRecord(nil), s.Instances...)
	sort.Slice(records, func(i, j int) bool { return records[i].Seq < records[j].Seq })
	out := make([]cloud.Instance, 0, len(records))
	placed := 0
	for _, r := range records {
		in := cloud.Instance{
			ID: r.ID, ProviderID: ProviderID(s.Region, ref.Name, r.ID), FailureDomain: r.FailureDomain,
			SpecHash: r.SpecHash, BootstrapSecret: r.BootstrapSecret, Version: r.Version, InstanceType: r.InstanceType,
			LaunchedAt: r.LaunchedAt, Reason: r.Reason,
		}
		switch {
		case r.Reason == ReasonLaunchFailed:
			in.State = cloud.Terminated
		case r.TerminatingAt != nil && !now.Before(r.TerminatingAt.Add(terminationDelay)):
			in.State = cloud.Terminated
			if in.Reason == "" {
				in.Reason = ReasonTerminated
			}
		case r.TerminatingAt != nil:
			in.State, in.ChangesAt = cloud.Terminating, r.TerminatingAt.Add(terminationDelay)
		case limited && placed >= limit:
			in.State, in.Reason = cloud.Pending, ReasonInsufficientCapacity
		case now.Before(r.BootAt):
			placed++
			in.State, in.Reason, in.ChangesAt = cloud.Pending, ReasonBooting, r.BootAt
		default:
			placed++
			in.State = cloud.Running
		}
		out = append(out, in)
	}
	return out
}

// prune drops instances terminated longer ago than keepTerminated.
func (s *groupState) prune(now time.Time) {
	kept := s.Instances[:0]
	for _, r := range s.Instances {
		gone := r.TerminatingAt != nil && now.Sub(*r.TerminatingAt) > keepTerminated ||
			r.Reason == ReasonLaunchFailed && now.Sub(r.LaunchedAt) > keepTerminated
		if !gone {
			kept = append(kept, r)
		}
	}
	s.Instances = kept
}
