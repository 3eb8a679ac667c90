package machinepool_test

import (
	"net/url"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/tools/clientcmd"
)

// workloadHost is host:port of the workload API server.
func workloadHost() string {
	GinkgoHelper()
	cfg, err := clientcmd.Load(workloadKubeconfig)
	Expect(err).NotTo(HaveOccurred())
	for _, c := range cfg.Clusters {
		u, err := url.Parse(c.Server)
		Expect(err).NotTo(HaveOccurred())
		return u.Host
	}
	Fail("the workload kubeconfig names no cluster")
	return ""
}

// kubeconfigVia is the workload kubeconfig with its server moved to addr (same TLS identity: 127.0.0.1).
func kubeconfigVia(addr string) []byte {
	GinkgoHelper()
	cfg, err := clientcmd.Load(workloadKubeconfig)
	Expect(err).NotTo(HaveOccurred())
	for _, c := range cfg.Clusters {
		c.Server = "https://" + addr
	}
	out, err := clientcmd.Write(*cfg)
	Expect(err).NotTo(HaveOccurred())
	return out
}
