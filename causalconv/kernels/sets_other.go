//go:build !amd64 || purego

package kernels

func sets() []Set {
	return []Set{Reference(), Generic()}
}
