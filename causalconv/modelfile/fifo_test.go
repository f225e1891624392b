//go:build unix

package modelfile

import (
	"testing"

	"github.com/nextsample/nextsample/audio/regular/regulartest"
)

// TestLoadRefusesFIFO: a named pipe given as a model file is refused,
// naming it, without waiting for a writer.
func TestLoadRefusesFIFO(t *testing.T) {
	model := regulartest.FIFO(t, t.TempDir(), "m.safetensors")
	regulartest.Refuses(t, model, func() error { _, err := Load(model); return err })
}
