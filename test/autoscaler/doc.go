// Package autoscaler runs the real cluster-autoscaler (1.36.1, Cluster API provider; built by
// hack/autoscaler.sh from ../shared/third_party, as it is not on the Go module proxy) against the manager binary
// and a SimMachinePool pool, standalone: scale up on an unschedulable Pod, scale down the Node the autoscaler
// picks, scale from zero. The test plays the scheduler. Its tests carry the build tag "autoscaler" and run with
// `make test-autoscaler`; without the source archive the suite is skipped and says why.
package autoscaler
