package patch

import (
	"slices"
	"sync"
)

// CacheGuard keeps a controller from acting on its own stale reads. After a write, the manager's cache may
// still serve the version the write replaced for a few milliseconds; a reconcile reading that version would
// send the same write again (or, for a pool, a status computed before it). The controller records the
// versions a write replaced (Wrote, with OnWrite's help for Apply's one or two writes) and asks Behind before
// acting on a cached read: true while the cache serves one of them; any other version ends the wait.
type CacheGuard[K comparable] struct {
	mu       sync.Mutex
	replaced map[K][]string
}

// Wrote records that the versions replaced of key's object were written over by this controller.
func (g *CacheGuard[K]) Wrote(key K, replaced ...string) {
	if len(replaced) == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.replaced == nil {
		g.replaced = map[K][]string{}
	}
	g.replaced[key] = replaced
}

// Behind says whether cached (the resourceVersion the cache served) is one a write of this controller
// replaced; the first read of any other version forgets the write.
func (g *CacheGuard[K]) Behind(key K, cached string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	replaced, ok := g.replaced[key]
	if !ok {
		return false
	}
	if slices.Contains(replaced, cached) {
		return true
	}
	delete(g.replaced, key)
	return false
}

// Forget drops what is remembered of key's object (it is gone or being deleted).
func (g *CacheGuard[K]) Forget(key K) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.replaced, key)
}
