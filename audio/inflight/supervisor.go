package inflight

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
)

// Defaults of a Supervisor.
const (
	DefaultIdle  = 3 * time.Second
	DefaultLimit = 30 * time.Second
	stopTick     = 250 * time.Millisecond
)

// A Supervisor runs a command's work under signals. The first signal
// cancels the work's context: a training run finishes its step, saves and
// returns, other work stops at its next check. A blocked system call (a
// read from a pipe nobody writes, a hung network mount) never sees that
// context, so the Supervisor also watches the process: once it has used
// less than a quarter of a core for Idle in a row after the signal (a
// step being finished computes, a blocked call does not), after Limit in
// any case, or at a second signal, Run returns 128+signal at once, after
// ending the calls in flight that can be ended (Set.Abort: wav.scp
// commands) and removing the temporary files (atomicfile.RemoveTemporary),
// with one line on Stderr saying what the work was waiting on. The caller
// then exits the process: the work's goroutine may still be blocked.
type Supervisor struct {
	Name    string           // the program, which starts every line ("nextsample")
	Signals <-chan os.Signal // the signals that stop the work (from signal.Notify)
	Stderr  io.Writer
	// CPUTime returns the CPU time the process has used so far; nil
	// means ProcessCPUTime.
	CPUTime func() time.Duration
	Idle    time.Duration // 0 means DefaultIdle
	Limit   time.Duration // 0 means DefaultLimit
}

// Run calls work with a context that carries a Set (see NewContext) and
// that the first signal cancels, and returns the exit status: work's own,
// or 128+signal when the process has to quit without waiting for work.
func (s *Supervisor) Run(work func(ctx context.Context) int) int {
	cpuTime, idleMax, limit := s.CPUTime, s.Idle, s.Limit
	if cpuTime == nil {
		cpuTime = ProcessCPUTime
	}
	if idleMax == 0 {
		idleMax = DefaultIdle
	}
	if limit == 0 {
		limit = DefaultLimit
	}
	calls := New()
	ctx, cancel := context.WithCancel(NewContext(context.Background(), calls))
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- work(ctx) }()

	var first os.Signal
	select {
	case code := <-done:
		return code
	case first = <-s.Signals:
	}
	cancel()
	fmt.Fprintf(s.Stderr, "%s: %s: stopping cleanly (a second signal quits at once)\n", s.Name, signalName(first))

	start := time.Now()
	tick := time.NewTicker(stopTick)
	defer tick.Stop()
	lastCPU, idle := cpuTime(), time.Duration(0)
	for {
		select {
		case code := <-done:
			return code
		case sig := <-s.Signals:
			return s.quit(calls, sig, fmt.Sprintf("at once on a second signal (%s) while it was waiting on", signalName(sig)))
		case <-tick.C:
			cpu := cpuTime()
			if cpu-lastCPU < stopTick/4 {
				idle += stopTick
			} else {
				idle = 0
			}
			lastCPU = cpu
			switch {
			case idle >= idleMax:
				return s.quit(calls, first, fmt.Sprintf("%v after %s, it was still waiting on", time.Since(start).Round(time.Second), signalName(first)))
			case time.Since(start) >= limit:
				return s.quit(calls, first, fmt.Sprintf("%v after %s, it was still busy in", limit, signalName(first)))
			}
		}
	}
}

// quit ends what can be ended from outside (wav.scp commands), removes
// the temporary files in flight, prints one line and returns the exit
// status for sig. why ends with what it was waiting on: "3s after
// SIGTERM, it was still waiting on".
func (s *Supervisor) quit(calls *Set, sig os.Signal, why string) int {
	waiting := calls.Pending()
	calls.Abort()
	removed := atomicfile.RemoveTemporary()
	what := strings.Join(waiting, ", ")
	if what == "" {
		what = blockedCalls()
	}
	msg := fmt.Sprintf("%s: quitting: %s %s", s.Name, why, what)
	if len(removed) > 0 {
		msg += fmt.Sprintf(" (removed %d temporary file(s))", len(removed))
	}
	fmt.Fprintln(s.Stderr, msg)
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
