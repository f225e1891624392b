//go:build unix

package featio

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nextsample/nextsample/audio/regular/regulartest"
)

// TestOpenRefusesFIFO: a named pipe in the place of any file of a
// features folder (the sidecar, the index, an archive, a matrix file) is
// refused, naming it, by Open or Load, without waiting for a writer.
func TestOpenRefusesFIFO(t *testing.T) {
	for _, format := range []string{FormatNpy, FormatHTK, FormatArk} {
		t.Run(format, func(t *testing.T) {
			fresh := func() string {
				dir := t.TempDir()
				writeCorpus(t, dir, Options{Format: format, Sidecar: baselineSidecar()})
				return dir
			}
			// replace puts a named pipe at path.
			replace := func(path string) string {
				t.Helper()
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				return regulartest.FIFO(t, filepath.Dir(path), filepath.Base(path))
			}
			index := IndexName
			if format == FormatArk {
				index = ScpName
			}
			for _, name := range []string{SidecarName, index} {
				f := replace(filepath.Join(fresh(), name))
				regulartest.Refuses(t, f, func() error { _, err := Open(filepath.Dir(f)); return err })
			}
			set, err := Open(fresh())
			if err != nil {
				t.Fatal(err)
			}
			f := replace(set.Entries[0].Path) // the archive, or the first matrix file
			regulartest.Refuses(t, f, func() error { _, err := set.Load(0); return err })
			if format == FormatArk {
				regulartest.Refuses(t, f, func() error { _, err := ReadArkMatrixAt(f, 0); return err })
			}
		})
	}
}
