//go:build !mpi

package mpi

import (
	"fmt"
	"os"
)

const enabled = false

// Init returns the communicator of this single process. It fails when a
// launcher started several processes, since this build cannot join them.
func Init() (*Comm, error) {
	if n, v := launcherSize(); n > 1 {
		return nil, errNoMPI(n, v)
	}
	return &Comm{rank: 0, size: 1}, nil
}

// AllreduceFloat32 is the sum over one process: buf as it is.
func (c *Comm) AllreduceFloat32(buf []float32) error { return nil }

// AllreduceFloat64 is the sum over one process: buf as it is.
func (c *Comm) AllreduceFloat64(buf []float64) error { return nil }

// BroadcastBytes from the only process does nothing.
func (c *Comm) BroadcastBytes(buf []byte, root int) error { return nil }

// AllgatherBytes of one process copies send to recv.
func (c *Comm) AllgatherBytes(send, recv []byte) error {
	if len(recv) != len(send) {
		return fmt.Errorf("allgather: %d bytes to receive for %d sent", len(recv), len(send))
	}
	copy(recv, send)
	return nil
}

// Barrier returns at once.
func (c *Comm) Barrier() error { return nil }

// Abort exits the process with code.
func (c *Comm) Abort(code int) { os.Exit(code) }

// Finalize does nothing.
func (c *Comm) Finalize() error { return nil }
