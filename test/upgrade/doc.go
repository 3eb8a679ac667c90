// Package upgrade checks an upgrade from the MachinePool CRD before v1beta2 (v1beta1 only, stored as v1beta1) to
// today's (v1beta1 and v1beta2, stored as v1beta2, converted by the manager's webhook): pools created before it
// read and write through both versions with nothing lost, and the manager migrates them to the new storage
// version. It has no non-test code.
package upgrade
