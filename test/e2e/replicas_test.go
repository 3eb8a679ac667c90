//go:build e2e

package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Leader election as the HA specs run it: short enough for a test, in the proportions of the defaults (15s, 10s,
// 2s). A candidate retries every retryPeriod stretched by up to client-go's JitterFactor, so it sees a free Lease
// at most retryPeriod*(1+JitterFactor) after it was freed, or after it expired.
const (
	leaseDuration = 6 * time.Second
	renewDeadline = 4 * time.Second
	retryPeriod   = time.Second
	// cacheSync is what a new leader is allowed, once it holds the Lease, to fill its caches and start its
	// controllers' workers on a loaded two-core machine.
	cacheSync = 10 * time.Second
	// leaseName is the name of the manager's Lease without --watch-filter (cmd/manager's leaderElectionID).
	leaseName = "machinepool-operator.cluster.x-k8s.io"
)

// jitteredRetry is the longest a candidate waits between two attempts to take the Lease.
var jitteredRetry = time.Duration(float64(retryPeriod) * (1 + leaderelection.JitterFactor))

// service stands in for the Service in front of a Deployment's replicas: it listens where the MachinePool CRD
// sends conversion reviews and hands each connection to the next replica that accepts one, as kube-proxy spreads
// connections over the Ready endpoints. Every replica serves webhooks, leader or not; one that is down refuses
// the dial and is skipped.
type service struct {
	ln       net.Listener
	backends []string
	next     atomic.Uint32

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// startService listens on addr (retrying while the port is still taken) and forwards to backends.
func startService(addr string, backends ...string) *service {
	GinkgoHelper()
	s := &service{backends: backends, conns: map[net.Conn]struct{}{}}
	Eventually(func() (err error) {
		s.ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
		return err
	}).Should(Succeed())
	go func() {
		for {
			in, err := s.ln.Accept()
			if err != nil {
				return
			}
			go s.forward(in)
		}
	}()
	return s
}

func (s *service) forward(in net.Conn) {
	out := s.dial()
	if out == nil {
		_ = in.Close()
		return
	}
	s.mu.Lock()
	s.conns[in], s.conns[out] = struct{}{}, struct{}{}
	s.mu.Unlock()
	go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
	_, _ = io.Copy(in, out)
	_ = in.Close()
	s.mu.Lock()
	delete(s.conns, in)
	delete(s.conns, out)
	s.mu.Unlock()
}

// dial connects to the next backend that accepts, round robin; nil when none does.
func (s *service) dial() net.Conn {
	first := int(s.next.Add(1))
	for i := range s.backends {
		out, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", s.backends[(first+i)%len(s.backends)])
		if err == nil {
			return out
		}
	}
	return nil
}

// close stops listening and drops every connection.
func (s *service) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.Close()
	}
}

// replica is one manager process of a two-replica install: leader election on, its own webhook port (a Pod's
// own address; a restarted container keeps it).
type replica struct {
	name     string
	port     int
	leaseNS  string
	session  *gexec.Session
	identity string // its holderIdentity in the Lease, once it led
}

func (r *replica) start() {
	GinkgoHelper()
	r.identity = ""
	r.session = runManager(gexec.NewPrefixedWriter("["+r.name+"] ", GinkgoWriter),
		"--leader-elect", "--leader-elect-namespace="+r.leaseNS,
		"--leader-elect-lease-duration="+leaseDuration.String(), "--leader-elect-renew-deadline="+renewDeadline.String(),
		"--leader-elect-retry-period="+retryPeriod.String(), fmt.Sprintf("--webhook-port=%d", r.port))
}

// addr is where the replica's webhook server listens.
func (r *replica) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// serving says whether the replica's webhook server listens (it logged so).
func (r *replica) serving() bool {
	return regexp.MustCompile(`"Serving webhook server".* port=` + strconv.Itoa(r.port) + `\b`).Match(r.session.Err.Contents())
}

// acquired says whether the replica logged that it took the Lease.
func (r *replica) acquired() bool {
	return regexp.MustCompile(`"Successfully acquired lease".* lock="` + regexp.QuoteMeta(r.leaseNS+"/"+leaseName) + `"`).
		Match(r.session.Err.Contents())
}

