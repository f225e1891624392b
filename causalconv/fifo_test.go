//go:build unix

package causalconv

import (
	"testing"

	"github.com/nextsample/nextsample/audio/regular/regulartest"
)

// TestLoadRefusesFIFO: a named pipe given as a model file or a
// configuration file is refused, naming it, without waiting for a writer.
func TestLoadRefusesFIFO(t *testing.T) {
	dir := t.TempDir()
	model := regulartest.FIFO(t, dir, "m.safetensors")
	regulartest.Refuses(t, model, func() error { _, err := Load(model); return err })
	config := regulartest.FIFO(t, dir, "c.json")
	regulartest.Refuses(t, config, func() error { _, err := LoadConfig(config); return err })
}
