//go:build unix

package probe

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/audio/featio"
	"github.com/nextsample/nextsample/audio/regular/regulartest"
)

// TestRunRefusesFIFO: a named pipe given as the manifest, as the wav.scp
// of a Kaldi data directory, or in the place of a features folder's
// index or of one of its matrix files is refused, naming it, without
// waiting for a writer.
func TestRunRefusesFIFO(t *testing.T) {
	manifest, feats := makeCorpus(t, []string{"ann", "bob"}, 2, 3)
	run := func(manifest, feats string) func() error {
		return func() error {
			_, err := Run(context.Background(), Options{Features: []string{feats}, Manifest: manifest, Label: "label", Protocol: ProtocolSplit})
			return err
		}
	}
	if err := run(manifest, feats)(); err != nil {
		t.Fatal(err)
	}

	m := regulartest.FIFO(t, t.TempDir(), "manifest.csv")
	regulartest.Refuses(t, m, run(m, feats))

	kaldi := t.TempDir()
	scp := regulartest.FIFO(t, kaldi, corpus.WavScp)
	regulartest.Refuses(t, scp, run(kaldi, feats))

	// replace puts a named pipe in the place of the file at path.
	replace := func(path string) string {
		t.Helper()
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		return regulartest.FIFO(t, filepath.Dir(path), filepath.Base(path))
	}
	set, err := featio.Open(feats)
	if err != nil {
		t.Fatal(err)
	}
	matrix := replace(set.Entries[len(set.Entries)-1].Path)
	regulartest.Refuses(t, matrix, run(manifest, feats))
	index := replace(filepath.Join(feats, featio.IndexName))
	regulartest.Refuses(t, index, run(manifest, feats))
}
