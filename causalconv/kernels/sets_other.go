//go:build !amd64

package kernels

func sets() []Set {
	return []Set{Reference(), Generic()}
}
