package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/nextsample/nextsample/audio/atomicfile"
	"github.com/nextsample/nextsample/audio/inflight"
)

// How a signal stops the process. The first SIGINT or SIGTERM cancels the
// commands' context: a training run finishes its step, saves and exits
// with status 130, other commands stop at their next check. A blocked
// system call (a read from a pipe nobody writes, a hung network mount)
// never sees that context, so the process also watches itself: once it
// has used less than a quarter of a core for stopIdle in a row after the
// signal (a busy step is computing, a blocked call is not), after
// stopLimit in any case, or at a second signal, it exits at once with
// status 128+signal, after killing the child processes of wav.scp
// commands and removing its temporary files, and says what it was
// waiting on.
const (
	stopIdle  = 3 * time.Second
	stopLimit = 30 * time.Second
	stopTick  = 250 * time.Millisecond
)

// supervisor runs one command under signals; see the constants above.
type supervisor struct {
	signals <-chan os.Signal
	stderr  io.Writer
	// cpuTime returns the CPU time the process has used so far.
	cpuTime func() time.Duration
	idle    time.Duration // the stopIdle above (tests shorten it)
	limit   time.Duration // the stopLimit above
}

// run calls work with a context that the first signal cancels and returns
// the exit status: work's own, or 128+signal when the process has to quit
// without waiting for work (the caller then exits at once: work's
// goroutine is still blocked).
func (s *supervisor) run(work func(ctx context.Context) int) int {
	calls := inflight.New()
	ctx, cancel := context.WithCancel(inflight.NewContext(context.Background(), calls))
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- work(ctx) }()

	var first os.Signal
	select {
	case code := <-done:
		return code
	case first = <-s.signals:
	}
	cancel()
	fmt.Fprintf(s.stderr, "nextsample: %s: stopping cleanly (a second signal quits at once)\n", signalName(first))

	start := time.Now()
	tick := time.NewTicker(stopTick)
	defer tick.Stop()
	lastCPU, idle := s.cpuTime(), time.Duration(0)
	for {
		select {
		case code := <-done:
			return code
		case sig := <-s.signals:
			return s.quit(calls, sig, fmt.Sprintf("at once on a second signal (%s) while it was waiting on", signalName(sig)))
		case <-tick.C:
			cpu := s.cpuTime()
			if cpu-lastCPU < stopTick/4 {
				idle += stopTick
			} else {
				idle = 0
			}
			lastCPU = cpu
			switch {
			case idle >= s.idle:
				return s.quit(calls, first, fmt.Sprintf("%v after %s, it was still waiting on", time.Since(start).Round(time.Second), signalName(first)))
			case time.Since(start) >= s.limit:
				return s.quit(calls, first, fmt.Sprintf("%v after %s, it was still busy in", s.limit, signalName(first)))
			}
		}
	}
}

// quit ends what can be ended from outside (wav.scp commands), removes
// the temporary files in flight, prints one line and returns the exit
// status for sig. why ends with what it was waiting on: "3s after
// SIGTERM, it was still waiting on".
func (s *supervisor) quit(calls *inflight.Set, sig os.Signal, why string) int {
	waiting := calls.Pending()
	calls.Abort()
	removed := atomicfile.RemoveTemporary()
	what := strings.Join(waiting, ", ")
	if what == "" {
		what = blockedCalls()
	}
	msg := fmt.Sprintf("nextsample: quitting: %s %s", why, what)
	if len(removed) > 0 {
		msg += fmt.Sprintf(" (removed %d temporary file(s))", len(removed))
	}
	fmt.Fprintln(s.stderr, msg)
	if n, ok := sig.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return 1
}

// signalName is "SIGTERM" for syscall.SIGTERM and so on.
func signalName(sig os.Signal) string {
	switch sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

// modulePrefix starts the names of this module's functions in stacks.
const modulePrefix = "github.com/nextsample/nextsample/"

// blockedCalls describes the goroutines that are in a system call or
// waiting for I/O, by the innermost function of this module on their
// stacks ("a system call in audio.ReadInfo"), when no call was recorded
// in the inflight set.
func blockedCalls() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return describeBlocked(buf)
}

// describeBlocked is blockedCalls on the text of runtime.Stack.
func describeBlocked(stacks []byte) string {
	var found []string
	seen := map[string]bool{}
	for _, g := range bytes.Split(stacks, []byte("\n\n")) {
		header, rest, _ := strings.Cut(string(g), "\n")
		if !strings.Contains(header, "[syscall") && !strings.Contains(header, "[IO wait") {
			continue
		}
		for _, line := range strings.Split(rest, "\n") {
			if !strings.HasPrefix(line, modulePrefix) {
				continue
			}
			fn := strings.TrimPrefix(line, modulePrefix)
			if i := strings.LastIndexByte(fn, '('); i > 0 && strings.HasSuffix(fn, ")") {
				fn = fn[:i] // the arguments
			}
			fn = strings.TrimPrefix(fn, "cmd/nextsample.")
			if !seen[fn] {
				seen[fn] = true
				found = append(found, "a system call in "+fn)
			}
			break
		}
	}
	if len(found) == 0 {
		return "a call that did not return"
	}
	return strings.Join(found, ", ")
}
