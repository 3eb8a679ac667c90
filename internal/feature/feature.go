// Package feature holds the operator's feature gates (--feature-gates). It imports only component-base and apimachinery.
package feature

import (
	"k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/component-base/featuregate"
	logsv1 "k8s.io/component-base/logs/api/v1"
)

// MachinePool turns on the MachinePool and SimMachinePool controllers and lets the webhooks admit those
// objects. Beta and on by default, as in Cluster API v1.7.
const MachinePool featuregate.Feature = "MachinePool"

var defaultGates = map[featuregate.Feature]featuregate.FeatureSpec{
	MachinePool: {Default: true, PreRelease: featuregate.Beta},
}

// MutableGates is the process's feature gates, set from --feature-gates.
var MutableGates featuregate.MutableFeatureGate = NewGates()

// Gates is the read-only view of MutableGates.
var Gates featuregate.FeatureGate = MutableGates

// NewGates returns a fresh set of the operator's feature gates at their defaults.
func NewGates() featuregate.MutableFeatureGate {
	g := featuregate.NewFeatureGate()
	runtime.Must(g.Add(defaultGates))
	// The logging flags' gates (LoggingBetaOptions, ...) share --feature-gates, as in Kubernetes components.
	runtime.Must(logsv1.AddFeatureGates(g))
	return g
}
