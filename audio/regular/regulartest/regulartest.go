//go:build unix

// Package regulartest helps tests check that a reader refuses a named
// pipe (FIFO) instead of blocking on it: FIFO makes one, and Refuses runs
// the code under test with a deadline, so that a regression fails the
// test rather than hanging the suite.
package regulartest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nextsample/nextsample/audio/regular"
)

// Timeout is how long Refuses waits for the code under test.
const Timeout = 5 * time.Second

// FIFO makes a named pipe at dir/name (creating dir) and returns its path;
// it skips the test where named pipes cannot be made.
func FIFO(t testing.TB, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo %s: %v", path, err)
	}
	return path
}

// Within runs f and waits up to d for it. If f has not returned by then,
// it opens every fifo for writing and closes it again, which wakes a
// reader blocked on opening one (it then reads an empty input), and it
// fails the test. It reports whether f returned in time.
func Within(t testing.TB, d time.Duration, f func(), fifos ...string) bool {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
	}
	t.Errorf("still running after %v: blocked on %s?", d, strings.Join(fifos, ", "))
	// Unblock, so that the goroutine ends and later tests are unaffected.
	deadline := time.After(d)
	for {
		for _, p := range fifos {
			if w, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
		}
		select {
		case <-done:
			return false
		case <-deadline:
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Refuses runs f, which must refuse the named pipe fifo within Timeout
// with an error of one line naming it as regular does ("FIFO: is a named
// pipe (FIFO), not a regular file") and matching regular.ErrNotRegular.
// It returns f's error.
func Refuses(t testing.TB, fifo string, f func() error) error {
	t.Helper()
	var err error
	if !Within(t, Timeout, func() { err = f() }, fifo) {
		return err
	}
	CheckError(t, fifo, err)
	return err
}

// CheckError fails the test unless err refuses fifo as Refuses requires.
func CheckError(t testing.TB, fifo string, err error) {
	t.Helper()
	want := fifo + ": is a named pipe (FIFO), not a regular file"
	switch {
	case err == nil:
		t.Errorf("%s: accepted, want %q", fifo, want)
	case !strings.Contains(err.Error(), want):
		t.Errorf("%s: error %q, want it to contain %q", fifo, err, want)
	case strings.Contains(err.Error(), "\n"):
		t.Errorf("%s: error of more than one line: %q", fifo, err)
	case !errors.Is(err, regular.ErrNotRegular):
		t.Errorf("%s: error %q does not match regular.ErrNotRegular", fifo, err)
	}
}
