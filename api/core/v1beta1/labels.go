package v1beta1

import (
	"encoding/base64"
	"fmt"
	"hash/fnv"

	"k8s.io/apimachinery/pkg/util/validation"
)

// FormatLabelValue turns a name into a label value the way Cluster API does: a valid label value stays as it
// is; anything else (longer than 63 characters, for example) becomes "hash_<base64url(fnv32a(name))>_z". Label
// selectors that Cluster API and the cluster-autoscaler build must match ours, so the format is part of the
// wire contract.
func FormatLabelValue(name string) string {
	if len(validation.IsValidLabelValue(name)) == 0 {
		return name
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(name)) // hash.Hash writes never fail
	return fmt.Sprintf("hash_%s_z", base64.RawURLEncoding.EncodeToString(h.Sum(nil)))
}

// MachinePoolSelector is the label selector, in string form, of a pool's Machines:
// cluster.x-k8s.io/cluster-name=<cluster>,cluster.x-k8s.io/pool-name=<pool>, each value formatted by
// FormatLabelValue. The scale subresource reports it as status.selector.
func MachinePoolSelector(clusterName, poolName string) string {
	return ClusterNameLabel + "=" + FormatLabelValue(clusterName) + "," + MachinePoolNameLabel + "=" + FormatLabelValue(poolName)
}

// MachinePoolLabels are the labels Cluster API puts on a pool's Machines and infra machines: the cluster name
// as it is, the pool name formatted by FormatLabelValue.
func MachinePoolLabels(clusterName, poolName string) map[string]string {
	return map[string]string{ClusterNameLabel: clusterName, MachinePoolNameLabel: FormatLabelValue(poolName)}
}
