package featio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// HTK parameter files (The HTK Book, §5.10.1): a 12-byte big-endian
// header
//
//	nSamples   int32   number of frames
//	sampPeriod int32   frame period in 100 ns units (100000 = 10 ms)
//	sampSize   int16   bytes per frame (4·dims for float features)
//	parmKind   uint16  base kind in the low 6 bits, qualifier flags above
//
// followed by nSamples frames of big-endian float32.

// HTK base parameter kinds.
const (
	HTKWaveform = 0
	HTKLPC      = 1
	HTKMFCC     = 6
	HTKFbank    = 7
	HTKMelSpec  = 8
	HTKUser     = 9 // user-defined features: what nextsample's learned features are
	HTKDiscrete = 10
	HTKPLP      = 11
)

// HTK parameter kind qualifiers, ORed into parmKind. Kaldi-layout MFCCs
// with log energy in place of C0 are best declared plain HTKMFCC:
// HTKQualE means an energy term appended last and HTKQual0 a C0 appended
// last, which is HTK's order, not Kaldi's (energy first).
const (
	HTKQualE = 0o000100 // _E: has log energy
	HTKQualN = 0o000200 // _N: absolute energy suppressed
	HTKQualD = 0o000400 // _D: has delta coefficients
	HTKQualA = 0o001000 // _A: has acceleration coefficients
	HTKQualC = 0o002000 // _C: compressed (not supported here)
	HTKQualZ = 0o004000 // _Z: zero mean
	HTKQualK = 0o010000 // _K: CRC checksum appended (not supported here)
	HTKQual0 = 0o020000 // _0: has C0
	HTKQualV = 0o040000 // _V: VQ data
	HTKQualT = 0o100000 // _T: third differential
)

const htkHeaderSize = 12

// HTKHeader is the header of an HTK parameter file.
type HTKHeader struct {
	NSamples   int32
	SampPeriod int32 // 100 ns units
	SampSize   int16 // bytes per frame
	ParmKind   uint16
}

// WriteHTK writes m as an HTK parameter file with frame period
// sampPeriod (in 100 ns units: 100000 for a 10 ms hop) and parmKind
// (HTKUser for learned features, HTKFbank or HTKMFCC for the baselines).
func WriteHTK(w io.Writer, m Matrix, sampPeriod int32, parmKind uint16) error {
	if err := m.check(); err != nil {
		return err
	}
	if m.Cols*4 > math.MaxInt16 {
		return fmt.Errorf("HTK frames are at most %d float32 values, got %d", math.MaxInt16/4, m.Cols)
	}
	if sampPeriod <= 0 {
		return fmt.Errorf("HTK sample period %d must be positive", sampPeriod)
	}
	if parmKind&(HTKQualC|HTKQualK) != 0 {
		return errors.New("compressed (_C) or checksummed (_K) HTK output is not supported")
	}
	buf := make([]byte, 0, htkHeaderSize+4*len(m.Data))
	buf = binary.BigEndian.AppendUint32(buf, uint32(m.Rows))
	buf = binary.BigEndian.AppendUint32(buf, uint32(sampPeriod))
	buf = binary.BigEndian.AppendUint16(buf, uint16(4*m.Cols))
	buf = binary.BigEndian.AppendUint16(buf, parmKind)
	for _, v := range m.Data {
		buf = binary.BigEndian.AppendUint32(buf, math.Float32bits(v))
	}
	_, err := w.Write(buf)
	return err
}

// ReadHTK parses an HTK parameter file of float features. Compressed
// (_C) and checksummed (_K) files and waveform or discrete data (16-bit
// samples) are rejected. name is used in errors.
func ReadHTK(name string, data []byte) (Matrix, HTKHeader, error) {
	m, h, err := readHTK(data)
	if err != nil {
		return Matrix{}, h, fmt.Errorf("featio: %s: %w", name, err)
	}
	return m, h, nil
}

func readHTK(data []byte) (Matrix, HTKHeader, error) {
	var h HTKHeader
	if len(data) < htkHeaderSize {
		return Matrix{}, h, fmt.Errorf("HTK header truncated (%d bytes)", len(data))
	}
	h.NSamples = int32(binary.BigEndian.Uint32(data[0:]))
	h.SampPeriod = int32(binary.BigEndian.Uint32(data[4:]))
	h.SampSize = int16(binary.BigEndian.Uint16(data[8:]))
	h.ParmKind = binary.BigEndian.Uint16(data[10:])
	switch base := h.ParmKind & 0o77; {
	case h.ParmKind&HTKQualC != 0:
		return Matrix{}, h, errors.New("compressed HTK files (_C) are not supported")
	case h.ParmKind&HTKQualK != 0:
		return Matrix{}, h, errors.New("checksummed HTK files (_K) are not supported")
	case base == HTKWaveform || base == HTKDiscrete || h.ParmKind&HTKQualV != 0:
		return Matrix{}, h, fmt.Errorf("parameter kind %#o holds 16-bit samples, not float features", h.ParmKind)
	}
	if h.NSamples < 0 {
		return Matrix{}, h, fmt.Errorf("negative frame count %d", h.NSamples)
	}
	if h.SampSize <= 0 || h.SampSize%4 != 0 {
		return Matrix{}, h, fmt.Errorf("frame size %d bytes is not a positive multiple of 4", h.SampSize)
	}
	body := data[htkHeaderSize:]
	cols := int(h.SampSize) / 4
	if need := int64(h.NSamples) * int64(h.SampSize); need != int64(len(body)) {
		return Matrix{}, h, fmt.Errorf("%d frames of %d bytes need %d data bytes, file has %d", h.NSamples, h.SampSize, need, len(body))
	}
	m := NewMatrix(int(h.NSamples), cols)
	for i := range m.Data {
		m.Data[i] = math.Float32frombits(binary.BigEndian.Uint32(body[4*i:]))
	}
	return m, h, nil
}
