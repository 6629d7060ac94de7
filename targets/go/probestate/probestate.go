// Package probestate is the library-independent part of the Go adapters'
// conformance.v1.ProbeService (targets/grpc-go, targets/connect-go): handler
// outcomes by tag, in-flight gauges by scope, rendezvous barriers by group,
// deadlines as a handler sees them, and the hold primitives that really take
// an OS thread or a CPU away. It knows neither gRPC library nor the generated
// code: each adapter keeps its service registration, its status errors and
// its streaming API, and passes its own HandlerState type (pb.HandlerState)
// as S, with the value that means "running".
package probestate

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// MaxDurationMs is the longest hold/wait a request may ask for (the
// reference server's cap).
const MaxDurationMs = 120000

// CapMs is ms as a duration, capped at MaxDurationMs.
func CapMs(ms uint32) time.Duration {
	if ms > MaxDurationMs {
		ms = MaxDurationMs
	}
	return time.Duration(ms) * time.Millisecond
}

// DeadlineMs is the call's deadline as the handler sees it now, in
// milliseconds from now, rounded up (at least 1); 0 when it has none.
func DeadlineMs(ctx context.Context) uint32 {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	left := time.Until(dl)
	ms := (left + time.Millisecond - 1) / time.Millisecond
	if ms < 1 {
		return 1
	}
	if ms > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(ms)
}

// Sleep waits d unless ctx ends first; then it returns ctx.Err() (the
// adapter turns it into its library's status).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// BlockThread blocks the calling goroutine's OS thread for d.
//
// time.Sleep would NOT do: in Go a sleeping goroutine is parked by the
// runtime scheduler and its OS thread (M) goes on running other goroutines,
// so "sleep in the handler" never occupies a thread. To really take an OS
// thread away, the goroutine is wired to its thread (runtime.LockOSThread)
// and the thread is put to sleep in the kernel with a raw nanosleep(2)
// syscall. The Go runtime sees a goroutine stuck in a syscall and hands its P
// to another thread (sysmon), which is exactly how grpc-go copes with a
// handler that blocks in cgo or a syscall: other RPCs keep being served.
func BlockThread(d time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		ts := syscall.NsecToTimespec(int64(left))
		// EINTR (e.g. the runtime's preemption signal) just loops with the
		// time left.
		_ = syscall.Nanosleep(&ts, nil)
	}
}

// Spin busy-loops the CPU for d (Go 1.14+ may still preempt the goroutine
// asynchronously: that is the runtime's real behaviour).
func Spin(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
	}
}

// ---------------------------------------------------------------------------
// The state: barriers, gauges, outcomes (one mutex each).

type barrier struct {
	parties    uint32
	generation uint64
	arrived    uint32
	release    chan struct{} // closed when the current generation releases
}

type gauge struct{ inFlight, maxInFlight uint32 }

type outcome[S comparable] struct {
	state      S
	conn       string
	deadlineMs uint32 // the call's deadline, ms from entry, rounded up; 0 = none
	entered    time.Time
	ended      time.Time
	serial     uint64
}

// MaxOutcomes: the state keeps at most this many tags; past it, finished
// entries are forgotten.
const MaxOutcomes = 100000

// State is one ProbeService's state. S is the adapter's HandlerState type.
type State[S comparable] struct {
	running S

	barriersMu sync.Mutex
	barriers   map[string]*barrier

	gaugesMu sync.Mutex
	gauges   map[string]*gauge

	outcomesMu sync.Mutex
	outcomes   map[string]*outcome[S]
	nextSerial uint64
	changed    chan struct{} // closed and replaced at every outcome change
}

// New is an empty state; running is the HandlerState of a handler inside.
func New[S comparable](running S) *State[S] {
	return &State[S]{
		running:  running,
		barriers: map[string]*barrier{},
		gauges:   map[string]*gauge{},
		outcomes: map[string]*outcome[S]{},
		changed:  make(chan struct{}),
	}
}

// EnterGauge counts a handler into scope; the returned func counts it out
// (once, however often it is called).
func (s *State[S]) EnterGauge(scope string) (leave func(), now uint32) {
	s.gaugesMu.Lock()
	g := s.gauges[scope]
	if g == nil {
		g = &gauge{}
		s.gauges[scope] = g
	}
	g.inFlight++
	if g.inFlight > g.maxInFlight {
		g.maxInFlight = g.inFlight
	}
	now = g.inFlight
	s.gaugesMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.gaugesMu.Lock()
			if g.inFlight > 0 {
				g.inFlight--
			}
			s.gaugesMu.Unlock()
		})
	}, now
}

// Gauge reads scope's gauge (zeros for a scope never entered); resetMax
// then sets its maximum to the current count.
func (s *State[S]) Gauge(scope string, resetMax bool) (inFlight, maxInFlight uint32) {
	s.gaugesMu.Lock()
	defer s.gaugesMu.Unlock()
	g := s.gauges[scope]
	if g == nil {
		return 0, 0
	}
	inFlight, maxInFlight = g.inFlight, g.maxInFlight
	if resetMax {
		g.maxInFlight = g.inFlight
	}
	return inFlight, maxInFlight
}

