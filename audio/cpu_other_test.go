//go:build !unix

package audio

func cpuSeconds() float64 { return -1 }
