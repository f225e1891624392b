//go:build unix

package inflight

import (
	"syscall"
	"time"
)

// ProcessCPUTime is the user and system time the process has used.
func ProcessCPUTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
