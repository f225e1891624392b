// Package mpi is a small binding to the MPI C API for data-parallel
// training: the world communicator's rank and size, in-place sums of
// float32 and float64 buffers over all processes (MPI_Allreduce with
// MPI_IN_PLACE), broadcast, barrier, abort and finalize. It uses only
// calls of the MPI standard, so Open MPI and MPICH both serve.
//
// The binding is compiled only with the build tag "mpi":
//
//	go build -tags mpi ./cmd/nextsample           # Open MPI, via pkg-config ompi-c
//	CGO_CFLAGS="$(pkg-config --cflags mpich)" CGO_LDFLAGS="$(pkg-config --libs mpich)" \
//	    go build -tags mpi,mpi_nopkgconfig ./cmd/nextsample   # any other MPI
//
// Without it (the default, pure Go build) Init returns a communicator of
// one process whose sums are no-ops, and refuses to start when the
// environment says it was launched as one of several MPI processes
// (mpirun, srun), rather than train the same thing N times.
//
// MPI is initialised with MPI_THREAD_SERIALIZED: calls may come from any
// OS thread (Go moves goroutines between threads), one at a time. Every
// process must make the same calls in the same order.
package mpi

import (
	"fmt"
	"os"
	"strconv"
)

// Comm is the world communicator of this process.
type Comm struct {
	rank, size int
	mpi        bool // MPI was initialised (and must be finalised)
}

// Rank is this process's number in the world, 0 to Size()-1.
func (c *Comm) Rank() int { return c.rank }

// Size is the number of processes.
func (c *Comm) Size() int { return c.size }

// Enabled reports whether this binary has the MPI binding.
func Enabled() bool { return enabled }

// launcherSize returns the number of processes a launcher says it started
// (Open MPI's mpirun, MPICH's hydra and Slurm's srun set these), and the
// variable that says so; 0 when none is set.
func launcherSize() (int, string) {
	for _, v := range []string{"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_STEP_NUM_TASKS"} {
		if n, err := strconv.Atoi(os.Getenv(v)); err == nil && n > 0 {
			return n, v
		}
	}
	return 0, ""
}

func errNoMPI(n int, v string) error {
	return fmt.Errorf("started as one of %d MPI processes (%s=%d), but this nextsample was built without MPI: build it with `go build -tags mpi ./cmd/nextsample` (needs libopenmpi-dev)", n, v, n)
}
