package kernels

// The panel geometry shared by the AVX-512 kernels and the packed layout
// of GemmNNBF16Packed (which Reference reads too, so it is defined here
// for every architecture).

// tileCols is the width of a packed panel and of an AVX-512 register
// tile: three zmm of 16 floats (or of 16 bf16 pairs).
const tileCols = 48

// nextPanel returns the width of the next panel when rest columns are
// left, for vectors of lanes floats: three vectors, except that when more
// than three and at most four vectors' worth are left they are split two
// and two (a 64-column product as 32 + 32, not 48 + 16): the narrow
// kernels have fewer independent accumulators and more loads per FMA.
func nextPanel(rest, lanes int) int {
	if rest > 3*lanes && rest <= 4*lanes {
		return 2 * lanes
	}
	return min(3*lanes, rest)
}

// vectors is the number of vectors of lanes floats that cover w columns.
func vectors(w, lanes int) int { return (w + lanes - 1) / lanes }

// colMask has the low w (≤ 64) bits set.
func colMask(w int) uint64 {
	if w >= 64 {
		return ^uint64(0)
	}
	return uint64(1)<<w - 1
}
