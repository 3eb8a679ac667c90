package workload

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestEachBoundsWritesInFlightAcrossCallers(t *testing.T) {
	c := &Cluster{writeSlots: make(chan struct{}, MaxWritesInFlight)}
	var inFlight, peak atomic.Int32
	calls := make([][]int32, 3)
	var wg sync.WaitGroup
	errs := make([]error, len(calls))
	for caller := range calls {
		calls[caller] = make([]int32, 40)
		wg.Go(func() {
			errs[caller] = c.Each(40, func(i int) error {
				n := inFlight.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				time.Sleep(2 * time.Millisecond)
				inFlight.Add(-1)
				atomic.AddInt32(&calls[caller][i], 1)
				if caller == 1 && i%10 == 0 {
					return errors.New("write failed")
				}
				return nil
			})
		})
	}
	wg.Wait()
	if p := peak.Load(); p > MaxWritesInFlight || p < 2 {
		t.Errorf("peak writes in flight = %d, want between 2 and %d", p, MaxWritesInFlight)
	}
	for caller, counts := range calls {
		for i, n := range counts {
			if n != 1 {
				t.Errorf("caller %d: write %d ran %d times, want once", caller, i, n)
			}
		}
	}
	if errs[0] != nil || errs[2] != nil {
		t.Errorf("callers without failures got errors: %v, %v", errs[0], errs[2])
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(errs[1], &joined) || len(joined.Unwrap()) != 4 {
		t.Errorf("caller 1: got %v, want its 4 failures joined", errs[1])
	}
	if err := c.Each(0, func(int) error { t.Error("called for n = 0"); return nil }); err != nil {
		t.Error(err)
	}
}
