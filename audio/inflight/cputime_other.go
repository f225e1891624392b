//go:build !unix

package inflight

import "time"

// ProcessCPUTime is 0 where it is not measured: a stopping process then
// counts as idle and quits Idle after the signal.
func ProcessCPUTime() time.Duration { return 0 }
