//go:build mpi && !mpi_nopkgconfig

package mpi

// #cgo pkg-config: ompi-c
import "C"
