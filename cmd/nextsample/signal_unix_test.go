//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// blockingFIFO returns a FIFO that the test holds open for reading and
// writing, so that a read of it blocks forever: nobody writes, and a
// writer exists, so there is no end of file either.
func blockingFIFO(t *testing.T) (path string, f *os.File) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "blocks.wav")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return path, f
}

// TestSIGTERMWhileBlockedOnStdin: `nextsample info -` reading a pipe that
// never delivers is blocked in read(2), where no context reaches; SIGTERM
// still ends it within 5 s with a line saying what it waited on.
func TestSIGTERMWhileBlockedOnStdin(t *testing.T) {
	_, fifo := blockingFIFO(t)
	cmd, out := commandProcess(t, fifo, "info", "-")
	time.Sleep(300 * time.Millisecond) // let it block
	cmd.Process.Signal(syscall.SIGTERM)
	code := waitGone(t, cmd, 5*time.Second)
	if code != 128+int(syscall.SIGTERM) {
		t.Errorf("exit status %d, want %d", code, 128+int(syscall.SIGTERM))
	}
	if !strings.Contains(out.String(), "after SIGTERM, it was still waiting on reading standard input") {
		t.Errorf("output %q does not say what it waited on", out.String())
	}
}

// TestSIGTERMWhileAWavScpCommandBlocks: training on a Kaldi data
// directory whose wav.scp command blocks forever (cat of a FIFO nobody
// writes) stops within 5 s of SIGTERM with a non-zero status, leaves no
// run directory and no temporary file, and no part of
// the command running.
func TestSIGTERMWhileAWavScpCommandBlocks(t *testing.T) {
	fifoPath, _ := blockingFIFO(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o755)
	wav := filepath.Join(data, "a.wav")
	writeTone(t, wav, 8000, 4000)
	scp := "u1 cat " + fifoPath + " |\nu2 " + wav + "\n"
	if err := os.WriteFile(filepath.Join(data, "wav.scp"), []byte(scp), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache")
	out := filepath.Join(dir, "run")
	cmd, output := commandProcess(t, nil, "train", "--data", data, "--steps", "2", "--out", out, "--cache-dir", cache)
	// Wait until the command is blocked in cat.
	deadline := time.Now().Add(20 * time.Second)
	for !catRunning(fifoPath) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the wav.scp command never started; output:\n%s", output.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	code := waitGone(t, cmd, 5*time.Second)
	if code == 0 {
		t.Errorf("exit status 0 after SIGTERM; output:\n%s", output.String())
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("run directory %s exists after a run stopped before its first step (%v)", out, err)
	}
	// A cache finished before the signal (the training split's) is
	// complete and kept; the one being built is not.
	if left, _ := filepath.Glob(filepath.Join(cache, ".*")); len(left) > 0 {
		t.Errorf("temporary files left in the cache directory: %q", left)
	}
	time.Sleep(100 * time.Millisecond)
	if catRunning(fifoPath) {
		t.Errorf("the wav.scp command outlived the process")
	}
}

// catRunning reports whether a live process has path on its command line.
func catRunning(path string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), path) || strings.Contains(string(b), "NEXTSAMPLE") {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "stat"))
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
			continue // a zombie: dead, waiting for its parent
		}
		return true
	}
	return false
}