func (s *State[S]) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Begin records a handler entering under tag (replacing an older one);
// the returned func settles it once (first final state wins).
func (s *State[S]) Begin(tag, conn string, deadline uint32) (settle func(S)) {
	s.outcomesMu.Lock()
	if len(s.outcomes) >= MaxOutcomes {
		for k, o := range s.outcomes {
			if o.state != s.running {
				delete(s.outcomes, k)
			}
		}
	}
	serial := s.nextSerial
	s.nextSerial++
	s.outcomes[tag] = &outcome[S]{state: s.running, conn: conn, deadlineMs: deadline, entered: time.Now(), serial: serial}
	s.notifyLocked()
	s.outcomesMu.Unlock()
	return func(st S) {
		s.outcomesMu.Lock()
		defer s.outcomesMu.Unlock()
		if o := s.outcomes[tag]; o != nil && o.serial == serial && o.state == s.running {
			o.state = st
			o.ended = time.Now()
			s.notifyLocked()
		}
	}
}

// Outcome is what Observe saw of a tag.
type Outcome[S comparable] struct {
	State      S
	Conn       string
	DeadlineMs uint32
	ElapsedMs  uint32 // entry to end, once no longer running
}

// Observe waits up to wait for tag's handler to leave the running state.
// found is false when no handler was recorded under tag by then; err is
// ctx.Err() when the call ended first.
func (s *State[S]) Observe(ctx context.Context, tag string, wait time.Duration) (o Outcome[S], found bool, err error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		s.outcomesMu.Lock()
		rec := s.outcomes[tag]
		changed := s.changed
		found = rec != nil
		if found {
			o = Outcome[S]{State: rec.state, Conn: rec.conn, DeadlineMs: rec.deadlineMs}
			if rec.state != s.running {
				o.ElapsedMs = uint32(rec.ended.Sub(rec.entered) / time.Millisecond)
			}
		}
		s.outcomesMu.Unlock()
		if found && o.State != s.running {
			return o, true, nil
		}
		select {
		case <-changed:
			continue
		case <-t.C:
		case <-ctx.Done():
			return Outcome[S]{}, false, ctx.Err()
		}
		return o, found, nil
	}
}

// RendezvousError is a Rendezvous refusal the adapter answers with a status
// of its own library: InvalidArgument (a bad or mismatched party count) or,
// when Timeout is set, Aborted (the parties were not reached in time).
type RendezvousError struct {
	Timeout bool
	Msg     string
}

func (e *RendezvousError) Error() string { return e.Msg }

// Rendezvous waits until parties calls have arrived in group, or timeoutMs
// (capped) passes, or ctx ends. While it waits the call is counted in
// scope's gauge. It returns the call's arrival number (1-based), or a
// *RendezvousError, or ctx.Err().
func (s *State[S]) Rendezvous(ctx context.Context, group, scope string, parties, timeoutMs uint32) (uint32, error) {
	if parties < 1 {
		return 0, &RendezvousError{Msg: "rendezvous needs at least 1 party"}
	}

	s.barriersMu.Lock()
	b := s.barriers[group]
	if b != nil && b.parties != parties {
		if b.arrived > 0 {
			s.barriersMu.Unlock()
			return 0, &RendezvousError{Msg: fmt.Sprintf(
				"rendezvous group %q is waiting for %d parties, this call asked for %d",
				group, b.parties, parties)}
		}
		b = nil
	}
	if b == nil {
		b = &barrier{parties: parties, release: make(chan struct{})}
		s.barriers[group] = b
	}
	leave, _ := s.EnterGauge(scope)
	defer leave()
	b.arrived++
	arrival := b.arrived
	if arrival >= b.parties {
		b.generation++
		b.arrived = 0
		close(b.release)
		b.release = make(chan struct{})
		// Forget groups nobody waits in, so unique names do not grow the map.
		for k, other := range s.barriers {
			if other.arrived == 0 {
				delete(s.barriers, k)
			}
		}
		s.barriersMu.Unlock()
		return arrival, nil
	}
	gen, release := b.generation, b.release
	s.barriersMu.Unlock()

	t := time.NewTimer(CapMs(timeoutMs))
	defer t.Stop()
	var endErr error
	select {
	case <-release:
		return arrival, nil
	case <-t.C:
		endErr = &RendezvousError{Timeout: true, Msg: fmt.Sprintf(
			"rendezvous %q: %d parties not reached within %d ms", group, parties, timeoutMs)}
	case <-ctx.Done():
		endErr = ctx.Err()
	}
	s.barriersMu.Lock()
	if b.generation != gen {
		// Released while we were giving up: we were counted in, so we pass.
		s.barriersMu.Unlock()
		return arrival, nil
	}
	b.arrived--
	s.barriersMu.Unlock()
	return 0, endErr
}
