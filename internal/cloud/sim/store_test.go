package sim

import (
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/machinepool-operator/machinepool-operator/internal/cloud"
)

var _ = Describe("ConfigMapStore", func() {
	var ref cloud.GroupRef
	var store *ConfigMapStore
	BeforeEach(func() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "sim-"}}
		Expect(k8s.Create(bg, ns)).To(Succeed())
		ref = cloud.GroupRef{Namespace: ns.Name, Name: "workers"}
		store = &ConfigMapStore{Client: k8s}
	})

	It("keeps a scaling group in ConfigMap sim-cloud-<group>, written before the instance runs", func() {
		c := New(store)
		Expect(c.EnsureGroup(bg, withRef(spec(2, ""), ref))).To(Succeed())
		cm := &corev1.ConfigMap{}
		Expect(k8s.Get(bg, client.ObjectKey{Namespace: ref.Namespace, Name: "sim-cloud-workers"}, cm)).To(Succeed())
		Expect(cm.Data["state"]).To(ContainSubstring(`"counter":2`))
		instances, err := c.Instances(bg, ref)
		Expect(err).NotTo(HaveOccurred())
		Expect(instances).To(HaveLen(2))
	})

	It("refuses a write based on a stale read, so two managers cannot both launch", func() {
		Expect(New(store).EnsureGroup(bg, withRef(spec(1, ""), ref))).To(Succeed())
		state, version, err := store.Load(bg, ref)
		Expect(err).NotTo(HaveOccurred())
		state.Desired = 2
		Expect(store.Save(bg, ref, state, version)).To(Succeed())
		state.Desired = 3
		err = store.Save(bg, ref, state, version)
		Expect(apierrors.IsConflict(err)).To(BeTrue(), "got %v", err)
	})

	It("survives a restart: a new cloud on the same ConfigMaps neither loses nor duplicates instances", func() {
		Expect(New(store).EnsureGroup(bg, withRef(spec(2, ""), ref))).To(Succeed())
		before, err := New(store).Instances(bg, ref)
		Expect(err).NotTo(HaveOccurred())
		restarted := New(&ConfigMapStore{Client: k8s})
		Expect(restarted.EnsureGroup(bg, withRef(spec(2, ""), ref))).To(Succeed())
		after, err := restarted.Instances(bg, ref)
		Expect(err).NotTo(HaveOccurred())
		Expect(after).To(HaveLen(2))
		Expect(after[0].ID).To(Equal(before[0].ID))
		Expect(after[1].ID).To(Equal(before[1].ID))
	})

	It("deletes the group's state, and deleting it twice is fine", func() {
		c := New(store)
		Expect(c.EnsureGroup(bg, withRef(spec(1, ""), ref))).To(Succeed())
		Expect(c.DeleteGroup(bg, ref)).To(Succeed())
		Expect(c.DeleteGroup(bg, ref)).To(Succeed())
		_, err := c.Instances(bg, ref)
		Expect(err).To(MatchError(cloud.ErrGroupNotFound))
	})

	It("reports a ConfigMap with broken state as an error, not as an empty group", func() {
		Expect(k8s.Create(bg, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ref.Namespace, Name: "sim-cloud-workers"},
			Data:       map[string]string{"state": "{not json"},
		})).To(Succeed())
		_, err := New(store).Instances(bg, ref)
		Expect(err).To(MatchError(ContainSubstring("holds no valid state")))
	})
})
