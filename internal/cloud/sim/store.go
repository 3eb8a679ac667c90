package sim

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/machinepool-operator/machinepool-operator/internal/cloud"
)

// Store persists scaling groups. Save must fail when the group changed since it was loaded (version).
type Store interface {
	// Load returns the group's state and its version, or cloud.ErrGroupNotFound.
	Load(ctx context.Context, group cloud.GroupRef) (*groupState, string, error)
	// Save writes the group's state; version "" creates it.
	Save(ctx context.Context, group cloud.GroupRef, state *groupState, version string) error
	// Delete removes the group's state; a missing group is not an error.
	Delete(ctx context.Context, group cloud.GroupRef) error
}

// stateKey is the ConfigMap key that holds a group's state as JSON.
const stateKey = "state"

// ConfigMapName is the name of the ConfigMap that holds a scaling group's state.
func ConfigMapName(group string) string { return "sim-cloud-" + group }

// ConfigMapStore keeps each scaling group in a ConfigMap sim-cloud-<group> in the group's namespace, updated
// with optimistic concurrency.
type ConfigMapStore struct {
	// Client must read ConfigMaps uncached (an API reader or a direct client): the store's reads decide what
	// exists in the cloud.
	Client client.Client
}

var _ Store = &ConfigMapStore{}

// Load implements Store.
func (s *ConfigMapStore) Load(ctx context.Context, group cloud.GroupRef) (*groupState, string, error) {
	cm := &corev1.ConfigMap{}
	if err := s.Client.Get(ctx, types.NamespacedName{Namespace: group.Namespace, Name: ConfigMapName(group.Name)}, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, "", cloud.ErrGroupNotFound
		}
		return nil, "", fmt.Errorf("reading scaling group %s: %w", group, err)
	}
	state := &groupState{}
	if err := json.Unmarshal([]byte(cm.Data[stateKey]), state); err != nil {
		return nil, "", fmt.Errorf("scaling group %s: ConfigMap %s holds no valid state: %w", group, cm.Name, err)
	}
	return state, cm.ResourceVersion, nil
}

// Save implements Store.
func (s *ConfigMapStore) Save(ctx context.Context, group cloud.GroupRef, state *groupState, version string) error {
	raw, err := json.Marshal(state)
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: group.Namespace, Name: ConfigMapName(group.Name), ResourceVersion: version,
			Labels: map[string]string{"sim.infrastructure.cluster.x-k8s.io/scaling-group": group.Name},
		},
		Data: map[string]string{stateKey: string(raw)},
	}
	if version == "" {
		err = s.Client.Create(ctx, cm)
	} else {
		err = s.Client.Update(ctx, cm)
	}
	if err != nil {
		return fmt.Errorf("saving scaling group %s: %w", group, err)
	}
	return nil
}

// Delete implements Store.
func (s *ConfigMapStore) Delete(ctx context.Context, group cloud.GroupRef) error {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: group.Namespace, Name: ConfigMapName(group.Name)}}
	if err := s.Client.Delete(ctx, cm); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting scaling group %s: %w", group, err)
	}
	return nil
}
