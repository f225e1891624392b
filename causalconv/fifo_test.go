//go:build unix

package causalconv

import (
	"testing"

	"github.com/nextsample/nextsample/audio/regular/regulartest"
)

// TestLoadRefusesFIFO: a named pipe given as a configuration file is
// refused, naming it, without waiting for a writer (modelfile's test does
// the same for a model file).
func TestLoadRefusesFIFO(t *testing.T) {
	dir := t.TempDir()
	config := regulartest.FIFO(t, dir, "c.json")
	regulartest.Refuses(t, config, func() error { _, err := LoadConfig(config); return err })
}
