// Package inflight records the calls a process may block in (reading
// standard input or an input file, running a wav.scp command, waiting for
// the other processes of an MPI job), so that a process asked to stop can
// say what it is still waiting on, and end the child processes that would
// otherwise outlive it.
//
// A blocked system call does not look at a context: a goroutine in
// read(2) on a pipe that nobody writes stays there whatever is cancelled.
// The program's signal handler then has to exit without that goroutine's
// cooperation, and this package is how it knows what to report and what
// to kill first. The Set travels in the context, so a library records its
// calls only when its caller asked for it:
//
//	calls := inflight.New()
//	ctx = inflight.NewContext(ctx, calls)
//	...
//	// in a library, around a call that may block:
//	defer inflight.Enter(ctx, "reading "+path, nil)()
//	...
//	// in the signal handler, when the work has not returned:
//	fmt.Println("still waiting on", calls.Pending())
//	calls.Abort()
//
// Enter costs a mutex and a map insert: fine around a file, too much
// around every sample.
//
// A Supervisor is that signal handler: it runs a command's work with a
// Set in its context, asks the work to stop at the first signal, and
// quits for it when the work is stuck.
package inflight

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// A Set holds the calls in flight. The zero value is not usable; use New.
type Set struct {
	mu    sync.Mutex
	next  uint64
	calls map[uint64]call
}

type call struct {
	what  string
	start time.Time
	abort func()
}

// New returns an empty Set.
func New() *Set { return &Set{calls: map[uint64]call{}} }

type key struct{}

// NewContext returns a copy of ctx that carries s.
func NewContext(ctx context.Context, s *Set) context.Context {
	return context.WithValue(ctx, key{}, s)
}

// FromContext returns the Set ctx carries, or nil.
func FromContext(ctx context.Context) *Set {
	s, _ := ctx.Value(key{}).(*Set)
	return s
}

// Enter records that the caller is about to wait on what ("reading
// stdin", "running the wav.scp command of utt1: cat x |") and returns the
// function that ends the record; call it when the wait is over. abort, if
// not nil, is what Set.Abort calls to end the wait from outside (killing
// a child process, say); it must be safe to call at any time, even after
// the wait ended. Without a Set in ctx, Enter does nothing.
func Enter(ctx context.Context, what string, abort func()) (leave func()) {
	s := FromContext(ctx)
	if s == nil {
		return func() {}
	}
	s.mu.Lock()
	id := s.next
	s.next++
	s.calls[id] = call{what: what, start: time.Now(), abort: abort}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.calls, id)
		s.mu.Unlock()
	}
}

// Pending describes the calls in flight, the longest-running first, each
// as "what (for 3.2s)".
func (s *Set) Pending() []string {
	s.mu.Lock()
	calls := make([]call, 0, len(s.calls))
	for _, c := range s.calls {
		calls = append(calls, c)
	}
	s.mu.Unlock()
	slices.SortStableFunc(calls, func(a, b call) int { return a.start.Compare(b.start) })
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = fmt.Sprintf("%s (for %.1fs)", c.what, time.Since(c.start).Seconds())
	}
	return out
}

// Abort calls the abort function of every call in flight that has one.
func (s *Set) Abort() {
	s.mu.Lock()
	var aborts []func()
	for _, c := range s.calls {
		if c.abort != nil {
			aborts = append(aborts, c.abort)
		}
	}
	s.mu.Unlock()
	for _, f := range aborts {
		f()
	}
}
