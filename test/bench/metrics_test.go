//go:build bench

package bench

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// managerMetrics is where the manager's time went in a scenario, from its Prometheus metrics.
type managerMetrics struct {
	// Reconciles is the number of MachinePool reconciles.
	Reconciles float64 `json:"reconciles"`
	// QueueSeconds is the time pools waited in the work queue, summed over reconciles; WorkSeconds the time
	// reconciles took, summed.
	QueueSeconds float64 `json:"queueSeconds"`
	WorkSeconds  float64 `json:"workSeconds"`
	// ThrottleSeconds is the time requests waited for the client-side rate limiter, RequestSeconds the time
	// they took at the API server, summed, per cluster.
	ManagementThrottleSeconds float64 `json:"managementThrottleSeconds"`
	ManagementRequestSeconds  float64 `json:"managementRequestSeconds"`
	WorkloadThrottleSeconds   float64 `json:"workloadThrottleSeconds"`
	WorkloadRequestSeconds    float64 `json:"workloadRequestSeconds"`
	// ConversionRequests is the number of conversion reviews the manager's /convert answered (the API server
	// converting for the harness's v1beta1 clients and watches), ConversionSeconds the time they took, summed.
	ConversionRequests float64 `json:"conversionRequests"`
	ConversionSeconds  float64 `json:"conversionSeconds"`
	// HeapInuseMiB is the Go heap's spans in use at the scenario's end, right after a forced garbage collection
	// (go_memstats_heap_inuse_bytes): steadier than RSS, which holds what the runtime has not yet returned.
	// HeapLiveMiB is what that collection found live (go_gc_heap_live_bytes): the manager's objects alone.
	HeapInuseMiB float64 `json:"heapInuseMiB"`
	HeapLiveMiB  float64 `json:"heapLiveMiB"`
	// GoMemLimitMiB is the Go runtime's soft memory limit (GOMEMLIMIT; 8 EiB when unset), GOGC its GC percent.
	GoMemLimitMiB float64 `json:"goMemLimitMiB"`
	GOGC          float64 `json:"gogc"`
}

// sample is one metrics scrape: each series (name plus labels, as exposed) to its value.
type sample map[string]float64

func scrape(addr string) sample {
	s := sample{}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics") //nolint:noctx,gosec // the manager this harness started
	if err != nil {
		return s
	}
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			s[line[:i]] = v
		}
	}
	return s
}

// sum adds the values of a metric's series whose labels contain every one of the given `k="v"` pairs.
func (s sample) sum(name string, labels ...string) float64 {
	total := 0.0
	for series, v := range s {
		if series != name && !strings.HasPrefix(series, name+"{") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(series, l)
		}
		if ok {
			total += v
		}
	}
	return total
}

// managerFigures is the difference of two scrapes, summed over the workload clusters' hosts, with the memory
// figures of the second.
func managerFigures(before, after sample, managementHost string, workloadHosts []string) managerMetrics {
	d := func(name string, labels ...string) float64 {
		return after.sum(name, labels...) - before.sum(name, labels...)
	}
	workload := func(name string) float64 {
		total := 0.0
		for _, host := range workloadHosts {
			total += d(name, `host="`+host+`"`)
		}
		return total
	}
	const controller = `controller="machinepool"`
	const mib = 1 << 20
	return managerMetrics{
		Reconciles:                d("controller_runtime_reconcile_total", controller),
		QueueSeconds:              d("workqueue_queue_duration_seconds_sum", `name="machinepool"`),
		WorkSeconds:               d("workqueue_work_duration_seconds_sum", `name="machinepool"`),
		ManagementThrottleSeconds: d("rest_client_rate_limiter_duration_seconds_sum", `host="`+managementHost+`"`),
		ManagementRequestSeconds:  d("rest_client_request_duration_seconds_sum", `host="`+managementHost+`"`),
		WorkloadThrottleSeconds:   workload("rest_client_rate_limiter_duration_seconds_sum"),
		WorkloadRequestSeconds:    workload("rest_client_request_duration_seconds_sum"),
		ConversionRequests:        d("controller_runtime_webhook_requests_total", `webhook="/convert"`),
		ConversionSeconds:         d("controller_runtime_webhook_latency_seconds_sum", `webhook="/convert"`),
		HeapInuseMiB:              after.sum("go_memstats_heap_inuse_bytes") / mib,
		HeapLiveMiB:               after.sum("go_gc_heap_live_bytes") / mib,
		GoMemLimitMiB:             after.sum("go_gc_gomemlimit_bytes") / mib,
		GOGC:                      after.sum("go_gc_gogc_percent"),
	}
}
