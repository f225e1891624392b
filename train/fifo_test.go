//go:build unix

package train

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nextsample/nextsample/audio/regular/regulartest"
)

// TestResumeRefusesFIFO: resuming a run whose train_log.csv or
// last.safetensors is a named pipe fails, naming it, rather than waiting
// for a writer (or starting a new log over it).
func TestResumeRefusesFIFO(t *testing.T) {
	o := tinyOptions(SGD)
	o.Steps, o.EvalEvery, o.SaveEvery = 2, 0, 0
	out := t.TempDir()
	r := newTinyRun(t, out, o)
	r.noPlot = true
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Close()
	ck, err := ReadCheckpoint(filepath.Join(out, LastFile))
	if err != nil {
		t.Fatal(err)
	}

	log := filepath.Join(out, LogFile)
	if err := os.Remove(log); err != nil {
		t.Fatal(err)
	}
	log = regulartest.FIFO(t, out, LogFile)
	regulartest.Refuses(t, log, func() error { _, err := readLog(log); return err })
	regulartest.Refuses(t, log, func() error {
		r, err := Resume(ck, tinyData(1), ck.Options, Setup{Out: out})
		if err == nil {
			r.Close()
		}
		return err
	})
	if fi, err := os.Lstat(log); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("%s replaced: %v, %v", log, fi, err)
	}

	last := regulartest.FIFO(t, t.TempDir(), LastFile)
	regulartest.Refuses(t, last, func() error { _, err := ReadCheckpoint(last); return err })
}
