package featio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// NumPy's .npy format, version 1.0 (numpy/lib/format.py): the magic
// "\x93NUMPY", the version bytes 1 0, a little-endian uint16 header
// length, then the header, an ASCII Python dict literal
//
//	{'descr': '<f4', 'fortran_order': False, 'shape': (98, 23), }
//
// padded with spaces and ended by '\n' so that the data starts at a
// multiple of 64 bytes, then the data, C order. Like numpy 1.24, the
// writer leaves 21 − len(str(rows)) extra spaces before the padding so
// the row count can grow in place; the result is byte-identical to
// numpy.save of a float32 array of the same shape.

const (
	npyMagic     = "\x93NUMPY"
	npyAlign     = 64
	npyGrowthMax = 21 // numpy's GROWTH_AXIS_MAX_DIGITS
)

// WriteNpy writes m as a version 1.0 .npy file of dtype '<f4' and shape
// (Rows, Cols).
func WriteNpy(w io.Writer, m Matrix) error {
	if err := m.check(); err != nil {
		return err
	}
	rows := strconv.Itoa(m.Rows)
	dict := "{'descr': '<f4', 'fortran_order': False, 'shape': (" + rows + ", " + strconv.Itoa(m.Cols) + "), }"
	dict += strings.Repeat(" ", npyGrowthMax-len(rows))
	hlen := len(dict) + 1 // + '\n'
	pad := npyAlign - (len(npyMagic)+2+2+hlen)%npyAlign
	total := len(npyMagic) + 2 + 2 + hlen + pad
	buf := make([]byte, 0, total+4*len(m.Data))
	buf = append(buf, npyMagic...)
	buf = append(buf, 1, 0)
	buf = binary.LittleEndian.AppendUint16(buf, uint16(hlen+pad))
	buf = append(buf, dict...)
	buf = append(buf, bytes.Repeat([]byte{' '}, pad)...)
	buf = append(buf, '\n')
	for _, v := range m.Data {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
	}
	_, err := w.Write(buf)
	return err
}

// ReadNpy parses a .npy file holding a 2-D float array: versions 1.0,
// 2.0 and 3.0, dtype float32 or float64 in either byte order (float64 is
// converted to float32), C or Fortran order. name is used in errors.
func ReadNpy(name string, data []byte) (Matrix, error) {
	m, err := readNpy(data)
	if err != nil {
		return Matrix{}, fmt.Errorf("featio: %s: %w", name, err)
	}
	return m, nil
}

func readNpy(data []byte) (Matrix, error) {
	if len(data) < len(npyMagic)+4 || string(data[:len(npyMagic)]) != npyMagic {
		return Matrix{}, errors.New("not a .npy file (no \\x93NUMPY magic)")
	}
	major := data[6]
	var hlen, start int
	switch major {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(data[8:])), 10
	case 2, 3:
		if len(data) < 12 {
			return Matrix{}, errors.New("truncated .npy header")
		}
		h := binary.LittleEndian.Uint32(data[8:])
		if int64(h) > int64(len(data)) {
			return Matrix{}, fmt.Errorf("header length %d exceeds the file", h)
		}
		hlen, start = int(h), 12
	default:
		return Matrix{}, fmt.Errorf("unsupported .npy version %d.%d", major, data[7])
	}
	if start+hlen > len(data) {
		return Matrix{}, fmt.Errorf("header of %d bytes is truncated (file has %d)", hlen, len(data))
	}
	h, err := parseNpyHeader(string(data[start : start+hlen]))
	if err != nil {
		return Matrix{}, err
	}
	var elem int
	var order binary.ByteOrder
	switch h.descr {
	case "<f4", "=f4":
		elem, order = 4, binary.LittleEndian
	case ">f4":
		elem, order = 4, binary.BigEndian
	case "<f8", "=f8":
		elem, order = 8, binary.LittleEndian
	case ">f8":
		elem, order = 8, binary.BigEndian
	default:
		return Matrix{}, fmt.Errorf("dtype %q is not float32 or float64", h.descr)
	}
	if len(h.shape) != 2 {
		return Matrix{}, fmt.Errorf("shape %v is not 2-D (frames, dims)", h.shape)
	}
	rows, cols := h.shape[0], h.shape[1]
	body := data[start+hlen:]
	if rows > maxInt32 || cols > maxInt32 {
		return Matrix{}, fmt.Errorf("shape (%d, %d) too large", rows, cols)
	}
	if !fits(int64(rows), int64(cols), int64(elem), int64(len(body))) || int64(rows)*int64(cols)*int64(elem) != int64(len(body)) {
		return Matrix{}, fmt.Errorf("shape (%d, %d) of %s needs %.0f data bytes, file has %d", rows, cols, h.descr, float64(rows)*float64(cols)*float64(elem), len(body))
	}
	m := NewMatrix(rows, cols)
	for i := range m.Data {
		// Element i of the file; in Fortran order it is (i%rows, i/rows).
		var v float32
		if elem == 4 {
			v = math.Float32frombits(order.Uint32(body[4*i:]))
		} else {
			v = float32(math.Float64frombits(order.Uint64(body[8*i:])))
		}
		if h.fortran {
			m.Data[(i%rows)*cols+i/rows] = v
		} else {
			m.Data[i] = v
		}
	}
	return m, nil
}

