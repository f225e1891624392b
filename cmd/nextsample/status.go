package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// isTerminal reports whether w is a character device (a terminal), where a
// redrawn progress bar makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// statusLine shows the progress of a long task on w: on a terminal one
// line, redrawn in place, elsewhere a line each time. A drawing less than
// a gap after the last one is skipped unless it is the final one; the gap
// differs between a terminal (where redrawing is cheap) and a log.
//
// As an io.Writer it passes other output (whole lines) through; on a
// terminal it first clears the status line, so that messages and the
// redrawn status share the screen.
type statusLine struct {
	w    io.Writer
	tty  bool
	gap  time.Duration
	last time.Time
}

// newStatusLine returns the status line of w, drawn at most every ttyGap
// on a terminal and every plainGap elsewhere.
func newStatusLine(w io.Writer, ttyGap, plainGap time.Duration) *statusLine {
	s := &statusLine{w: w, tty: isTerminal(w), gap: plainGap}
	if s.tty {
		s.gap = ttyGap
	}
	return s
}

// draw shows line, unless it is not final and comes less than the gap
// after the last drawing. On a terminal a final line stays: what follows
// starts a new line.
func (s *statusLine) draw(line string, final bool) {
	if !final && time.Since(s.last) < s.gap {
		return
	}
	s.last = time.Now()
	if !s.tty {
		fmt.Fprintln(s.w, line)
		return
	}
	fmt.Fprintf(s.w, "\r\033[K%s", line)
	if final {
		fmt.Fprintln(s.w)
	}
}

// Write writes p, on a terminal after clearing the status line.
func (s *statusLine) Write(p []byte) (int, error) {
	if s.tty {
		if _, err := io.WriteString(s.w, "\r\033[K"); err != nil {
			return 0, err
		}
	}
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
