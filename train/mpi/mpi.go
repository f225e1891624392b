//go:build mpi

package mpi

/*
#include <stdlib.h>
#include <mpi.h>

static int ns_init(int *rank, int *size, int *provided) {
	int flag = 0;
	// Open MPI's own handlers for SIGSEGV and friends lack SA_ONSTACK,
	// which the Go runtime needs: leave those signals to Go.
	setenv("OMPI_MCA_opal_signal", "", 0);
	MPI_Initialized(&flag);
	if (!flag) {
		int err = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, provided);
		if (err != MPI_SUCCESS) return err;
	} else {
		MPI_Query_thread(provided);
	}
	MPI_Comm_rank(MPI_COMM_WORLD, rank);
	return MPI_Comm_size(MPI_COMM_WORLD, size);
}

static int ns_allreduce_f32(float *buf, int n) {
	return MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}

static int ns_allreduce_f64(double *buf, int n) {
	return MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

static int ns_bcast(void *buf, int n, int root) {
	return MPI_Bcast(buf, n, MPI_BYTE, root, MPI_COMM_WORLD);
}

static int ns_allgather(void *send, int n, void *recv) {
	return MPI_Allgather(send, n, MPI_BYTE, recv, n, MPI_BYTE, MPI_COMM_WORLD);
}

static int ns_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }
static void ns_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }
static int ns_finalize(void) { return MPI_Finalize(); }

static int ns_error_string(int err, char *buf, int cap) {
	int n = 0;
	if (MPI_Error_string(err, buf, &n) != MPI_SUCCESS) return 0;
	return n;
}
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"
)

const enabled = true

// Init initialises MPI (once per process) and returns the world
// communicator. Run without a launcher, it is a world of one process.
func Init() (*Comm, error) {
	var rank, size, provided C.int
	if err := C.ns_init(&rank, &size, &provided); err != C.MPI_SUCCESS {
		return nil, fmt.Errorf("MPI_Init_thread: %s", errorString(err))
	}
	if provided < C.MPI_THREAD_SERIALIZED {
		return nil, fmt.Errorf("MPI_Init_thread: this MPI provides thread level %d, below MPI_THREAD_SERIALIZED", int(provided))
	}
	return &Comm{rank: int(rank), size: int(size), mpi: true}, nil
}

func errorString(err C.int) string {
	buf := make([]byte, C.MPI_MAX_ERROR_STRING)
	n := C.ns_error_string(err, (*C.char)(unsafe.Pointer(&buf[0])), C.int(len(buf)))
	if n <= 0 {
		return fmt.Sprintf("MPI error %d", int(err))
	}
	return string(buf[:n])
}

// maxCount is the largest count of one MPI call (its count is an int).
const maxCount = math.MaxInt32

// AllreduceFloat32 replaces buf, on every process, with the element-wise
// sum of every process's buf. Buffers longer than 2³¹−1 values are summed
// in pieces.
func (c *Comm) AllreduceFloat32(buf []float32) error {
	for len(buf) > 0 {
		n := min(len(buf), maxCount)
		if err := C.ns_allreduce_f32((*C.float)(unsafe.Pointer(&buf[0])), C.int(n)); err != C.MPI_SUCCESS {
			return fmt.Errorf("MPI_Allreduce: %s", errorString(err))
		}
		buf = buf[n:]
	}
	return nil
}

// AllreduceFloat64 is AllreduceFloat32 for float64 values.
func (c *Comm) AllreduceFloat64(buf []float64) error {
	for len(buf) > 0 {
		n := min(len(buf), maxCount)
		if err := C.ns_allreduce_f64((*C.double)(unsafe.Pointer(&buf[0])), C.int(n)); err != C.MPI_SUCCESS {
			return fmt.Errorf("MPI_Allreduce: %s", errorString(err))
		}
		buf = buf[n:]
	}
	return nil
}

// BroadcastBytes copies root's buf into every other process's buf (all
// of the same length).
func (c *Comm) BroadcastBytes(buf []byte, root int) error {
	for len(buf) > 0 {
		n := min(len(buf), maxCount)
		if err := C.ns_bcast(unsafe.Pointer(&buf[0]), C.int(n), C.int(root)); err != C.MPI_SUCCESS {
			return fmt.Errorf("MPI_Bcast: %s", errorString(err))
		}
		buf = buf[n:]
	}
	return nil
}

// AllgatherBytes sets recv, on every process, to the concatenation of every
// process's send in rank order; len(recv) must be Size()·len(send).
func (c *Comm) AllgatherBytes(send, recv []byte) error {
	if len(recv) != c.size*len(send) {
		return fmt.Errorf("MPI_Allgather: %d bytes to receive for %d × %d sent", len(recv), c.size, len(send))
	}
	if len(send) == 0 {
		return nil
	}
	if len(send) > maxCount {
		return fmt.Errorf("MPI_Allgather: %d bytes is more than one call takes", len(send))
	}
	if err := C.ns_allgather(unsafe.Pointer(&send[0]), C.int(len(send)), unsafe.Pointer(&recv[0])); err != C.MPI_SUCCESS {
		return fmt.Errorf("MPI_Allgather: %s", errorString(err))
	}
	return nil
}

// Barrier returns when every process has called it.
func (c *Comm) Barrier() error {
	if err := C.ns_barrier(); err != C.MPI_SUCCESS {
		return fmt.Errorf("MPI_Barrier: %s", errorString(err))
	}
	return nil
}

// Abort ends every process of the job with code (MPI_Abort); it does not
// return.
func (c *Comm) Abort(code int) { C.ns_abort(C.int(code)) }

// Finalize shuts MPI down; call it once, after the last collective.
func (c *Comm) Finalize() error {
	if !c.mpi {
		return nil
	}
	c.mpi = false
	if err := C.ns_finalize(); err != C.MPI_SUCCESS {
		return fmt.Errorf("MPI_Finalize: %s", errorString(err))
	}
	return nil
}
