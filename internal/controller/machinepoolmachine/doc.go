// Package machinepoolmachine is the machinepoolmachine controller: for Machines owned by a MachinePool
// ("MachinePool Machines") it does what Cluster API's Machine controller does for them, where that controller
// does not run. It owns the infra machine, copies its provider ID, reports the Node (status.nodeRef, phase,
// conditions), and on deletion drains the Node, deletes the infra machine (whose provider terminates the
// instance), waits for it, and deletes the Node. The controller starts once Cluster API's Machine CRD is
// served, and only ever touches Machines a MachinePool controls.
package machinepoolmachine
