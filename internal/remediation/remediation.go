// Package remediation does what a MachineHealthCheck asks of a MachinePool: it deletes the pool's Machines
// marked OwnerRemediated=False, a few at a time, and marks them OwnerRemediated=True. The Machine controller then
// drains the Node and deletes the infra machine, whose provider terminates the instance; the pool's replicas do
// not change, so the provider launches a replacement. The core machinepool controller calls it for its pools;
// the Sim provider calls it for its own where Cluster API core's MachinePool controller (which does not
// remediate) owns MachinePools.
//
// It imports Kubernetes libraries, controller-runtime, internal/capi, internal/conditions, internal/patch and
// internal/metrics.
package remediation

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1beta1 "github.com/machinepool-operator/machinepool-operator/api/core/v1beta1"
	"github.com/machinepool-operator/machinepool-operator/internal/capi"
	"github.com/machinepool-operator/machinepool-operator/internal/conditions"
	mpmetrics "github.com/machinepool-operator/machinepool-operator/internal/metrics"
	"github.com/machinepool-operator/machinepool-operator/internal/patch"
)

// Reasons of the pool's Remediating condition and events.
const (
	// RemediatingReason: some of the pool's Machines are being replaced because a health check found them
	// unhealthy.
	RemediatingReason = "Remediating"
	// NotRemediatingReason: no Machine of the pool waits for or is in remediation.
	NotRemediatingReason = "NotRemediating"
	// RemediationHeldReason: Machines wait for remediation that cannot start yet (see the message).
	RemediationHeldReason = "RemediationHeld"
	// MachineRemediatedReason is the event of one remediation.
	MachineRemediatedReason = "MachineRemediated"
)

// Pool is the MachinePool whose Machines are remediated.
type Pool struct {
	Namespace, Name string
	// Budget is how many of its Machines may be going away at once (Budget).
	Budget int
	// Hold, when set, says why no remediation may start now (the workload cluster cannot be reached: its
	// Nodes could not be drained, and what the health check saw may be stale).
	Hold string
}

// Started is one remediation: a Machine deleted because a health check marked it.
type Started struct {
	Machine string
	// Why is the health check's verdict (HealthCheckSucceeded's reason and message).
	Why string
}

// Result says what a pass did and what is left.
type Result struct {
	// Started are the Machines deleted in this pass.
	Started []Started
	// Remediating are the pool's Machines being deleted for remediation (OwnerRemediated=True), this pass's
	// included.
	Remediating []Started
	// InFlight are all of the pool's Machines being deleted (remediated or scaled in), after this pass.
	InFlight []string
	// Waiting are the Machines marked for remediation that are not deleted yet (budget or hold).
	Waiting []string
}

// Condition is the pool's remediation condition for a result: active while Machines wait for or are in
// remediation, with a reason and a message that names them.
func (r Result) Condition(p Pool) (active bool, reason, message string) {
	if len(r.Waiting) == 0 && len(r.Remediating) == 0 {
		return false, NotRemediatingReason, ""
	}
	var parts []string
	if len(r.Remediating) > 0 {
		names := make([]string, 0, len(r.Remediating))
		for _, s := range r.Remediating {
			names = append(names, s.Machine+" ("+s.Why+")")
		}
		parts = append(parts, fmt.Sprintf("replacing %d unhealthy Machines: %s", len(r.Remediating), strings.Join(names, "; ")))
	}
	if len(r.Waiting) > 0 && p.Hold != "" {
		parts = append(parts, fmt.Sprintf("%d wait (%s), held while %s", len(r.Waiting), strings.Join(r.Waiting, ", "), p.Hold))
		return true, RemediationHeldReason, strings.Join(parts, "; ")
	}
	if len(r.Waiting) > 0 {
		parts = append(parts, fmt.Sprintf("%d wait (%s): at most %d of the pool's Machines go at once, and %d are going",
			len(r.Waiting), strings.Join(r.Waiting, ", "), max(p.Budget, 1), len(r.InFlight)))
	}
	return true, RemediatingReason, strings.Join(parts, "; ")
}

// MarkMachinesHealthy sets the v1beta1 MachinesHealthy condition of the object that remediates (the pool, or
// the infrastructure pool next to Cluster API core) from a result: False, Warning, while Machines wait for or are
// in remediation.
func (r Result) MarkMachinesHealthy(list *corev1beta1.Conditions, p Pool) {
	if active, reason, message := r.Condition(p); active {
		conditions.MarkFalse(list, corev1beta1.MachinesHealthyCondition, reason, corev1beta1.ConditionSeverityWarning, "%s", message)
	} else {
		conditions.MarkTrue(list, corev1beta1.MachinesHealthyCondition)
	}
}

