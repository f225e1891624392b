package corpus

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/inflight"
)

// Limits of running a wav.scp command.
const (
	// pipeTrailing is how much a command may write after the audio
	// (trailing chunks) before it is stopped.
	pipeTrailing = 1 << 20
	// pipeGrace is how long a command whose output is no longer read may
	// take to exit before its process group is killed.
	pipeGrace = 2 * time.Second
	// stderrKeep bounds the standard error kept from a command; errors
	// quote at most its last stderrLines lines and stderrBytes bytes.
	stderrKeep  = 4 << 10
	stderrLines = 5
	stderrBytes = 1 << 10
)

// runPipe runs command with sh -c, as Kaldi's popen does, in the current
// directory with standard input from /dev/null, in a process group of its
// own that is killed when ctx is cancelled, and decodes its standard
// output. The error of a failing command gives its exit status and the
// end of its standard error.
func runPipe(ctx context.Context, command string, opts audio.DecodeOptions) (*audio.Clip, error) {
	name := command + " |"
	cmd := shellCommand(ctx, command)
	stderr := &tail{max: stderrKeep}
	cmd.Stderr = stderr
	cmd.WaitDelay = pipeGrace
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: cannot run the command: %w", name, err)
	}
	// A process that has to quit while the command still runs kills it
	// first (see package inflight).
	defer inflight.Enter(ctx, "the wav.scp command "+name, func() { killGroup(cmd) })()
	clip, decodeErr := audio.Decode(bufio.NewReaderSize(stdout, 64<<10), name, opts)
	var waitErr error
	if decodeErr == nil {
		// Read what follows the audio (trailing chunks) while the command
		// exits by itself; Wait closes the pipe when it has.
		drained := make(chan int64, 1)
		go func() {
			n, _ := io.Copy(io.Discard, io.LimitReader(stdout, pipeTrailing+1))
			drained <- n
		}()
		waitErr = wait(cmd)
		stdout.Close()
		if n := <-drained; n > pipeTrailing {
			decodeErr = fmt.Errorf("%s: the command wrote more than %d bytes after the audio", name, pipeTrailing)
		}
	} else {
		// The output is bad: stop reading it. A command still writing gets
		// SIGPIPE; one that does not exit is killed.
		stdout.Close()
		waitErr = wait(cmd)
	}
	// Nothing the command started in the background outlives it.
	killGroup(cmd)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if errors.Is(waitErr, exec.ErrWaitDelay) {
		waitErr = nil // it exited with status 0, leaving its standard error open
	}
	var exit *exec.ExitError
	switch {
	case errors.As(waitErr, &exit) && (exit.Exited() || decodeErr == nil):
		// A command that exits with a failure status, or is killed while
		// its whole output was still being read, failed.
		return nil, fmt.Errorf("%s: the command failed (%s)%s", name, exit.ProcessState, stderr.quote())
	case decodeErr != nil:
		// The output was bad; the command may have been stopped for it.
		return nil, fmt.Errorf("%w%s", decodeErr, stderr.quote())
	case waitErr != nil:
		return nil, fmt.Errorf("%s: %w%s", name, waitErr, stderr.quote())
	}
	return clip, nil
}

// wait waits for cmd, killing its process group if it has not exited
// within pipeGrace: it is called when the audio has been read, or when
// the output is no longer read.
func wait(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(pipeGrace):
		killGroup(cmd)
		return <-done
	}
}

// tail is an io.Writer that keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) > t.max {
		p = p[len(p)-t.max:]
	}
	if over := len(t.b) + len(p) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	t.b = append(t.b, p...)
	return n, nil
}

// quote is "; standard error ends: ..." with the last lines written, or
// "" when nothing was.
func (t *tail) quote() string {
	t.mu.Lock()
	s := strings.ToValidUTF8(string(t.b), "\uFFFD")
	t.mu.Unlock()
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return ""
	}
	lines = lines[max(0, len(lines)-stderrLines):]
	out := strings.Join(lines, " / ")
	if len(out) > stderrBytes {
		out = "..." + strings.ToValidUTF8(out[len(out)-stderrBytes:], "")
	}
	return "; its standard error ends: " + out
}
