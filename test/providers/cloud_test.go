package providers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
)

// cloud plays one infrastructure provider's InfraMachinePool controller, and the cloud group behind it, for one
// pool. What it writes comes from the provider's code (aws_test.go, gcp_test.go); what stays the same for every
// provider is here: the provider acts once our controller has adopted its object, adds its finalizer, writes
// metadata and spec and then status (two writes, as Cluster API's patch helper does), sizes the group after the
// MachinePool's spec.replicas, and on deletion removes its finalizer once the cloud resources are gone.
type cloud struct {
	gvk       schema.GroupVersionKind
	key       client.ObjectKey
	pool      poolRef
	finalizer string
	// launch starts one instance, with a provider ID in the provider's format.
	launch func() instance
	// write sets on the object what the provider's reconcile writes while the group holds instances.
	write func(u *unstructured.Unstructured, instances []instance)
	// perInstance, when set, keeps what the provider keeps per instance (CAPA's AWSMachines); it runs before
	// write, as in the provider's reconcile.
	perInstance func(infra *unstructured.Unstructured, instances []instance)
	// instances is the cloud group, oldest first.
	instances []instance
}

// object reads the provider's pool object as stored now.
func (c *cloud) object(g Gomega) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(c.gvk)
	g.Expect(k8s.Get(ctx, c.key, u)).To(Succeed())
	return u
}

// awaitAdoption waits until our controller has made the MachinePool the controller owner of the provider's
// object: providers do nothing before (CAPA and CAPG look their MachinePool up through that owner reference).
func (c *cloud) awaitAdoption() {
	GinkgoHelper()
	Eventually(func(g Gomega) string { return controllerOf(c.object(g)) }).Should(Equal("MachinePool "+c.pool.Name),
		"%s %s adopted by its MachinePool", c.gvk.Kind, c.key.Name)
}

// reconcile writes what the provider's reconcile writes for the group as it is now.
func (c *cloud) reconcile() {
	GinkgoHelper()
	if c.perInstance != nil {
		c.perInstance(c.object(Default), c.instances)
	}
	c.update(func(u *unstructured.Unstructured) {
		controllerutil.AddFinalizer(u, c.finalizer)
		c.write(u, c.instances)
	})
}

// update changes the provider's object as a patch helper does: metadata and spec, then status.
func (c *cloud) update(change func(u *unstructured.Unstructured)) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(conflicts, func() error {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(c.gvk)
		if err := k8s.Get(ctx, c.key, u); err != nil {
			return err
		}
		change(u)
		status := u.Object["status"]
		if err := k8s.Update(ctx, u); err != nil {
			return err
		}
		if status == nil {
			return nil
		}
		u.Object["status"] = status
		return k8s.Status().Update(ctx, u)
	})).To(Succeed())
}

// follow plays the cloud group following the MachinePool's spec.replicas (the provider sets the group's
// desired size from it): it launches instances, or terminates the oldest, until the group has as many, then
// reconciles. It returns the instances launched and terminated.
func (c *cloud) follow() (launched, terminated []instance) {
	GinkgoHelper()
	mp := &corev1beta2.MachinePool{}
	Expect(k8s.Get(ctx, c.pool.ObjectKey, mp)).To(Succeed())
	want := int(*mp.Spec.Replicas)
	for len(c.instances) < want {
		in := c.launch()
		c.instances = append(c.instances, in)
		launched = append(launched, in)
	}
	if extra := len(c.instances) - want; extra > 0 {
		terminated = append(terminated, c.instances[:extra]...)
		c.instances = append([]instance(nil), c.instances[extra:]...)
	}
	c.reconcile()
	return launched, terminated
}

// awaitDeletion waits until our controller has deleted the provider's object (its finalizer holds it).
func (c *cloud) awaitDeletion() {
	GinkgoHelper()
	Eventually(func(g Gomega) bool { return !c.object(g).GetDeletionTimestamp().IsZero() }).
		Should(BeTrue(), "our controller deletes %s %s", c.gvk.Kind, c.key.Name)
}

// release plays the provider's deletion: once our controller has deleted the object, the provider deletes the
// cloud group and removes its finalizer.
func (c *cloud) release() {
	GinkgoHelper()
	c.awaitDeletion()
	c.update(func(u *unstructured.Unstructured) {
		controllerutil.RemoveFinalizer(u, c.finalizer)
		delete(u.Object, "status") // only the finalizer changes
	})
	c.instances = nil
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(c.gvk)
	u.SetNamespace(c.key.Namespace)
	u.SetName(c.key.Name)
	expectGone(u)
}

// lifecycle takes a pool and its provider from creation to deletion: our controller adopts the provider's
// object; the group launches spec.replicas instances and their Nodes register; the pool is Running with every
// Node mapped; it scales up by one and then down to one (the retired instances' Nodes deleted by our
// controller, the counts following); then the pool is deleted: our controller deletes the provider's object,
// the provider removes its finalizer, and the pool and its Nodes go. check, when set, runs each time the pool is
// Running.
func lifecycle(c *cloud, check func(running []instance)) {
	GinkgoHelper()
	if check == nil {
		check = func([]instance) {}
	}
	By("our controller adopts the provider's " + c.gvk.Kind)
	c.awaitAdoption()

	By("playing the provider: the group launches spec.replicas instances, whose kubelets register Nodes")
	launched, _ := c.follow()
	Expect(launched).NotTo(BeEmpty())
	registerNodes(launched)
	c.pool.expectRunning(c.instances)
	check(c.instances)

	By("scaling up by one")
	c.pool.setReplicas(len(c.instances) + 1)
	launched, _ = c.follow()
	Expect(launched).To(HaveLen(1))
	registerNodes(launched)
	c.pool.expectRunning(c.instances)
	check(c.instances)

	By("scaling down to one: the group terminates the oldest instances and our controller deletes their Nodes")
	c.pool.setReplicas(1)
	_, terminated := c.follow()
	Expect(terminated).NotTo(BeEmpty())
	c.pool.expectRunning(c.instances)
	expectNodesGone(terminated)
	check(c.instances)

	By("deleting the pool: our controller deletes the " + c.gvk.Kind + ", the provider lets it go")
	last := c.instances
	Expect(k8s.Delete(ctx, c.pool.object())).To(Succeed())
	c.awaitDeletion()
	Eventually(func(g Gomega) string { return c.pool.v1beta1(g).Status.Phase }).Should(Equal("Deleting"),
		"the pool waits for the provider's finalizer")
	c.release()
	expectGone(c.pool.object())
	expectNodesGone(last)
}

// conditionsV1beta1 builds Cluster API v1beta1 conditions (status.conditions of CAPA's kinds and of
// GCPManagedMachinePool), all True.
func conditionsV1beta1(types ...string) []any {
	now := time.Now().UTC().Truncate(time.Second).Format(time.RFC3339)
	out := make([]any, 0, len(types))
	for _, t := range types {
		out = append(out, map[string]any{"type": t, "status": "True", "lastTransitionTime": now})
	}
	return out
}

// set sets a nested field of an object, failing the spec on a type clash.
func set(u *unstructured.Unstructured, value any, path ...string) {
	GinkgoHelper()
	Expect(unstructured.SetNestedField(u.Object, value, path...)).To(Succeed())
}

// stringList turns strings into the []any unstructured objects hold.
func stringList(s []string) []any {
	out := make([]any, len(s))
	for i := range s {
		out[i] = s[i]
	}
	return out
}
