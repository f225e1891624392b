//go:build unix

package features

import (
	"testing"

	"github.com/nextsample/nextsample/audio/regular/regulartest"
)

// TestFileSHA256RefusesFIFO: the model file hashed for features.json is
// not waited on when it is a named pipe.
func TestFileSHA256RefusesFIFO(t *testing.T) {
	fifo := regulartest.FIFO(t, t.TempDir(), "m.safetensors")
	regulartest.Refuses(t, fifo, func() error { _, err := FileSHA256(fifo); return err })
}
