// Package featio reads and writes frame-feature matrices (one row of
// float32 values per frame, typically one frame per 10 ms) in the formats
// speech recognizers load directly:
//
//   - Kaldi archives: binary "ark" files with an "scp" index of byte
//     offsets (Kaldi, ESPnet, k2/lhotse and kaldiio read them), and the
//     text form of the same archive;
//   - NumPy ".npy" files, version 1.0, little-endian float32, shape
//     (frames, dims), one per utterance (numpy.load, PyTorch, SpeechBrain);
//   - HTK parameter files, one per utterance (HTK, and most toolkits that
//     descend from it).
//
// Each format has a writer for one matrix (WriteArkEntry, WriteNpy,
// WriteHTK) and a reader that treats its input as untrusted: sizes are
// checked against the bytes actually present before anything is allocated,
// and malformed input gives an error, never a panic.
//
// On top of those, a [Writer] stores a whole corpus in one output folder,
// atomically (nothing is visible under the final names until Close
// succeeds), with a features.json [Sidecar] that records how the features
// were made; [Open] finds and loads them back.
package featio

import "fmt"

// Matrix is a frames × dims matrix of float32, row-major: row t, the
// features of frame t, is Data[t*Cols : (t+1)*Cols].
type Matrix struct {
	Rows, Cols int
	Data       []float32
}

// NewMatrix returns a zero rows × cols matrix.
func NewMatrix(rows, cols int) Matrix {
	return Matrix{Rows: rows, Cols: cols, Data: make([]float32, rows*cols)}
}

// Row returns row t, sharing storage with m.
func (m Matrix) Row(t int) []float32 {
	return m.Data[t*m.Cols : (t+1)*m.Cols : (t+1)*m.Cols]
}

// check reports whether the shape is consistent with the data and fits
// the 32-bit sizes of the file formats.
func (m Matrix) check() error {
	if m.Rows < 0 || m.Cols < 0 || m.Rows > maxInt32 || m.Cols > maxInt32 {
		return fmt.Errorf("matrix shape %d×%d out of range", m.Rows, m.Cols)
	}
	if int64(m.Rows)*int64(m.Cols) != int64(len(m.Data)) {
		return fmt.Errorf("matrix %d×%d holds %d values", m.Rows, m.Cols, len(m.Data))
	}
	return nil
}

const maxInt32 = 1<<31 - 1
