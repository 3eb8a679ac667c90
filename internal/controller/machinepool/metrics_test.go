package machinepool_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// gauge returns the value of the metric series whose labels include all of want, or -1.
func gauge(name string, want map[string]string) float64 {
	GinkgoHelper()
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue series
				}
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

var _ = Describe("MachinePool metrics", func() {
	It("publishes each pool's replicas and its workload cluster's health, and forgets a deleted pool", func() {
		e := newEnv()
		p, _ := e.running("measured", 2)
		series := func(kind string) func() float64 {
			return func() float64 {
				return gauge("machinepool_replicas", map[string]string{"namespace": e.ns, "name": "measured", "kind": kind})
			}
		}
		for _, kind := range []string{"desired", "current", "ready", "available"} {
			Eventually(series(kind)).Should(Equal(2.0), kind)
		}
		Expect(gauge("machinepool_workload_cluster_up", map[string]string{"namespace": e.ns, "cluster": e.cluster})).To(Equal(1.0))

		Expect(k8s.Delete(ctx, p)).To(Succeed())
		Eventually(series("desired")).Should(Equal(-1.0))
	})
})
