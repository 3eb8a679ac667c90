package main

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestShard(t *testing.T) {
	lease, agent := shard("")
	if lease != leaderElectionID || agent != "machinepool-operator" {
		t.Errorf("no filter: got %q, %q; want the defaults", lease, agent)
	}
	seen := map[string]string{}
	for _, filter := range []string{"a", "b", "team-a", "Team_A", "team.a", "team-a.b", "A", "x1_2"} {
		lease, agent := shard(filter)
		if errs := validation.IsDNS1123Subdomain(lease); len(errs) > 0 {
			t.Errorf("filter %q: Lease name %q is not valid: %v", filter, lease, errs)
		}
		if other, ok := seen[lease]; ok {
			t.Errorf("filters %q and %q share the Lease %q", other, filter, lease)
		}
		seen[lease] = filter
		if want := "machinepool-operator (watch-filter=" + filter + ")"; agent != want {
			t.Errorf("filter %q: user agent %q, want %q", filter, agent, want)
		}
	}
	if lease, _ := shard("team-a"); lease != "machinepool-operator-team-a.cluster.x-k8s.io" {
		t.Errorf("a filter that is already a DNS label names its Lease as is: got %q", lease)
	}
}
