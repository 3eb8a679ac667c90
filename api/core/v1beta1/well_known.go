package v1beta1

import "time"

// Labels and annotations that Cluster API defines and that its controllers, providers and the
// cluster-autoscaler read. The strings are part of the wire contract; never change them.
const (
	// ClusterNameLabel names the Cluster an object belongs to.
	ClusterNameLabel = "cluster.x-k8s.io/cluster-name"

	// MachinePoolNameLabel names the MachinePool a Machine belongs to. Its value is the pool's name, or a hash
	// of it when the name is longer than a label value may be.
	MachinePoolNameLabel = "cluster.x-k8s.io/pool-name"

	// WatchFilterLabel restricts a manager started with --watch-filter=<value> to objects carrying this label
	// with that value.
	WatchFilterLabel = "cluster.x-k8s.io/watch-filter"

	// PausedAnnotation on an object stops its controllers from changing anything but a Paused condition.
	PausedAnnotation = "cluster.x-k8s.io/paused"

	// ReplicasManagedByAnnotation says that an external system (an autoscaler, a cloud's own scaling) owns
	// the replica count; any value but "false" counts.
	ReplicasManagedByAnnotation = "cluster.x-k8s.io/replicas-managed-by"

	// AutoscalerMinSizeAnnotation is the cluster-autoscaler's lower bound for a node group.
	AutoscalerMinSizeAnnotation = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size"

	// AutoscalerMaxSizeAnnotation is the cluster-autoscaler's upper bound for a node group.
	AutoscalerMaxSizeAnnotation = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size"

	// ContractLabelPrefix starts the label a provider's CRD carries to say which Cluster API contract its
	// versions follow: "cluster.x-k8s.io/v1beta1: v1beta1" (several versions join with "_").
	ContractLabelPrefix = "cluster.x-k8s.io"

	// ContractVersion is the Cluster API contract this API implements.
	ContractVersion = "v1beta1"
)

// What Cluster API's Machine controller keeps on a Machine's Node, and what bootstrap providers and the
// cluster-autoscaler put on Nodes and Machines.
const (
	// ClusterNameAnnotation on a Node names its Cluster (the same key as ClusterNameLabel).
	ClusterNameAnnotation = ClusterNameLabel
	// ClusterNamespaceAnnotation on a Node names its Cluster's namespace.
	ClusterNamespaceAnnotation = "cluster.x-k8s.io/cluster-namespace"
	// MachineAnnotation on a Node names its Machine (in ClusterNamespaceAnnotation); the cluster-autoscaler
	// finds a Node's Machine by it.
	MachineAnnotation = "cluster.x-k8s.io/machine"
	// OwnerKindAnnotation and OwnerNameAnnotation on a Node name the controller of its Machine, or the
	// MachinePool that adopted it.
	OwnerKindAnnotation = "cluster.x-k8s.io/owner-kind"
	OwnerNameAnnotation = "cluster.x-k8s.io/owner-name"
	// LabelsFromMachineAnnotation lists, comma-separated, the Node labels that came from its Machine, so that
	// a label the Machine loses can leave the Node while labels others set stay.
	LabelsFromMachineAnnotation = "cluster.x-k8s.io/labels-from-machine"
	// InterruptibleLabel marks the Node of an instance its infrastructure reports as interruptible (spot).
	InterruptibleLabel = "cluster.x-k8s.io/interruptible"
	// NodeUninitializedTaint is the taint bootstrap providers register new Nodes with, until Cluster API has
	// adopted them.
	NodeUninitializedTaint = "node.cluster.x-k8s.io/uninitialized"
	// DeleteMachineAnnotation marks the Machine (or, where no Machines exist, the Node) that the
	// cluster-autoscaler or a user wants removed first.
	DeleteMachineAnnotation = "cluster.x-k8s.io/delete-machine"
	// KubeconfigSecretSuffix ends the name of the Secret holding a Cluster's kubeconfig: "<cluster>-kubeconfig".
	KubeconfigSecretSuffix = "-kubeconfig" //nolint:gosec // a Secret's name suffix, not a credential
	// KubeconfigDataKey is the key of the kubeconfig in that Secret.
	KubeconfigDataKey = "value"
)

// DefaultNodeDeletionTimeout is Cluster API's default for a Machine's (and a pool template's)
// nodeDeletionTimeout: how long deleting its Node is retried before it is given up; 0 retries forever.
const DefaultNodeDeletionTimeout = 10 * time.Second
