package bench

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
)

// requestCounter counts the HTTP requests a client sends, by verb (GET of a collection is "list", of one
// object "get", with watch=true "watch").
type requestCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func newRequestCounter() *requestCounter { return &requestCounter{counts: map[string]int{}} }

func (c *requestCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		c.mu.Lock()
		c.counts[verb(req)]++
		c.mu.Unlock()
		return rt.RoundTrip(req)
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func verb(req *http.Request) string {
	if req.Method != http.MethodGet {
		return strings.ToLower(req.Method)
	}
	if req.URL.Query().Get("watch") == "true" {
		return "watch"
	}
	segs := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	switch {
	case len(segs) >= 2 && segs[0] == "api":
		segs = segs[2:] // api/v1
	case len(segs) >= 3 && segs[0] == "apis":
		segs = segs[3:] // apis/group/version
	default:
		return "get" // /readyz, discovery
	}
	if len(segs) >= 2 && segs[0] == "namespaces" && len(segs) > 2 {
		segs = segs[2:]
	}
	if len(segs) == 1 {
		return "list"
	}
	return "get"
}

// snapshot returns the counts so far and resets them.
func (c *requestCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.counts
	c.counts = map[string]int{}
	return out
}

func format(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	total := 0
	for k, v := range counts {
		keys = append(keys, k)
		total += v
	}
	sort.Strings(keys)
	parts := []string{fmt.Sprintf("total=%d", total)}
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, counts[k]))
	}
	return strings.Join(parts, " ")
}

func total(counts map[string]int) int {
	n := 0
	for _, v := range counts {
		n += v
	}
	return n
}
