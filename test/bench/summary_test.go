//go:build bench

package bench

import (
	"fmt"
	"sort"
	"strings"
)

// derive adds the figures the targets are stated in: management requests per pool changed, manager CPU seconds
// per 1,000 Nodes added or retired, and for idle the requests that should not be there.
func derive(r *result) {
	if r.Pools > 0 && r.ManagementRequests != nil {
		r.ManagementRequestsPerPool = float64(total(r.ManagementRequests)) / float64(r.Pools)
	}
	if r.NodesChanged > 0 {
		r.CPUSecondsPer1kNodes = r.CPUSeconds * 1000 / float64(r.NodesChanged)
	}
	if r.Scenario != "idle" || r.ManagementRequests == nil {
		return
	}
	for k, n := range byCluster(*r) {
		if !routine(k) {
			if r.IdleOther == nil {
				r.IdleOther = map[string]int{}
			}
			r.IdleOther[k] = n
		}
	}
}

// byCluster is the scenario's requests by "cluster verb resource", cluster being management or workload.
func byCluster(r result) map[string]int {
	out := map[string]int{}
	for k, n := range r.ManagementByResource {
		out["management "+k] += n
	}
	for k, n := range r.WorkloadByResource {
		out["workload "+k] += n
	}
	return out
}

// routine tells the requests a manager with nothing to do is expected to send, by "cluster verb resource": watch
// (re)starts, health probes of an API server (non-resource GETs, counted under their path) and leader election's
// lease renewals.
func routine(request string) bool {
	fields := strings.Fields(request)
	if len(fields) != 3 {
		return false
	}
	verb, resource := fields[1], fields[2]
	switch {
	case verb == "watch":
		return true
	case verb == "get" && (resource == "/readyz" || resource == "/livez" || resource == "/healthz"):
		return true
	case resource == "leases":
		return verb == "get" || verb == "update"
	}
	return false
}

// idleVerdict says whether the idle scenario's requests were all watch renewals, probes and lease renewals, and
// names the others, list calls first.
func idleVerdict(r result) string {
	all := byCluster(r)
	n := total(all)
	if n == 0 {
		return fmt.Sprintf("idle %.0f s: no requests", r.Seconds)
	}
	if len(r.IdleOther) == 0 {
		return fmt.Sprintf("idle %.0f s: %d requests, all watch renewals/probes/leases (%s)", r.Seconds, n, strings.Join(countList(all), ", "))
	}
	others := countList(r.IdleOther)
	sort.SliceStable(others, func(i, j int) bool {
		return strings.Contains(others[i], " list ") && !strings.Contains(others[j], " list ")
	})
	return fmt.Sprintf("idle %.0f s: %d requests, %d NOT watch renewals/probes/leases: %s", r.Seconds, n, total(r.IdleOther), strings.Join(others, ", "))
}

func countList(c map[string]int) []string {
	var out []string
	for _, k := range sortedKeys(c) {
		out = append(out, fmt.Sprintf("%s %d", k, c[k]))
	}
	return out
}

// spread is one figure over the runs of a workload.
type spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func spreadOf(values []float64) spread {
	v := append([]float64(nil), values...)
	sort.Float64s(v)
	n := len(v)
	if n == 0 {
		return spread{}
	}
	return spread{Median: (v[(n-1)/2] + v[n/2]) / 2, Min: v[0], Max: v[n-1]}
}

func (s spread) format(decimals int) string {
	return fmt.Sprintf("%.*f (%.*f-%.*f)", decimals, s.Median, decimals, s.Min, decimals, s.Max)
}

// summary is one scenario of a workload over its runs: the median, lowest and highest of each figure. In the JSON
// lines it is told from the runs' results by "median": true.
type summary struct {
	Workload     string `json:"workload"`
	Scenario     string `json:"scenario"`
	Median       bool   `json:"median"`
	Runs         int    `json:"runs"`
	Pools        int    `json:"pools"`
	Nodes        int    `json:"nodes"`
	NodesChanged int    `json:"nodesChanged"`

	Seconds                spread `json:"seconds"`
	CPUSeconds             spread `json:"cpuSeconds"`
	ControlPlaneCPUSeconds spread `json:"controlPlaneCPUSeconds"`
	PeakRSSMiB             spread `json:"peakRSSMiB"`
	RSSMiB                 spread `json:"rssMiB"`
	RSSAnonMiB             spread `json:"rssAnonMiB"`
	HeapInuseMiB           spread `json:"heapInuseMiB"`
	HeapLiveMiB            spread `json:"heapLiveMiB"`
	// The request figures are missing when the audit logs are off, the per pool one when no pool changed.
	ManagementRequests        *spread `json:"managementRequests,omitempty"`
	WorkloadRequests          *spread `json:"workloadRequests,omitempty"`
	ManagementRequestsPerPool *spread `json:"managementRequestsPerPool,omitempty"`
	CPUSecondsPer1kNodes      spread  `json:"cpuSecondsPer1kNodes"`
}

