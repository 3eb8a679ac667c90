package v1beta1

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
