//go:build unix

package audio

import (
	"testing"

	"github.com/nextsample/nextsample/audio/regular/regulartest"
)

// TestReadRefusesFIFO: ReadFile and ReadInfo refuse a named pipe, naming
// it, instead of waiting for a writer; a directory gets the same form.
func TestReadRefusesFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := regulartest.FIFO(t, dir, "ff.wav")
	regulartest.Refuses(t, fifo, func() error { _, err := ReadFile(fifo, DecodeOptions{}); return err })
	regulartest.Refuses(t, fifo, func() error { _, err := ReadInfo(fifo); return err })
	if _, err := ReadInfo(dir); err == nil || err.Error() != dir+": is a directory, not a regular file" {
		t.Errorf("ReadInfo(directory) = %v", err)
	}
}
