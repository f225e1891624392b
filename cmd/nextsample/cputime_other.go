//go:build !unix

package main

import "time"

// processCPUTime is 0 where it is not measured: a stopping process then
// counts as idle and quits stopIdle after the signal.
func processCPUTime() time.Duration { return 0 }
