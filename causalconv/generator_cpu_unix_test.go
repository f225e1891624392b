//go:build unix

package causalconv

import "syscall"

// processCPU is the user+system CPU time of the process so far, in
// seconds, or -1 if it cannot be read.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