// Machines remediates the pool's Machines: those marked OwnerRemediated=False and not yet deleting are deleted,
// longest-waiting first, while fewer than the budget of the pool's Machines are going away (a Machine being
// deleted for any reason counts). Each deleted Machine is marked OwnerRemediated=True, as Cluster API's
// MachineSet does. An unhealthy Machine is already unavailable, so deleting it never lowers what is available;
// the budget only bounds how much replacement is under way at once.
func Machines(ctx context.Context, c client.Client, p Pool, machines []capi.Machine) (Result, error) {
	var res Result
	var candidates []*capi.Machine
	for i := range machines {
		m := &machines[i]
		switch {
		case !m.DeletionTimestamp.IsZero():
			res.InFlight = append(res.InFlight, m.Name)
			if conditions.IsTrue(m.Status.Conditions, capi.OwnerRemediatedCondition) {
				res.Remediating = append(res.Remediating, Started{Machine: m.Name, Why: why(m)})
			}
		case Marked(m):
			candidates = append(candidates, m)
		}
	}
	slices.SortFunc(candidates, func(a, b *capi.Machine) int {
		ta := conditions.Get(a.Status.Conditions, capi.OwnerRemediatedCondition).LastTransitionTime
		tb := conditions.Get(b.Status.Conditions, capi.OwnerRemediatedCondition).LastTransitionTime
		if c := ta.Compare(tb.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	for _, m := range candidates {
		if p.Hold != "" || len(res.InFlight) >= max(p.Budget, 1) {
			res.Waiting = append(res.Waiting, m.Name)
			continue
		}
		if err := c.Delete(ctx, m, client.Preconditions{UID: &m.UID}); err != nil {
			if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
				continue // gone, or replaced by another of the same name: nothing to remediate
			}
			return res, fmt.Errorf("deleting Machine %s for remediation: %w", m.Name, err)
		}
		original := m.DeepCopy()
		conditions.MarkTrue(&m.Status.Conditions, capi.OwnerRemediatedCondition)
		if err := patch.Apply(ctx, c, original, m, patch.OwnedConditions(string(capi.OwnerRemediatedCondition))); err != nil {
			return res, err
		}
		mpmetrics.Remediations.WithLabelValues(p.Namespace, p.Name).Inc()
		started := Started{Machine: m.Name, Why: why(original)}
		res.Started = append(res.Started, started)
		res.Remediating = append(res.Remediating, started)
		res.InFlight = append(res.InFlight, m.Name)
	}
	return res, nil
}

// why is the health check's verdict on a Machine.
func why(m *capi.Machine) string {
	c := conditions.Get(m.Status.Conditions, capi.HealthCheckSucceededCondition)
	if c == nil || c.Status != corev1.ConditionFalse {
		return "marked for remediation"
	}
	if c.Message == "" {
		return c.Reason
	}
	return c.Reason + ": " + c.Message
}

// Event is the note of a started remediation, for the pool's event.
func (s Started) Event() string {
	return fmt.Sprintf("deleting Machine %s to replace its instance: %s", s.Machine, s.Why)
}

// Budget is how many of a pool's Machines may be going away at once, from the infrastructure pool's rollout
// bounds where providers keep them: spec.strategy.rollingUpdate.{maxSurge,maxUnavailable} (the Sim's and
// Cluster API Provider Azure's shape) or spec.strategy.{...}. See BudgetOf; without either bound: 1.
func Budget(infra *unstructured.Unstructured, replicas int32) int {
	if infra == nil {
		return 1
	}
	read := func(field string) *intstr.IntOrString {
		for _, path := range [][]string{{"spec", "strategy", field}, {"spec", "strategy", "rollingUpdate", field}} {
			switch v, _, _ := unstructured.NestedFieldNoCopy(infra.Object, path...); t := v.(type) {
			case int64:
				ios := intstr.FromInt32(int32(t)) //nolint:gosec // a rollout bound
				return &ios
			case string:
				ios := intstr.FromString(t)
				return &ios
			}
		}
		return nil
	}
	return BudgetOf(read("maxSurge"), read("maxUnavailable"), replicas)
}

// BudgetOf is maxSurge plus maxUnavailable, as integers or percentages of replicas (surge rounded up,
// unavailable down, as Deployments do), and at least 1: an unhealthy instance is already unavailable, so a
// pool with maxUnavailable 0 is still repaired, one replacement at a time.
func BudgetOf(maxSurge, maxUnavailable *intstr.IntOrString, replicas int32) int {
	scaled := func(v *intstr.IntOrString, roundUp bool) int {
		if v == nil {
			return 0
		}
		n, err := intstr.GetScaledValueFromIntOrPercent(v, int(replicas), roundUp)
		if err != nil {
			return 0
		}
		return max(n, 0)
	}
	return max(scaled(maxSurge, true)+scaled(maxUnavailable, false), 1)
}

// Marked says whether a Machine waits for its owner to remediate it.
func Marked(m *capi.Machine) bool {
	c := conditions.Get(m.Status.Conditions, capi.OwnerRemediatedCondition)
	return c != nil && c.Status == corev1.ConditionFalse && m.DeletionTimestamp.IsZero()
}
