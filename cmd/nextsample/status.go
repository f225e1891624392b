package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// isTerminal reports whether w is a character device (a terminal), where a
// redrawn status line makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// A statusLine shows a command's progress on stderr. On a terminal it is
// one line redrawn in place, at most every ttyEvery; elsewhere (a log
// file, a batch system's log, a pipe) each update is a new line, at most
// every logEvery, so logs stay short. A final update is always shown, and
// on a terminal it ends the line. Libraries report progress through
// callbacks; the commands turn them into text and hand it here, so this
// is the one place that writes terminal control sequences. As an
// io.Writer it passes other output (whole lines) through, on a terminal
// after clearing the status line, so that messages and the redrawn status
// share the screen. It is safe for concurrent use.
type statusLine struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	every time.Duration
	last  time.Time
	drawn bool // a line is on the terminal and not ended
}

// Usual intervals of a statusLine.
const (
	ttyEvery = 250 * time.Millisecond
	logEvery = 10 * time.Second
)

// eraseLine returns the cursor to the start of the line and clears it.
const eraseLine = "\r\033[K"

// newStatusLine draws on w (a terminal if isTerminal says so).
func newStatusLine(w io.Writer, ttyEvery, logEvery time.Duration) *statusLine {
	s := &statusLine{w: w, tty: isTerminal(w), every: logEvery}
	if s.tty {
		s.every = ttyEvery
	}
	return s
}

// firstAfterInterval makes the first line wait an interval, as lines
// drawn by a ticker do, so that a task that ends quickly shows only its
// final line.
func (s *statusLine) firstAfterInterval() *statusLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = time.Now()
	return s
}

// draw displays line, unless the last one was shown less than the
// interval ago and this one is not final.
func (s *statusLine) draw(line string, final bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if !final && !s.last.IsZero() && now.Sub(s.last) < s.every {
		return
	}
	s.last = now
	if !s.tty {
		fmt.Fprintln(s.w, line)
		return
	}
	fmt.Fprint(s.w, eraseLine+line)
	s.drawn = !final
	if final {
		fmt.Fprintln(s.w)
	}
}

// clear erases a line being drawn, so that what is printed next starts on
// a clean line.
func (s *statusLine) clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.drawn {
		fmt.Fprint(s.w, eraseLine)
		s.drawn = false
	}
}

// Write writes p, on a terminal after clearing the status line.
func (s *statusLine) Write(p []byte) (int, error) {
	s.clear()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// progressBar returns a bar of width characters, '#' for the done part of
// total and '.' for the rest.
func progressBar(done, total int64, width int) string {
	n := int(int64(width) * done / max(total, 1))
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = '.'
		if i < n {
			bar[i] = '#'
		}
	}
	return string(bar)
}