// workersStarted is when each controller of the replica started its workers (its caches synced), read from the
// klog header of its "Starting workers" line: the moment it began to reconcile.
func (r *replica) workersStarted() map[string]time.Time {
	started := map[string]time.Time{}
	now := time.Now()
	for _, m := range startingWorkers.FindAllSubmatch(r.session.Err.Contents(), -1) {
		at, err := time.ParseInLocation("2006 0102 15:04:05.000000", fmt.Sprintf("%d %s", now.Year(), m[1]), time.Local)
		if err != nil {
			continue
		}
		if _, seen := started[string(m[2])]; !seen {
			started[string(m[2])] = at
		}
	}
	return started
}

var startingWorkers = regexp.MustCompile(`(?m)^I(\d{4} \d{2}:\d{2}:\d{2}\.\d{6})\s+\d+\s+\S+\] "Starting workers" controller="([^"]+)"`)

// reconciling returns when the last of the named controllers started its workers, or zero while one has not.
func (r *replica) reconciling(controllers []string) time.Time {
	started := r.workersStarted()
	var last time.Time
	for _, c := range controllers {
		at, ok := started[c]
		if !ok {
			return time.Time{}
		}
		if at.After(last) {
			last = at
		}
	}
	return last
}

// leaseVersion is one version of the Lease as the API server stored it.
type leaseVersion struct {
	holder            string
	duration          time.Duration
	acquired, renewed time.Time
	transitions       int32
}

// leaseHistory records every version of the Lease through a watch, so a version that lives only for a moment (a
// released Lease, until a candidate takes it) is seen too.
type leaseHistory struct {
	mu       sync.Mutex
	versions []leaseVersion
}

// watchLease records the manager's Lease in namespace until the current container's specs end.
func watchLease(namespace string) *leaseHistory {
	GinkgoHelper()
	wc, err := client.NewWithWatch(mgmtEnv.Config, client.Options{Scheme: k8s.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	wctx, stop := context.WithCancel(ctx)
	DeferCleanup(stop)
	h := &leaseHistory{}
	go func() {
		version := "" // the last seen: a watch that ends is resumed from it, missing nothing
		for wctx.Err() == nil {
			w, err := wc.Watch(wctx, &coordinationv1.LeaseList{}, client.InNamespace(namespace),
				client.MatchingFields{"metadata.name": leaseName}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: version}})
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				lease, ok := ev.Object.(*coordinationv1.Lease)
				if !ok {
					version = "" // an error (the version is too old): start over from the current one
					continue
				}
				version = lease.ResourceVersion
				h.record(lease)
			}
		}
	}()
	return h
}

func (h *leaseHistory) record(lease *coordinationv1.Lease) {
	v, s := leaseVersion{}, lease.Spec
	if s.HolderIdentity != nil {
		v.holder = *s.HolderIdentity
	}
	if s.LeaseDurationSeconds != nil {
		v.duration = time.Duration(*s.LeaseDurationSeconds) * time.Second
	}
	if s.AcquireTime != nil {
		v.acquired = s.AcquireTime.Time
	}
	if s.RenewTime != nil {
		v.renewed = s.RenewTime.Time
	}
	if s.LeaseTransitions != nil {
		v.transitions = *s.LeaseTransitions
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.versions); n > 0 && h.versions[n-1] == v {
		return // the same version again, from a resumed watch
	}
	h.versions = append(h.versions, v)
}

// holder is who holds the Lease now ("" when no one does).
func (h *leaseHistory) holder() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.versions) == 0 {
		return ""
	}
	return h.versions[len(h.versions)-1].holder
}

// all returns the versions seen so far, oldest first.
func (h *leaseHistory) all() []leaseVersion {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]leaseVersion(nil), h.versions...)
}

// handover finds, in the versions seen, the last one held by from (its last renewal), the release that followed
// it if any (no holder and a 1s duration: what client-go's release writes; zero otherwise), and the first one
// held by to (its acquisition).
func (h *leaseHistory) handover(from, to string) (last, release, first leaseVersion) {
	for _, v := range h.all() {
		switch {
		case v.holder == from:
			last, release = v, leaseVersion{}
		case v.holder == "" && v.duration == time.Second && last.holder == from:
			release = v
		case v.holder == to && first.holder == "":
			first = v
		}
	}
	return last, release, first
}
