// Package support holds what the suites that run our binaries as processes share: admin and ServiceAccount
// kubeconfigs for envtest control planes, free ports, and a TCP proxy that can cut a workload API server off. It
// is test code only.
package support

import (
	"context"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// AdminKubeconfig returns a kubeconfig of a system:masters user of the control plane.
func AdminKubeconfig(env *envtest.Environment) []byte {
	ginkgo.GinkgoHelper()
	admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	raw, err := admin.KubeConfig()
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	return raw
}

// WriteAdminKubeconfig writes AdminKubeconfig to path and returns path.
func WriteAdminKubeconfig(env *envtest.Environment, path string) string {
	ginkgo.GinkgoHelper()
	gomega.Expect(os.WriteFile(path, AdminKubeconfig(env), 0o600)).To(gomega.Succeed())
	return path
}

// ServiceAccountKubeconfig writes to path a kubeconfig that authenticates to the API server of cfg with a
// TokenRequest token of the ServiceAccount namespace/name, as a Pod running under it would, and returns path.
func ServiceAccountKubeconfig(cfg *rest.Config, namespace, name, path string) string {
	ginkgo.GinkgoHelper()
	cs, err := kubernetes.NewForConfig(cfg)
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(context.Background(), name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: name}
	kc.CurrentContext = name
	gomega.Expect(clientcmd.WriteToFile(*kc, path)).To(gomega.Succeed())
	return path
}

// FreePort returns a local TCP port nothing listens on right now.
func FreePort() int {
	ginkgo.GinkgoHelper()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// TCPProxy forwards a local port to a target address; Cut drops every connection and refuses new ones until
// Restore: what a client sees while an API server is down.
type TCPProxy struct {
	// Addr is the proxy's host:port.
	Addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

// KubeconfigHost is host:port of the (first) API server a kubeconfig names.
func KubeconfigHost(kubeconfig []byte) string {
	ginkgo.GinkgoHelper()
	cfg, err := clientcmd.Load(kubeconfig)
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	for _, c := range cfg.Clusters {
		u, err := url.Parse(c.Server)
		gomega.Expect(err).NotTo(gomega.HaveOccurred())
		return u.Host
	}
	ginkgo.Fail("the kubeconfig names no cluster")
	return ""
}

// KubeconfigVia is kubeconfig with its API server moved to addr (a proxy on 127.0.0.1 keeps the TLS identity).
func KubeconfigVia(kubeconfig []byte, addr string) []byte {
	ginkgo.GinkgoHelper()
	cfg, err := clientcmd.Load(kubeconfig)
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	for _, c := range cfg.Clusters {
		c.Server = "https://" + addr
	}
	out, err := clientcmd.Write(*cfg)
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	return out
}

// StartProxy listens on a free local port and forwards to target.
func StartProxy(target string) *TCPProxy {
	ginkgo.GinkgoHelper()
	p := &TCPProxy{target: target, conns: map[net.Conn]struct{}{}}
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	p.Addr = ln.Addr().String()
	p.serve(ln)
	return p
}

func (p *TCPProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := (&net.Dialer{}).DialContext(context.Background(), "tcp", p.target)
			if err != nil {
				_ = in.Close()
				continue
			}
			p.mu.Lock()
			p.conns[in], p.conns[out] = struct{}{}, struct{}{}
			p.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
			go func() { _, _ = io.Copy(in, out); _ = in.Close() }()
		}
	}()
}

// Cut stops listening and drops every open connection.
func (p *TCPProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}

// Restore listens on the same address again.
func (p *TCPProxy) Restore() {
	ginkgo.GinkgoHelper()
	var ln net.Listener
	gomega.Eventually(func() (err error) {
		ln, err = (&net.ListenConfig{}).Listen(context.Background(), "tcp", p.Addr)
		return err
	}).Should(gomega.Succeed())
	p.serve(ln)
}

// ConflictErrors returns the lines of a manager's log that report a write conflict ("the object has been
// modified") as a reconcile error; the controllers retry conflicts without one.
func ConflictErrors(log []byte) []string {
	var lines []string
	for line := range strings.SplitSeq(string(log), "\n") {
		if strings.Contains(line, "Reconciler error") && strings.Contains(line, "the object has been modified") {
			lines = append(lines, line)
		}
	}
	return lines
}