type npyHeader struct {
	descr   string
	fortran bool
	shape   []int
}

// parseNpyHeader parses the dict literal numpy writes: exactly the keys
// 'descr' (a string), 'fortran_order' (True/False) and 'shape' (a tuple of
// non-negative integers), in any order, with optional trailing commas and
// whitespace. It is not a Python parser; it accepts what numpy writes.
func parseNpyHeader(s string) (npyHeader, error) {
	var h npyHeader
	p := &npyLexer{s: s}
	if !p.take('{') {
		return h, errors.New("header is not a dict")
	}
	seen := map[string]bool{}
	for {
		if p.take('}') {
			break
		}
		key, ok := p.str()
		if !ok {
			return h, fmt.Errorf("header: expected a quoted key at byte %d", p.i)
		}
		if seen[key] {
			return h, fmt.Errorf("header: key %q repeated", key)
		}
		seen[key] = true
		if !p.take(':') {
			return h, fmt.Errorf("header: expected ':' after %q", key)
		}
		switch key {
		case "descr":
			v, ok := p.str()
			if !ok {
				return h, errors.New("header: descr is not a string (structured dtypes are not supported)")
			}
			h.descr = v
		case "fortran_order":
			switch {
			case p.word("True"):
				h.fortran = true
			case p.word("False"):
			default:
				return h, errors.New("header: fortran_order is not True or False")
			}
		case "shape":
			if !p.take('(') {
				return h, errors.New("header: shape is not a tuple")
			}
			for !p.take(')') {
				n, ok := p.int()
				if !ok {
					return h, errors.New("header: shape holds something other than non-negative integers")
				}
				if len(h.shape) == 8 {
					return h, errors.New("header: shape has too many dimensions")
				}
				h.shape = append(h.shape, n)
				if !p.take(',') && !p.peek(')') {
					return h, errors.New("header: malformed shape tuple")
				}
			}
		default:
			return h, fmt.Errorf("header: unexpected key %q", key)
		}
		if !p.take(',') && !p.peek('}') {
			return h, errors.New("header: expected ',' or '}'")
		}
	}
	if rest := strings.TrimSpace(s[p.i:]); rest != "" {
		return h, errors.New("header: data after the dict")
	}
	if !seen["descr"] || !seen["fortran_order"] || !seen["shape"] {
		return h, errors.New("header: needs descr, fortran_order and shape")
	}
	return h, nil
}

type npyLexer struct {
	s string
	i int
}

func (p *npyLexer) skip() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\n' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *npyLexer) peek(c byte) bool {
	p.skip()
	return p.i < len(p.s) && p.s[p.i] == c
}

func (p *npyLexer) take(c byte) bool {
	if p.peek(c) {
		p.i++
		return true
	}
	return false
}

func (p *npyLexer) word(w string) bool {
	p.skip()
	if strings.HasPrefix(p.s[p.i:], w) {
		p.i += len(w)
		return true
	}
	return false
}

func (p *npyLexer) str() (string, bool) {
	p.skip()
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", false
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", false
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, true
}

func (p *npyLexer) int() (int, bool) {
	p.skip()
	start := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	// Python 2 wrote long integers as 12L.
	digits := p.s[start:p.i]
	if p.i < len(p.s) && p.s[p.i] == 'L' {
		p.i++
	}
	if digits == "" || len(digits) > 10 {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	return n, err == nil
}
