package inflight

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nextsample/nextsample/audio/atomicfile"
)

// fakeClock is a supervisor's CPU time under test control.
type fakeClock struct {
	mu  sync.Mutex
	cpu time.Duration
}

func (c *fakeClock) now() time.Duration  { c.mu.Lock(); defer c.mu.Unlock(); return c.cpu }
func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.cpu += d; c.mu.Unlock() }

func testSupervisor(sigs chan os.Signal, stderr *syncBuffer, clock *fakeClock) *Supervisor {
	return &Supervisor{Name: "nextsample", Signals: sigs, Stderr: stderr, CPUTime: clock.now, Idle: 500 * time.Millisecond, Limit: 3 * time.Second}
}

// syncBuffer is a bytes.Buffer safe for the supervisor's goroutine and
// the test's.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestSupervisorCleanStop: work that returns after the signal cancels its
// context keeps its own exit status, and nothing is forced.
func TestSupervisorCleanStop(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	var stderr syncBuffer
	sup := testSupervisor(sigs, &stderr, &fakeClock{})
	if code := sup.Run(func(ctx context.Context) int { return 7 }); code != 7 {
		t.Fatalf("status %d, want the work's 7", code)
	}
	sigs <- syscall.SIGTERM
	code := sup.Run(func(ctx context.Context) int {
		<-ctx.Done()
		time.Sleep(100 * time.Millisecond) // finishing the step
		return 130
	})
	if code != 130 || strings.Contains(stderr.String(), "quitting") {
		t.Fatalf("status %d, stderr %q: want a clean stop", code, stderr.String())
	}
}

// TestSupervisorQuitsWhenBlocked: work blocked in a call that ignores the
// context is abandoned once the process has been idle for the grace
// period: the line names the call, its abort function runs, temporary
// files go, and the status is 128+SIGTERM.
func TestSupervisorQuitsWhenBlocked(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	var stderr syncBuffer
	sup := testSupervisor(sigs, &stderr, &fakeClock{})
	dir := t.TempDir()
	block := make(chan struct{})
	defer close(block)
	aborted := make(chan struct{})
	entered := make(chan struct{})
	start := time.Now()
	var tmp string
	go func() { <-entered; sigs <- syscall.SIGTERM }()
	code := sup.Run(func(ctx context.Context) int {
		f, err := atomicfile.Create(filepath.Join(dir, "out.bin"))
		if err != nil {
			t.Error(err)
			return 1
		}
		tmp = f.Name()
		defer Enter(ctx, "reading the blocked thing", func() { close(aborted) })()
		close(entered)
		<-block // a read that never returns, whatever ctx says
		return 0
	})
	if code != 128+int(syscall.SIGTERM) {
		t.Fatalf("status %d, want %d", code, 128+int(syscall.SIGTERM))
	}
	if d := time.Since(start); d < 500*time.Millisecond || d > 2*time.Second {
		t.Errorf("quit after %v, want about the 0.5 s grace", d)
	}
	select {
	case <-aborted:
	default:
		t.Error("the blocked call's abort function was not called")
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temporary file %s left behind (%v)", tmp, err)
	}
	want := "after SIGTERM, it was still waiting on reading the blocked thing (for "
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q, want a line with %q", stderr.String(), want)
	}
}

// TestSupervisorWaitsForBusyWork: a process still computing (its CPU time
// grows) after the signal is finishing a step, not blocked: it is given
// until the limit; a second signal quits at once.
func TestSupervisorWaitsForBusyWork(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	var stderr syncBuffer
	clock := &fakeClock{}
	sup := testSupervisor(sigs, &stderr, clock)
	sigs <- syscall.SIGINT
	code := sup.Run(func(ctx context.Context) int {
		<-ctx.Done()
		for i := 0; i < 8; i++ { // 2 s of computing, four times the idle grace
			clock.add(250 * time.Millisecond)
			time.Sleep(250 * time.Millisecond)
		}
		return 130
	})
	if code != 130 {
		t.Fatalf("status %d, stderr %q: busy work was not waited for", code, stderr.String())
	}

	stderr = syncBuffer{}
	sigs <- syscall.SIGINT
	start := time.Now()
	code = sup.Run(func(ctx context.Context) int {
		<-ctx.Done()
		sigs <- syscall.SIGINT
		for { // busy forever
			clock.add(250 * time.Millisecond)
			time.Sleep(50 * time.Millisecond)
			if time.Since(start) > 10*time.Second {
				return 0
			}
		}
	})
	if code != 128+int(syscall.SIGINT) || time.Since(start) > time.Second {
		t.Fatalf("status %d after %v: a second signal must quit at once", code, time.Since(start))
	}
	if !strings.Contains(stderr.String(), "quitting: at once on a second signal (SIGINT)") {
		t.Errorf("stderr %q", stderr.String())
	}
}

func TestDescribeBlocked(t *testing.T) {
	stacks := []byte(`goroutine 1 [select]:
github.com/nextsample/nextsample/audio/inflight.(*Supervisor).Run(0xc0000a4000, 0xc0000b8000)
	/work/main/cmd/nextsample/signal.go:60 +0x1a5

goroutine 7 [syscall]:
syscall.Syscall(0x0, 0x0, 0xc000200000, 0x10000)
	/usr/local/go/src/syscall/syscall_linux.go:73 +0x25
os.(*File).Read(0xc000010018, {0xc000200000, 0x10000, 0x10000})
	/usr/local/go/src/os/file.go:124 +0x4f
github.com/nextsample/nextsample/audio.(*wavReader).sniff(0xc0000c6000)
	/work/main/audio/wav.go:580 +0x7c
github.com/nextsample/nextsample/audio.Decode({0x5f3a40, 0xc000010018}, {0x5c1d2a, 0x5}, {0x0})
	/work/main/audio/wav.go:624 +0x65
`)
	if got, want := describeBlocked(stacks), "a system call in audio.(*wavReader).sniff"; got != want {
		t.Fatalf("describeBlocked = %q, want %q", got, want)
	}
	if got := describeBlocked([]byte("goroutine 1 [running]:\nmain.main()\n")); got != "a call that did not return" {
		t.Fatalf("describeBlocked(nothing blocked) = %q", got)
	}
}
