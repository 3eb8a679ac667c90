package machinepoolmachine

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// writtenVersions remembers, per Node, the resourceVersion a write of this controller replaced. While the
// cache still serves that version it has not seen the write, and acting on it would send the write again.
type writtenVersions struct {
	mu       sync.Mutex
	replaced map[types.UID]string
}

// wrote records a write over node's version.
func (w *writtenVersions) wrote(node *corev1.Node) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.replaced == nil {
		w.replaced = map[types.UID]string{}
	}
	w.replaced[node.UID] = node.ResourceVersion
}

// behind says whether node is the version a write replaced; any other version ends the wait.
func (w *writtenVersions) behind(node *corev1.Node) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	rv, ok := w.replaced[node.UID]
	if !ok {
		return false
	}
	if rv == node.ResourceVersion {
		return true
	}
	delete(w.replaced, node.UID)
	return false
}

// forget drops what is remembered of node (it is being deleted).
func (w *writtenVersions) forget(node *corev1.Node) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.replaced, node.UID)
}
