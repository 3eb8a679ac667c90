package contract

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// BootstrapDataKey is the key of the bootstrap data in a bootstrap provider's data Secret.
const BootstrapDataKey = "value"

// HasBootstrapData says whether the bootstrap data Secret exists with non-empty data: what an instance needs to
// join its cluster. Read it uncached (an API reader): Secret data is not cached.
func HasBootstrapData(ctx context.Context, r client.Reader, secret types.NamespacedName) bool {
	s := &corev1.Secret{}
	if err := r.Get(ctx, secret, s); err != nil {
		return false
	}
	return len(s.Data[BootstrapDataKey]) > 0
}
