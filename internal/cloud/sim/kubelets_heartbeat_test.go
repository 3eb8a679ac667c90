package sim

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
)

var _ = Describe("Simulated kubelets' heartbeats", func() {
	It("post the heartbeats of a group together: a group of 8 spread over the interval wakes at most 5 times per interval, and no Node's heartbeat is ever older than the interval", func() {
		const interval = 8 * time.Second
		w := newKubeletWorld(interval)
		t0 := w.clk.now()
		// One instance joins every second, so their heartbeats fall due one second apart.
		for i := range 8 {
			w.clk.t = t0.Add(time.Duration(i) * time.Second)
			w.ensure(int32(i+1), noFaults) //nolint:gosec // 8 at most
			w.sync()
		}
		Expect(w.ids()).To(HaveLen(8))
		now, wakes, writes := w.clk.now(), 0, 0
		after := w.at(now)
		for now.Before(t0.Add(7*time.Second + 3*interval)) {
			Expect(after).To(BeNumerically(">", 0), "a heartbeat is always due")
			now = now.Add(after)
			versions := map[string]string{}
			for _, id := range w.ids() {
				versions[id] = node(id).ResourceVersion
			}
			after = w.at(now)
			wakes++
			for _, id := range w.ids() {
				if node(id).ResourceVersion != versions[id] {
					writes++
				}
				Expect(now.Sub(ready(id).LastHeartbeatTime.Time)).To(BeNumerically("<=", interval), "Node %s at %s", id, now.Sub(t0))
			}
		}
		Expect(wakes).To(BeNumerically("<=", 3*5), "over three intervals (each instance alone would wake it 24 times)")
		Expect(writes).To(BeNumerically(">=", 3*8-8), "every Node still heartbeats about once per interval")
	})

	It("post nothing after registration when heartbeats are off, and still report a change of status", func() {
		w := newKubeletWorld(-1)
		t0 := w.clk.now()
		w.ensure(2, noFaults)
		Expect(w.sync()).To(BeZero(), "nothing is scheduled")
		ids := w.ids()
		Expect(ids).To(HaveLen(2))
		was := map[string]string{}
		for _, id := range ids {
			Expect(ready(id).Status).To(Equal(corev1.ConditionTrue))
			was[id] = node(id).ResourceVersion
		}
		Expect(w.at(t0.Add(time.Hour))).To(BeZero())
		for _, id := range ids {
			Expect(node(id).ResourceVersion).To(Equal(was[id]), "no heartbeat written for %s", id)
		}
		w.ensure(2, withFaults(`{"type": "NotReady", "instances": ["`+ids[0]+`"]}`))
		w.sync()
		Expect(ready(ids[0]).Status).To(Equal(corev1.ConditionFalse), "a change of status is still posted")
		Expect(node(ids[1]).ResourceVersion).To(Equal(was[ids[1]]))
	})
})
