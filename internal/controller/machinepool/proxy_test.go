package machinepool_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/tools/clientcmd"
)

// tcpProxy forwards a local port to a target address; cut drops every connection and refuses new ones until
// restore.
type tcpProxy struct {
	addr, target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

func startProxy(target string) *tcpProxy {
	GinkgoHelper()
	p := &tcpProxy{target: target, conns: map[net.Conn]struct{}{}}
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	p.addr = ln.Addr().String()
	p.serve(ln)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
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

// cut stops listening and drops every open connection.
func (p *tcpProxy) cut() {
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

// restore listens on the same address again.
func (p *tcpProxy) restore() {
	GinkgoHelper()
	var ln net.Listener
	Eventually(func() (err error) {
		ln, err = (&net.ListenConfig{}).Listen(context.Background(), "tcp", p.addr)
		return err
	}).Should(Succeed())
	p.serve(ln)
}

func (p *tcpProxy) close() { p.cut() }

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