// summarize turns the runs of one workload (each a list of scenario results) into a summary per scenario.
func summarize(runs [][]result) []summary {
	byScenario := map[string][]result{}
	var order []string
	for _, run := range runs {
		for _, r := range run {
			if _, seen := byScenario[r.Scenario]; !seen {
				order = append(order, r.Scenario)
			}
			byScenario[r.Scenario] = append(byScenario[r.Scenario], r)
		}
	}
	var out []summary
	for _, name := range order {
		rs := byScenario[name]
		of := func(f func(result) float64) spread {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			return spreadOf(v)
		}
		s := summary{Workload: rs[0].Workload, Scenario: name, Median: true, Runs: len(rs), Pools: rs[0].Pools, Nodes: rs[0].Nodes, NodesChanged: rs[0].NodesChanged,
			Seconds:                of(func(r result) float64 { return r.Seconds }),
			CPUSeconds:             of(func(r result) float64 { return r.CPUSeconds }),
			ControlPlaneCPUSeconds: of(func(r result) float64 { return r.ControlPlaneCPUSeconds }),
			PeakRSSMiB:             of(func(r result) float64 { return r.PeakRSSMiB }),
			RSSMiB:                 of(func(r result) float64 { return r.RSSMiB }),
			RSSAnonMiB:             of(func(r result) float64 { return r.RSSAnonMiB }),
			HeapInuseMiB:           of(func(r result) float64 { return r.Manager.HeapInuseMiB }),
			HeapLiveMiB:            of(func(r result) float64 { return r.Manager.HeapLiveMiB }),
			CPUSecondsPer1kNodes:   of(func(r result) float64 { return r.CPUSecondsPer1kNodes }),
		}
		if rs[0].ManagementRequests != nil {
			mgmt := of(func(r result) float64 { return float64(total(r.ManagementRequests)) })
			wl := of(func(r result) float64 { return float64(total(r.WorkloadRequests)) })
			s.ManagementRequests, s.WorkloadRequests = &mgmt, &wl
			if s.Pools > 0 {
				perPool := of(func(r result) float64 { return r.ManagementRequestsPerPool })
				s.ManagementRequestsPerPool = &perPool
			}
		}
		out = append(out, s)
	}
	return out
}

func printSummaries(sums []summary) {
	if len(sums) == 0 {
		return
	}
	fmt.Printf("\nmedians of %d runs (min-max)\n%-12s %-11s %-20s %-20s %-20s %-14s %-20s %-20s %-20s %-20s %s\n", sums[0].Runs,
		"workload", "scenario", "seconds", "cpu s", "cp cpu s", "peak rss MiB", "heap MiB", "mgmt requests", "wl requests", "mgmt req/pool", "cpu s/1k Nodes")
	requests := func(s *spread, decimals int) string {
		if s == nil {
			return "-"
		}
		return s.format(decimals)
	}
	for _, s := range sums {
		perNode := "-"
		if s.NodesChanged > 0 {
			perNode = s.CPUSecondsPer1kNodes.format(2)
		}
		fmt.Printf("%-12s %-11s %-20s %-20s %-20s %-14s %-20s %-20s %-20s %-20s %s\n", s.Workload, s.Scenario, s.Seconds.format(2), s.CPUSeconds.format(2),
			s.ControlPlaneCPUSeconds.format(1), s.PeakRSSMiB.format(0), s.HeapInuseMiB.format(1), requests(s.ManagementRequests, 0),
			requests(s.WorkloadRequests, 0), requests(s.ManagementRequestsPerPool, 2), perNode)
	}
}

// printMemory estimates the manager's memory floor (started, caches synced, no pools) and what each Node adds,
// from the Nodes scale-up adds to the create's: RSS and Go heap after each settled (medians over the runs).
func printMemory(name string, sums []summary) {
	by := map[string]summary{}
	for _, s := range sums {
		by[s.Scenario] = s
	}
	start, create, up := by["start"], by["create"], by["scale-up"]
	if start.Runs == 0 || create.Runs == 0 || up.Runs == 0 || up.Nodes == create.Nodes {
		return
	}
	perNode := func(a, b spread) float64 { return (b.Median - a.Median) * 1024 / float64(up.Nodes-create.Nodes) }
	fmt.Printf("memory %s: floor (no pools) peak RSS %.0f MiB, RSS %.0f MiB (%.0f anonymous), heap in use %.1f MiB, live %.1f MiB; "+
		"per Node (create -> scale-up, %d -> %d Nodes): RSS %.1f KiB, heap in use %.1f KiB, live %.1f KiB; peak RSS at %d Nodes %.0f MiB\n",
		name, start.PeakRSSMiB.Median, start.RSSMiB.Median, start.RSSAnonMiB.Median, start.HeapInuseMiB.Median, start.HeapLiveMiB.Median, create.Nodes, up.Nodes,
		perNode(create.RSSMiB, up.RSSMiB), perNode(create.HeapInuseMiB, up.HeapInuseMiB), perNode(create.HeapLiveMiB, up.HeapLiveMiB),
		up.Nodes, up.PeakRSSMiB.Median)
}
