//go:build unix

package torchpt_test

import (
	"testing"

	"github.com/nextsample/nextsample/audio/regular/regulartest"
	"github.com/nextsample/nextsample/causalconv/torchpt"
)

// TestOpenRefusesFIFO: Open refuses a named pipe, naming it, without
// waiting for a writer.
func TestOpenRefusesFIFO(t *testing.T) {
	fifo := regulartest.FIFO(t, t.TempDir(), "m.pt")
	regulartest.Refuses(t, fifo, func() error {
		f, err := torchpt.Open(fifo)
		if err == nil {
			f.Close()
		}
		return err
	})
}
