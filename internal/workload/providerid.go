package workload

import (
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Provider IDs name a cloud instance as <scheme>://<path>, and clouds write the path in more than one form: AWS
// Nodes may say aws:///us-east-1a/i-123 while the Auto Scaling Group reports aws:////i-123. Two keys make them
// comparable:
//
//   - the full key: the scheme in lower case (URL schemes are case-insensitive), then the path's non-empty
//     segments (runs of slashes and leading or trailing slashes carry no meaning); it is exact and always tried
//     first;
//   - the instance key: the scheme and the path's last segment (the instance ID), which is what the
//     cluster-autoscaler and Cluster API's own matching compare; it only finds candidates when no full key
//     matches, and a candidate matches only when one path is a shorter form of the other (SameInstance), so
//     clouds whose last segment is not unique (Azure scale-set indexes) are not confused.

// FullKey returns the exact comparison key of a provider ID, or "" for an empty ID.
func FullKey(providerID string) string {
	scheme, path := split(providerID)
	segs := segments(path)
	if len(segs) == 0 {
		return ""
	}
	return scheme + "://" + strings.Join(segs, "/")
}

// InstanceKey returns the scheme and the last path segment of a provider ID ("aws://i-123"), or "" when there
// is none.
func InstanceKey(providerID string) string {
	scheme, path := split(providerID)
	path = strings.TrimRight(path, "/")
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		path = path[i+1:]
	}
	if path == "" {
		return ""
	}
	return scheme + "://" + path
}

// SameInstance says whether two provider IDs name the same instance: equal full keys, or the same scheme with
// one path a shorter form of the other (its segments are the other's last segments: aws:////i-123 and
// aws:///us-east-1a/i-123). Two long paths that differ, such as two Azure scale sets' instance 0, never match.
func SameInstance(a, b string) bool {
	schemeA, pathA := split(a)
	schemeB, pathB := split(b)
	segA, segB := segments(pathA), segments(pathB)
	if schemeA != schemeB || len(segA) == 0 || len(segB) == 0 {
		return false
	}
	if len(segA) > len(segB) {
		segA, segB = segB, segA
	}
	tail := segB[len(segB)-len(segA):]
	for i := range segA {
		if segA[i] != tail[i] {
			return false
		}
	}
	return true
}

// InstanceSet holds provider IDs for "does the set name this instance" questions in constant time: only IDs
// with the same instance key are compared with SameInstance.
type InstanceSet map[string][]string

// NewInstanceSet indexes provider IDs by instance key.
func NewInstanceSet(ids []string) InstanceSet {
	s := make(InstanceSet, len(ids))
	for _, id := range ids {
		if k := InstanceKey(id); k != "" {
			s[k] = append(s[k], id)
		}
	}
	return s
}

// Has says whether an ID of the set names the same instance as providerID.
func (s InstanceSet) Has(providerID string) bool {
	for _, id := range s[InstanceKey(providerID)] {
		if SameInstance(id, providerID) {
			return true
		}
	}
	return false
}

func segments(path string) []string {
	return strings.FieldsFunc(path, func(r rune) bool { return r == '/' })
}

// split returns the lower-cased scheme and the rest of a provider ID; an ID without "://" is all path.
func split(providerID string) (scheme, path string) {
	providerID = strings.TrimSpace(providerID)
	if s, p, ok := strings.Cut(providerID, "://"); ok {
		return strings.ToLower(s), p
	}
	return "", providerID
}

// InstanceKeyIndexer indexes objects of a kind by the instance key of the provider ID providerID reads from them
// (the key Nodes are indexed by too), so that a Node's change finds the objects of its instance whatever form
// of the provider ID each writes: list with client.MatchingFields{index: InstanceKey(id)} and keep the objects
// SameInstance confirms.
func InstanceKeyIndexer(providerID func(client.Object) string) client.IndexerFunc {
	return providerIDIndexer(InstanceKey, providerID)
}

func providerIDIndexer(key func(string) string, providerID func(client.Object) string) client.IndexerFunc {
	return func(o client.Object) []string {
		if k := key(providerID(o)); k != "" {
			return []string{k}
		}
		return nil
	}
}
