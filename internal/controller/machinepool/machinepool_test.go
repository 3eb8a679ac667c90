package machinepool_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	corev1beta2 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta2"
)

var _ = Describe("MachinePool controller", func() {
	var e *env
	BeforeEach(func() { e = newEnv() })

	It("stores its finalizer before it writes any other object, in the pool's first write", func() {
		bootstrap := e.object(bootstrapGVK, "pool")
		readyBootstrap(bootstrap)
		e.object(infraGVK, "pool")
		p := e.pool("pool", 2)
		Expect(k8s.Create(ctx, p)).To(Succeed())
		Eventually(func() []string { return writes.writesIn(e.ns) }).Should(ContainElements(
			"GenericBootstrapConfig "+e.ns+"/pool", "GenericMachinePool "+e.ns+"/pool"), "both provider objects adopted")
		got := writes.writesIn(e.ns)
		Expect(got[0]).To(Equal("MachinePool with finalizer "+e.ns+"/pool"), "writes in order: %v", got)
		Expect(get(p).Spec.Template.Spec.Bootstrap.DataSecretName).To(Equal(ptr.To("pool-data")))
		spec, _ := writes.of(p)
		Expect(spec).To(Equal(1), "the data Secret name went into the same first write")
	})

	It("drives a pool from Pending to Running as the providers and kubelets report, with a truthful status", func() {
		bootstrap := e.object(bootstrapGVK, "pool")
		infra := e.object(infraGVK, "pool")
		p := e.pool("pool", 2)
		Expect(k8s.Create(ctx, p)).To(Succeed())

		By("waiting for the bootstrap data")
		Eventually(condition(p, corev1beta1.BootstrapReadyCondition)).Should(haveCondition(corev1.ConditionFalse, corev1beta1.WaitingForDataSecretReason))
		Expect(phase(p)()).To(Equal("Pending"))
		Expect(v1beta2Condition(p, corev1beta2.BootstrapConfigReadyCondition)()).To(And(HaveField("Status", metav1.ConditionFalse),
			HaveField("Reason", corev1beta1.WaitingForDataSecretReason), HaveField("Message", Not(BeEmpty()))), "the v1beta1 cause, in v1beta2")
		Expect(v1beta2Condition(p, corev1beta2.ScalingUpCondition)()).To(And(HaveField("Status", metav1.ConditionTrue),
			HaveField("Message", "scaling up from 0 to 2 replicas")))
		got := get(p)
		Expect(got.Finalizers).To(ContainElement(corev1beta1.MachinePoolFinalizer))
		Expect(got.Labels).To(HaveKeyWithValue(corev1beta1.ClusterNameLabel, e.cluster))
		Expect(got.OwnerReferences).To(ContainElement(And(HaveField("Kind", "Cluster"), HaveField("Name", e.cluster))))
		Expect(got.Status.Selector).To(Equal(corev1beta1.ClusterNameLabel + "=" + e.cluster + "," + corev1beta1.MachinePoolNameLabel + "=pool"))

		By("adopting the provider objects")
		for _, u := range []*unstructured.Unstructured{bootstrap, infra} {
			Eventually(func() []metav1.OwnerReference {
				Expect(k8s.Get(ctx, client.ObjectKeyFromObject(u), u)).To(Succeed())
				return u.GetOwnerReferences()
			}).Should(ContainElement(And(HaveField("Kind", "MachinePool"), HaveField("UID", got.UID), HaveField("Controller", ptr.To(true)))))
			Expect(u.GetLabels()).To(HaveKeyWithValue(corev1beta1.ClusterNameLabel, e.cluster))
		}

		By("copying the bootstrap data Secret's name")
		readyBootstrap(bootstrap)
		Eventually(phase(p)).Should(Equal("Provisioning"))
		got = get(p)
		Expect(got.Spec.Template.Spec.Bootstrap.DataSecretName).To(Equal(ptr.To("pool-data")))
		Expect(got.Status.BootstrapReady).To(BeTrue())
		Expect(got.Status.InfrastructureReady).To(BeFalse())

		By("copying the instances the infrastructure reports")
		ids := e.providerIDs("pool", 2)
		reportInstances(infra, ids)
		Eventually(phase(p)).Should(Equal("Provisioned"))
		got = get(p)
		Expect(got.Spec.ProviderIDList).To(ConsistOf(ids...))
		Expect(got.Status.Replicas).To(Equal(int32(2)))
		Expect(got.Status.InfrastructureReady).To(BeTrue())

		By("counting the Nodes that register")
		registered := registerNodes(ids)
		Eventually(phase(p)).Should(Equal("Running"))
		got = get(p)
		Expect(got.Status.ReadyReplicas).To(Equal(int32(2)))
		Expect(got.Status.AvailableReplicas).To(Equal(int32(2)))
		Expect(got.Status.UnavailableReplicas).To(Equal(int32(0)))
		Expect(got.Status.NodeRefs).To(HaveLen(2))
		Expect(got.Status.NodeRefs[0].Name).To(Equal(registered[0].Name), "nodeRefs follow providerIDList order")
		Expect(got.Status.NodeRefs[0].UID).To(Equal(registered[0].UID))
		Expect(got.Status.NodeRefs[1].Name).To(Equal(registered[1].Name))
		Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
		for _, t := range []corev1beta1.ConditionType{corev1beta1.ReadyCondition, corev1beta1.BootstrapReadyCondition,
			corev1beta1.InfrastructureReadyCondition, corev1beta1.ReplicasReadyCondition} {
			Expect(condition(p, t)()).To(HaveField("Status", corev1.ConditionTrue), string(t))
		}

		By("saying the same in v1beta2: counts, and conditions a v1beta2 reader acts on")
		v2 := &corev1beta2.MachinePool{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), v2)).To(Succeed())
		Expect(v2.Status.ReadyReplicas).To(HaveValue(BeEquivalentTo(2)))
		Expect(v2.Status.AvailableReplicas).To(HaveValue(BeEquivalentTo(2)))
		Expect(v2.Status.Deprecated.V1Beta1.Conditions).To(HaveLen(len(got.Status.Conditions)), "v1beta1 conditions under deprecated")
		want := map[string]metav1.ConditionStatus{corev1beta2.AvailableCondition: metav1.ConditionTrue,
			corev1beta2.BootstrapConfigReadyCondition: metav1.ConditionTrue, corev1beta2.InfrastructureReadyCondition: metav1.ConditionTrue,
			corev1beta2.MachinesReadyCondition: metav1.ConditionTrue, corev1beta2.ScalingUpCondition: metav1.ConditionFalse,
			corev1beta2.ScalingDownCondition: metav1.ConditionFalse, corev1beta2.DeletingCondition: metav1.ConditionFalse,
			corev1beta2.PausedCondition: metav1.ConditionFalse}
		for t, status := range want {
			c := apimeta.FindStatusCondition(v2.Status.Conditions, t)
			Expect(c).NotTo(BeNil(), t)
			Expect(c.Status).To(Equal(status), t)
			Expect(c.ObservedGeneration).To(Equal(v2.Generation), t)
		}
	})

	It("follows scale up and scale down", func() {
		p, infra := e.running("scaled", 1)

		By("scaling up through the scale subresource, as kubectl scale does")
		Expect(k8s.SubResource("scale").Update(ctx, p, client.WithSubResourceBody(&autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 3}}))).To(Succeed())
		Eventually(phase(p)).Should(Equal("ScalingUp"))
		Expect(condition(p, corev1beta1.ReplicasReadyCondition)()).To(haveCondition(corev1.ConditionFalse, corev1beta1.ScalingUpReason))
		Expect(v1beta2Condition(p, corev1beta2.ScalingUpCondition)()).To(And(HaveField("Status", metav1.ConditionTrue),
			HaveField("Message", "scaling up from 1 to 3 replicas")))
		Expect(v1beta2Condition(p, corev1beta2.AvailableCondition)()).To(And(HaveField("Status", metav1.ConditionFalse),
			HaveField("Message", "1 of 3 replicas available (Ready for minReadySeconds)")))
		Expect(get(p).Status.UnavailableReplicas).To(Equal(int32(2)))
		ids := e.providerIDs("scaled", 3)
		reportInstances(infra, ids)
		registerNodes(ids[1:])
		Eventually(phase(p)).Should(Equal("Running"))
		Expect(get(p).Status.ReadyReplicas).To(Equal(int32(3)))

		By("scaling down")
		update(p, func(p *corev1beta1.MachinePool) { p.Spec.Replicas = ptr.To[int32](1) })
		Eventually(phase(p)).Should(Equal("ScalingDown"))
		reportInstances(infra, ids[:1])
		Eventually(phase(p)).Should(Equal("Running"))
		got := get(p)
		Expect(got.Spec.ProviderIDList).To(Equal([]string{ids[0].(string)}))
		Expect(got.Status.NodeRefs).To(HaveLen(1))
		Expect(got.Status.ReadyReplicas).To(Equal(int32(1)))
	})

	It("writes a provider's report of new instances with one spec and one status patch of the pool", func() {
		p, infra := e.running("frugal", 1)
		Expect(k8s.SubResource("scale").Update(ctx, p, client.WithSubResourceBody(&autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 3}}))).To(Succeed())
		Eventually(phase(p)).Should(Equal("ScalingUp"))
		Eventually(func() int64 { return get(p).Status.ObservedGeneration }).Should(Equal(get(p).Generation))
		ids := e.providerIDs("frugal", 3)
		registerNodes(ids[1:]) // Nodes register before the provider reports their instances
		spec0, status0 := writes.of(p)
		Consistently(func() []int {
			spec, status := writes.of(p)
			return []int{spec, status}
		}, time.Second, 100*time.Millisecond).Should(Equal([]int{spec0, status0}), "Nodes that no pool names yet cost the pool no write")

		// The provider writes providerIDList, then replicas and readiness: two events, one reconcile.
		reportInstances(infra, ids)
		Eventually(phase(p)).Should(Equal("Running"))
		got := get(p)
		Expect(got.Status.ObservedGeneration).To(Equal(got.Generation), "the pool's own providerIDList write needs no second status write")
		Expect(got.Status.Replicas).To(Equal(int32(3)))
		// Adopting the two new Nodes brings their update events; they change nothing in the pool's status.
		Consistently(func() []int {
			spec, status := writes.of(p)
			return []int{spec - spec0, status - status0}
		}, 2*time.Second, 100*time.Millisecond).Should(Equal([]int{1, 1}), "spec and status patches of the pool")
	})

	It("uses a dataSecretName set without a bootstrap configRef as it is", func() {
		infra := e.object(infraGVK, "no-config")
		p := e.pool("no-config", 1)
		p.Spec.Template.Spec.Bootstrap = corev1beta1.Bootstrap{DataSecretName: ptr.To("handmade")}
		Expect(k8s.Create(ctx, p)).To(Succeed())
		Eventually(condition(p, corev1beta1.BootstrapReadyCondition)).Should(HaveField("Status", corev1.ConditionTrue))
		Eventually(phase(p)).Should(Equal("Provisioning"))
		reportInstances(infra, e.providerIDs("no-config", 1))
		Eventually(phase(p)).Should(Equal("Provisioned"))
		Expect(get(p).Spec.Template.Spec.Bootstrap.DataSecretName).To(Equal(ptr.To("handmade")))
	})

	It("says so and waits, without crashing, while the infrastructure object is missing", func() {
		readyBootstrap(e.object(bootstrapGVK, "late"))
		p := e.pool("late", 1)
		Expect(k8s.Create(ctx, p)).To(Succeed())
		Eventually(condition(p, corev1beta1.InfrastructureReadyCondition)).Should(And(
			haveCondition(corev1.ConditionFalse, corev1beta1.InfrastructureNotFoundReason),
			HaveField("Severity", corev1beta1.ConditionSeverityWarning),
			HaveField("Message", ContainSubstring("GenericMachinePool "+e.ns+"/late does not exist"))))
		Expect(phase(p)()).To(Equal("Provisioning"))
		Eventually(func() []string {
			list := &eventsv1.EventList{}
			Expect(k8s.List(ctx, list, client.InNamespace(e.ns))).To(Succeed())
			var reasons []string
			for _, ev := range list.Items {
				reasons = append(reasons, ev.Reason)
			}
			return reasons
		}).Should(ContainElement(corev1beta1.InfrastructureNotFoundReason))

		By("picking the object up when it appears, through the watch")
		infra := e.object(infraGVK, "late")
		reportInstances(infra, e.providerIDs("late", 1))
		Eventually(phase(p)).Should(Equal("Provisioned"))
	})

	DescribeTable("surfaces an infrastructure failure even when only half of the pair is set",
		func(fields map[string]any, reason, message *string) {
			p, infra := e.running("failing", 1)
			setStatus(infra, fields)
			Eventually(phase(p)).Should(Equal("Failed"))
			got := get(p)
			if reason != nil {
				Expect(got.Status.FailureReason).To(Equal(ptr.To(corev1beta1.MachinePoolStatusFailure(*reason))))
			} else {
				Expect(got.Status.FailureReason).To(BeNil())
			}
			Expect(got.Status.FailureMessage).To(Equal(message))
			Expect(condition(p, corev1beta1.InfrastructureReadyCondition)()).To(And(
				haveCondition(corev1.ConditionFalse, corev1beta1.InfrastructureFailedReason),
				HaveField("Severity", corev1beta1.ConditionSeverityError)))
			Expect(condition(p, corev1beta1.ReadyCondition)()).To(haveCondition(corev1.ConditionFalse, corev1beta1.InfrastructureFailedReason))
		},
		Entry("failureReason alone", map[string]any{"failureReason": "OutOfQuota"}, ptr.To("OutOfQuota"), nil),
		Entry("failureMessage alone", map[string]any{"failureMessage": "the group was deleted"}, nil, ptr.To("the group was deleted")),
		Entry("both", map[string]any{"failureReason": "OutOfQuota", "failureMessage": "no vCPU left"}, ptr.To("OutOfQuota"), ptr.To("no vCPU left")),
	)

	It("surfaces a bootstrap failure", func() {
		bootstrap := e.object(bootstrapGVK, "bad-bootstrap")
		e.object(infraGVK, "bad-bootstrap")
		p := e.pool("bad-bootstrap", 1)
		Expect(k8s.Create(ctx, p)).To(Succeed())
		setStatus(bootstrap, map[string]any{"failureMessage": "no join token"})
		Eventually(phase(p)).Should(Equal("Failed"))
		Expect(condition(p, corev1beta1.BootstrapReadyCondition)()).To(haveCondition(corev1.ConditionFalse, corev1beta1.BootstrapFailedReason))
		Expect(get(p).Status.FailureMessage).To(Equal(ptr.To("no join token")))
	})

	It("treats a provider field of the wrong type as a condition, not a crash", func() {
		p, infra := e.running("garbled", 1)
		setStatus(infra, map[string]any{"replicas": "three"})
		Eventually(condition(p, corev1beta1.InfrastructureReadyCondition)).Should(And(
			haveCondition(corev1.ConditionFalse, corev1beta1.InvalidProviderDataReason),
			HaveField("Message", ContainSubstring("status.replicas must be an integer"))))
	})

	It("says so in a condition when the provider keeps per-instance objects but Cluster API's Machine CRD is not served", func() {
		p, infra := e.running("machineless", 1)
		Expect(condition(p, corev1beta1.MachinesCreatedCondition)()).To(HaveField("Type", BeEmpty()), "no such condition for providers without infra machines")
		setStatus(infra, map[string]any{"infrastructureMachineKind": "GenericMachinePoolMachine"})
		Eventually(condition(p, corev1beta1.MachinesCreatedCondition)).Should(And(
			haveCondition(corev1.ConditionFalse, corev1beta1.MachineCRDNotServedReason),
			HaveField("Message", ContainSubstring("cluster-autoscaler"))))
		Expect(phase(p)()).To(Equal("Running"), "not part of Ready")
	})

	It("changes nothing on a paused pool but a Paused condition, and resumes when unpaused", func() {
		readyBootstrap(e.object(bootstrapGVK, "paused"))
		infra := e.object(infraGVK, "paused")
		p := e.pool("paused", 1)
		p.Annotations = map[string]string{corev1beta1.PausedAnnotation: ""}
		Expect(k8s.Create(ctx, p)).To(Succeed())
		reportInstances(infra, e.providerIDs("paused", 1))

		Eventually(condition(p, corev1beta1.PausedCondition)).Should(haveCondition(corev1.ConditionTrue, corev1beta1.PausedReason))
		Consistently(func() *corev1beta1.MachinePool { return get(p) }).WithTimeout(2 * time.Second).Should(And(
			HaveField("Finalizers", BeEmpty()),
			HaveField("Spec.ProviderIDList", BeEmpty()),
			HaveField("Spec.Template.Spec.Bootstrap.DataSecretName", BeNil()),
			HaveField("Status.Phase", BeEmpty())))
		Expect(get(p).Status.ObservedGeneration).To(Equal(get(p).Generation))
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(infra), infra)).To(Succeed())
		Expect(infra.GetOwnerReferences()).To(BeEmpty(), "nothing is adopted while paused")

		update(p, func(p *corev1beta1.MachinePool) { delete(p.Annotations, corev1beta1.PausedAnnotation) })
		Eventually(phase(p)).Should(Equal("Provisioned"))
		Expect(condition(p, corev1beta1.PausedCondition)()).To(HaveField("Type", BeEmpty()), "the Paused condition goes when the pause ends")
	})

	It("changes nothing while the Cluster is paused", func() {
		p, infra := e.running("cluster-paused", 1)
		cluster := &unstructured.Unstructured{}
		cluster.SetGroupVersionKind(clusterGVK)
		cluster.SetNamespace(e.ns)
		cluster.SetName(e.cluster)
		setSpec(cluster, map[string]any{"paused": true})
		Eventually(condition(p, corev1beta1.PausedCondition)).Should(And(
			haveCondition(corev1.ConditionTrue, corev1beta1.PausedReason),
			HaveField("Message", ContainSubstring("spec.paused"))))

		reportInstances(infra, e.providerIDs("cluster-paused", 2))
		Consistently(func() []string { return get(p).Spec.ProviderIDList }).WithTimeout(2 * time.Second).Should(HaveLen(1))

		setSpec(cluster, map[string]any{"paused": false})
		Eventually(func() []string { return get(p).Spec.ProviderIDList }).Should(HaveLen(2))
	})

	It("never overrides replicas owned by an external autoscaler, and shows Scaling while they differ", func() {
		p, infra := e.running("autoscaled", 1)
		update(p, func(p *corev1beta1.MachinePool) {
			p.Annotations = map[string]string{corev1beta1.ReplicasManagedByAnnotation: "cluster-autoscaler"}
			p.Spec.Replicas = ptr.To[int32](3)
		})
		Eventually(phase(p)).Should(Equal("Scaling"))
		Consistently(func() *int32 { return get(p).Spec.Replicas }).WithTimeout(time.Second).Should(Equal(ptr.To[int32](3)))

		update(p, func(p *corev1beta1.MachinePool) { p.Annotations[corev1beta1.ReplicasManagedByAnnotation] = "false" })
		Eventually(phase(p)).Should(Equal("ScalingUp"), `"false" means the pool manages its replicas`)

		ids := e.providerIDs("autoscaled", 3)
		reportInstances(infra, ids)
		registerNodes(ids[1:])
		Eventually(phase(p)).Should(Equal("Running"))
	})

	It("moves a reference to the API version the provider's contract label names", func() {
		readyBootstrap(e.object(bootstrapGVK, "old-ref"))
		e.object(infraGVK, "old-ref")
		p := e.pool("old-ref", 1)
		p.Spec.Template.Spec.InfrastructureRef.APIVersion = "infrastructure.cluster.x-k8s.io/v1alpha4"
		Expect(k8s.Create(ctx, p)).To(Succeed())
		Eventually(func() string { return get(p).Spec.Template.Spec.InfrastructureRef.APIVersion }).
			Should(Equal("infrastructure.cluster.x-k8s.io/v1beta1"))
	})

	It("says which reference's kind no CRD serves when a v1beta2 pool cannot be worked on, and picks it up once fixed", func() {
		readyBootstrap(e.object(bootstrapGVK, "unserved"))
		infra := e.object(infraGVK, "unserved")
		v2 := &corev1beta2.MachinePool{
			ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "unserved"},
			Spec: corev1beta2.MachinePoolSpec{ClusterName: e.cluster, Replicas: ptr.To[int32](1),
				Template: corev1beta2.MachineTemplateSpec{Spec: corev1beta2.MachineSpec{ClusterName: e.cluster,
					Bootstrap: corev1beta2.Bootstrap{ConfigRef: corev1beta2.ContractVersionedObjectReference{
						APIGroup: bootstrapGVK.Group, Kind: bootstrapGVK.Kind, Name: "unserved"}},
					InfrastructureRef: corev1beta2.ContractVersionedObjectReference{
						APIGroup: "infrastructure.example.com", Kind: "NoSuchMachinePool", Name: "unserved"},
				}}},
		}
		Expect(k8s.Create(ctx, v2)).To(Succeed())
		p := &corev1beta1.MachinePool{ObjectMeta: v2.ObjectMeta}
		kindNotServed := And(HaveField("Status", metav1.ConditionFalse), HaveField("Reason", corev1beta1.KindNotServedReason),
			HaveField("Message", And(ContainSubstring("NoSuchMachinePool.infrastructure.example.com"), ContainSubstring("install the provider"))))
		Eventually(v1beta2Condition(p, corev1beta2.InfrastructureReadyCondition)).Should(kindNotServed)
		Expect(v1beta2Condition(p, corev1beta2.AvailableCondition)()).To(kindNotServed)
		Expect(v1beta2Condition(p, corev1beta2.BootstrapConfigReadyCondition)()).To(HaveField("Type", BeEmpty()), "the bootstrap kind is served")
		stored := &corev1beta2.MachinePool{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(v2), stored)).To(Succeed())
		Expect(stored.Status.Deprecated.V1Beta1.Conditions).To(ContainElement(And(HaveField("Type", string(corev1beta1.ReadyCondition)),
			HaveField("Reason", corev1beta1.KindNotServedReason), HaveField("Severity", string(corev1beta1.ConditionSeverityError)))))
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(v2), &corev1beta1.MachinePool{})).To(MatchError(ContainSubstring("NoSuchMachinePool")),
			"v1beta1 readers get the conversion's error")

		By("fixing the reference")
		stored.Spec.Template.Spec.InfrastructureRef = corev1beta2.ContractVersionedObjectReference{APIGroup: infraGVK.Group, Kind: infraGVK.Kind, Name: "unserved"}
		Expect(k8s.Update(ctx, stored)).To(Succeed())
		reportInstances(infra, e.providerIDs("unserved", 1))
		Eventually(phase(p)).Should(Equal("Provisioned"))
		Expect(v1beta2Condition(p, corev1beta2.InfrastructureReadyCondition)()).To(HaveField("Status", metav1.ConditionTrue))
	})

	It("reports upToDateReplicas and MachinesUpToDate from the infrastructure pool's status.upToDateReplicas, Unknown where it reports none", func() {
		p, infra := e.running("uptodate", 3)
		Eventually(v1beta2Condition(p, corev1beta2.MachinesUpToDateCondition)).Should(And(HaveField("Status", metav1.ConditionUnknown),
			HaveField("Reason", corev1beta2.UpToDateUnknownReason), HaveField("Message", ContainSubstring("GenericMachinePool does not report status.upToDateReplicas"))))
		v2 := func() *corev1beta2.MachinePool {
			got := &corev1beta2.MachinePool{}
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), got)).To(Succeed())
			return got
		}
		Expect(v2().Status.UpToDateReplicas).To(BeNil())

		By("a provider reporting one of three instances outdated")
		setStatus(infra, map[string]any{"upToDateReplicas": int64(2)})
		Eventually(v1beta2Condition(p, corev1beta2.MachinesUpToDateCondition)).Should(And(HaveField("Status", metav1.ConditionFalse),
			HaveField("Reason", corev1beta2.NotUpToDateReason), HaveField("Message", HavePrefix("1 of 3 instances run an outdated spec"))))
		Expect(v2().Status.UpToDateReplicas).To(Equal(ptr.To[int32](2)))

		By("the rollout done")
		setStatus(infra, map[string]any{"upToDateReplicas": int64(3)})
		Eventually(v1beta2Condition(p, corev1beta2.MachinesUpToDateCondition)).Should(And(HaveField("Status", metav1.ConditionTrue),
			HaveField("Reason", corev1beta2.UpToDateReason)))
		Expect(v2().Status.UpToDateReplicas).To(Equal(ptr.To[int32](3)))
	})

	It("waits for its Cluster to exist and report its infrastructure ready", func() {
		other := "absent"
		readyBootstrap(e.object(bootstrapGVK, "orphan"))
		p := e.pool("orphan", 1)
		p.Spec.ClusterName, p.Spec.Template.Spec.ClusterName = other, other
		Expect(k8s.Create(ctx, p)).To(Succeed())
		Eventually(condition(p, corev1beta1.ReadyCondition)).Should(haveCondition(corev1.ConditionFalse, corev1beta1.WaitingForClusterReason))
		Expect(phase(p)()).To(Equal("Pending"))

		waiting := &env{ns: e.ns, cluster: other}
		cluster := waiting.createCluster(false)
		Consistently(phase(p)).WithTimeout(time.Second).Should(Equal("Pending"))
		setStatus(cluster, map[string]any{"infrastructureReady": true})
		Eventually(condition(p, corev1beta1.BootstrapReadyCondition)).Should(HaveField("Status", corev1.ConditionTrue))
	})

	It("counts a Node as available only after minReadySeconds", func() {
		bootstrap := e.object(bootstrapGVK, "slow")
		infra := e.object(infraGVK, "slow")
		p := e.pool("slow", 1)
		p.Spec.MinReadySeconds = ptr.To[int32](6)
		Expect(k8s.Create(ctx, p)).To(Succeed())
		readyBootstrap(bootstrap)
		ids := e.providerIDs("slow", 1)
		reportInstances(infra, ids)
		registered := registerNodes(ids)
		readyAt := registered[0].Status.Conditions[0].LastTransitionTime.Time
		Eventually(func() int32 { return get(p).Status.ReadyReplicas }).Should(Equal(int32(1)))
		if time.Since(readyAt) < 5*time.Second { // the controller saw the Node well within minReadySeconds
			Expect(get(p).Status.AvailableReplicas).To(Equal(int32(0)))
		}
		// No event arrives when the time is up: only the controller's timed requeue can count it.
		Eventually(func() int32 { return get(p).Status.AvailableReplicas }).WithTimeout(20 * time.Second).Should(Equal(int32(1)))
		Expect(time.Since(readyAt)).To(BeNumerically(">=", 6*time.Second))
	})

	It("deletes the bootstrap config, the infrastructure pool and the Nodes, then lets the pool go", func() {
		p, infra := e.running("doomed", 2)
		nodeNames := []string{}
		for _, ref := range get(p).Status.NodeRefs {
			nodeNames = append(nodeNames, ref.Name)
		}
		Expect(nodeNames).To(HaveLen(2))
		bootstrap := &unstructured.Unstructured{}
		bootstrap.SetGroupVersionKind(bootstrapGVK)
		bootstrap.SetNamespace(e.ns)
		bootstrap.SetName("doomed")

		Expect(k8s.Delete(ctx, p)).To(Succeed())
		for _, u := range []*unstructured.Unstructured{infra, bootstrap} {
			Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(u), u)) }).Should(BeTrue())
		}
		Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(p), p)) }).Should(BeTrue())
		for _, name := range nodeNames {
			Expect(apierrors.IsNotFound(nodes.Get(ctx, client.ObjectKey{Name: name}, &corev1.Node{}))).To(BeTrue(), name)
		}
	})

	It("keeps the pool's providerIDList while the provider has not reported one, and takes an empty one as zero instances", func() {
		p, infra := e.running("absent-list", 1)
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(infra), infra)).To(Succeed())
		unstructured.RemoveNestedField(infra.Object, "spec", "providerIDList")
		Expect(k8s.Update(ctx, infra)).To(Succeed())
		Consistently(func() []string { return get(p).Spec.ProviderIDList }).WithTimeout(2 * time.Second).Should(HaveLen(1))

		update(p, func(p *corev1beta1.MachinePool) { p.Spec.Replicas = ptr.To[int32](0) })
		reportInstances(infra, []any{})
		// The pool was Running before the report: wait for the report itself, then check the phase.
		Eventually(func() []string { return get(p).Spec.ProviderIDList }).Should(BeEmpty())
		Eventually(func() []corev1.ObjectReference { return get(p).Status.NodeRefs }).Should(BeEmpty())
		Expect(phase(p)()).To(Equal("Running"))
		got := get(p)
		Expect(got.Status.ReadyReplicas).To(Equal(int32(0)))
	})

	It("waits for the workload cluster's kubeconfig Secret, then counts Nodes", func() {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: e.cluster + "-kubeconfig"}}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(secret), secret)).To(Succeed())
		Expect(k8s.Delete(ctx, secret)).To(Succeed())

		bootstrap := e.object(bootstrapGVK, "no-kubeconfig")
		infra := e.object(infraGVK, "no-kubeconfig")
		p := e.pool("no-kubeconfig", 1)
		Expect(k8s.Create(ctx, p)).To(Succeed())
		readyBootstrap(bootstrap)
		ids := e.providerIDs("no-kubeconfig", 1)
		reportInstances(infra, ids)
		registerNodes(ids)
		Eventually(condition(p, corev1beta1.ReplicasReadyCondition)).Should(haveCondition(corev1.ConditionFalse, corev1beta1.WaitingForKubeconfigReason))

		secret = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: e.cluster + "-kubeconfig"},
			Data:       map[string][]byte{"value": workloadKubeconfig},
		}
		Expect(k8s.Create(ctx, secret)).To(Succeed())
		Eventually(phase(p)).Should(Equal("Running"))
	})

	It("deletes a pool whose references never existed", func() {
		p := e.pool("never", 1)
		Expect(k8s.Create(ctx, p)).To(Succeed())
		Eventually(func() []string { return get(p).Finalizers }).Should(ContainElement(corev1beta1.MachinePoolFinalizer))
		Expect(k8s.Delete(ctx, p)).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(p), p)) }).Should(BeTrue())
	})
})
