//go:build !mpi

package mpi

import (
	"strings"
	"testing"
)

func TestInitAlone(t *testing.T) {
	for _, v := range []string{"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_STEP_NUM_TASKS"} {
		t.Setenv(v, "")
	}
	c, err := Init()
	if err != nil {
		t.Fatal(err)
	}
	buf := []float32{1, 2}
	if c.Rank() != 0 || c.Size() != 1 || c.AllreduceFloat32(buf) != nil || buf[1] != 2 || Enabled() {
		t.Fatalf("a build without MPI is not one process: rank %d, size %d", c.Rank(), c.Size())
	}
}

// Launched by mpirun (or srun) with several processes, a build without MPI
// refuses to start rather than train the same thing N times.
func TestInitRefusesLauncherWithoutMPI(t *testing.T) {
	t.Setenv("OMPI_COMM_WORLD_SIZE", "2")
	_, err := Init()
	if err == nil || !strings.Contains(err.Error(), "-tags mpi") {
		t.Fatalf("Init under a 2-process launcher without MPI: %v", err)
	}
	t.Setenv("OMPI_COMM_WORLD_SIZE", "1")
	if _, err := Init(); err != nil {
		t.Fatalf("a 1-process launch: %v", err)
	}
}
