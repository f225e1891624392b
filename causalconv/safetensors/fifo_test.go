//go:build unix

package safetensors

import (
	"testing"

	"github.com/nextsample/nextsample/audio/regular/regulartest"
)

// TestReadFileRefusesFIFO: ReadFile refuses a named pipe, naming it,
// without waiting for a writer.
func TestReadFileRefusesFIFO(t *testing.T) {
	fifo := regulartest.FIFO(t, t.TempDir(), "m.safetensors")
	regulartest.Refuses(t, fifo, func() error { _, err := ReadFile(fifo); return err })
}
