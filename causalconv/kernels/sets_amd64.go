package kernels

func sets() []Set {
	return []Set{Reference(), Generic()}
}
