//go:build !unix

package causalconv

func processCPU() float64 { return -1 }
