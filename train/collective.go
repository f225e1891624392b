package train

// A Collective connects the processes of a data-parallel run (package
// train/mpi provides one over MPI). Every process calls the same methods in
// the same order; each call returns when all have made it.
type Collective interface {
	// Rank is this process's number, 0 to Size()-1; rank 0 writes the
	// run's files and prints its progress.
	Rank() int
	// Size is the number of processes.
	Size() int
	// AllreduceFloat32 replaces buf, on every process, with the
	// element-wise sum of every process's buf.
	AllreduceFloat32(buf []float32) error
	// AllreduceFloat64 is AllreduceFloat32 for float64 values.
	AllreduceFloat64(buf []float64) error
	// AllgatherBytes sets recv, on every process, to every process's send
	// in rank order (len(recv) = Size()·len(send)).
	AllgatherBytes(send, recv []byte) error
	// Abort ends every process of the run with the exit code, at once.
	Abort(code int)
}
