package featio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nextsample/nextsample/audio/regular"
)

// Kaldi's table formats, as written by its MatrixWriter (util/kaldi-table,
// matrix/kaldi-matrix.cc Matrix::Write, base/io-funcs WriteBasicType):
//
// A binary archive entry is the key, one space, then the binary-mode
// marker "\0B", the token "FM " (float matrix; "DM " is double), then
// rows and cols each as one size byte (4) followed by an int32
// little-endian, then rows·cols float32 little-endian, row-major:
//
//	utt1 \0BFM \x04<rows int32>\x04<cols int32><data>utt2 \0BFM ...
//
// An scp line gives the key and where the entry starts,
// "key path.ark:offset", the offset pointing at the "\0B".
//
// The text archive (ark,t) entry is "key  [" then, per row, "\n  " and
// each value followed by a space, then "]\n"; values are printed with 7
// significant digits, as C++ streams do with Kaldi's precision(7). A
// matrix without columns is "key  [ ]\n".

// binaryMarker starts every binary object in a Kaldi stream.
const binaryMarker = "\x00B"

// arkHeaderSize is the size of "\0BFM \x04rrrr\x04cccc".
const arkHeaderSize = 2 + 3 + 5 + 5

// CheckKey reports whether key can be a Kaldi table key: non-empty,
// valid UTF-8, printable, with no whitespace (Kaldi's IsToken).
func CheckKey(key string) error {
	if key == "" {
		return errors.New("empty key")
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("key %q is not valid UTF-8", key)
	}
	for _, r := range key {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return fmt.Errorf("key %q contains whitespace or a control character, which Kaldi tables cannot hold", key)
		}
	}
	return nil
}

// WriteArkEntry writes one binary archive entry for key and returns the
// number of bytes written. The entry's scp offset is the archive's length
// before the call plus len(key)+1.
func WriteArkEntry(w io.Writer, key string, m Matrix) (int64, error) {
	if err := CheckKey(key); err != nil {
		return 0, err
	}
	if err := m.check(); err != nil {
		return 0, fmt.Errorf("%s: %w", key, err)
	}
	rows, cols := m.Rows, m.Cols
	if rows == 0 || cols == 0 {
		// Kaldi's matrices are 0×0 when empty.
		rows, cols = 0, 0
	}
	buf := make([]byte, 0, len(key)+1+arkHeaderSize+4*len(m.Data))
	buf = append(buf, key...)
	buf = append(buf, ' ')
	buf = append(buf, binaryMarker...)
	buf = append(buf, "FM "...)
	buf = append(buf, 4)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(rows))
	buf = append(buf, 4)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(cols))
	if rows > 0 {
		for _, v := range m.Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
	}
	n, err := w.Write(buf)
	return int64(n), err
}

// WriteArkTextEntry writes one text archive entry for key.
func WriteArkTextEntry(w io.Writer, key string, m Matrix) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if err := m.check(); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	bw := bufio.NewWriter(w)
	bw.WriteString(key)
	bw.WriteByte(' ')
	if m.Cols == 0 {
		bw.WriteString(" [ ]\n")
		return bw.Flush()
	}
	bw.WriteString(" [")
	var num []byte
	for t := range m.Rows {
		bw.WriteString("\n  ")
		for _, v := range m.Row(t) {
			num = appendKaldiFloat(num[:0], v)
			bw.Write(num)
			bw.WriteByte(' ')
		}
	}
	bw.WriteString("]\n")
	return bw.Flush()
}

// appendKaldiFloat formats v as a C++ ostream with precision 7 does
// (printf's %.7g), including its spelling of infinities and NaN.
func appendKaldiFloat(dst []byte, v float32) []byte {
	switch f := float64(v); {
	case math.IsNaN(f):
		return append(dst, "nan"...)
	case math.IsInf(f, 1):
		return append(dst, "inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-inf"...)
	default:
		return strconv.AppendFloat(dst, f, 'g', 7, 64)
	}
}

// ArkEntry is one matrix of an archive, with the byte offset of its
// binary marker (what an scp line points at; for text entries, the
// offset of the value after the key).
type ArkEntry struct {
	Key    string
	Offset int64
	Matrix Matrix
}

// ReadArk parses a whole Kaldi archive, binary or text or a mix of both
// entry by entry (as Kaldi allows), holding float ("FM") or double ("DM",
// converted to float32) matrices. Compressed matrices ("CM") are not
// supported. name is used in error messages.
func ReadArk(name string, data []byte) ([]ArkEntry, error) {
	var out []ArkEntry
	p := 0
	for {
		// Kaldi skips whitespace before a key.
		for p < len(data) && isSpace(data[p]) {
			p++
		}
		if p == len(data) {
			return out, nil
		}
		start := p
		for p < len(data) && !isSpace(data[p]) {
			p++
		}
		key := string(data[start:p])
		if p == len(data) {
			return nil, fmt.Errorf("featio: %s: byte %d: key %.40q is not followed by a value", name, start, key)
		}
		if data[p] != ' ' {
			return nil, fmt.Errorf("featio: %s: byte %d: key %.40q must be followed by a space", name, p, key)
		}
		p++
		if err := CheckKey(key); err != nil {
			return nil, fmt.Errorf("featio: %s: byte %d: %w", name, start, err)
		}
		var (
			m   Matrix
			n   int
			err error
		)
		if bytes.HasPrefix(data[p:], []byte(binaryMarker)) {
			m, n, err = parseBinaryMatrix(data[p:])
		} else {
			m, n, err = parseTextMatrix(data[p:])
		}
		if err != nil {
			return nil, fmt.Errorf("featio: %s: entry %q at byte %d: %w", name, key, p, err)
		}
		out = append(out, ArkEntry{Key: key, Offset: int64(p), Matrix: m})
		p += n
	}
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f'
}

// parseBinaryMatrix parses "\0BFM \x04rows\x04cols data" (or DM, double)
// at the start of b and returns the matrix and the bytes consumed.
func parseBinaryMatrix(b []byte) (Matrix, int, error) {
	if len(b) < arkHeaderSize {
		return Matrix{}, 0, fmt.Errorf("binary matrix header truncated (%d bytes)", len(b))
	}
	var elem int
	switch tok := string(b[2:5]); tok {
	case "FM ":
		elem = 4
	case "DM ":
		elem = 8
	default:
		if tok[:2] == "CM" {
			return Matrix{}, 0, errors.New("compressed matrices (CM) are not supported; write features with --compress=false")
		}
		return Matrix{}, 0, fmt.Errorf("expected token FM or DM, got %q", tok)
	}
	if b[5] != 4 || b[10] != 4 {
		return Matrix{}, 0, fmt.Errorf("matrix sizes must be 4-byte integers (size bytes %d, %d)", b[5], b[10])
	}
	rows := int32(binary.LittleEndian.Uint32(b[6:]))
	cols := int32(binary.LittleEndian.Uint32(b[11:]))
	if rows < 0 || cols < 0 {
		return Matrix{}, 0, fmt.Errorf("negative matrix size %d×%d", rows, cols)
	}
	if (rows == 0) != (cols == 0) {
		return Matrix{}, 0, fmt.Errorf("matrix size %d×%d: Kaldi matrices are empty in both dimensions or neither", rows, cols)
	}
	left := int64(len(b) - arkHeaderSize)
	if !fits(int64(rows), int64(cols), int64(elem), left) {
		return Matrix{}, 0, fmt.Errorf("matrix %d×%d of %d-byte values does not fit in the %d bytes left", rows, cols, elem, left)
	}
	need := int64(rows) * int64(cols) * int64(elem)
	m := NewMatrix(int(rows), int(cols))
	d := b[arkHeaderSize:]
	if elem == 4 {
		for i := range m.Data {
			m.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:]))
		}
	} else {
		for i := range m.Data {
			m.Data[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(d[8*i:])))
		}
	}
	return m, arkHeaderSize + int(need), nil
}

// parseTextMatrix parses Kaldi's text matrix "[ v v \n v v ]" at the
// start of b (after optional spaces), following Matrix::Read: rows end at
// a newline or ';', the matrix at ']' (and one newline after it).
func parseTextMatrix(b []byte) (Matrix, int, error) {
	p := 0
	for p < len(b) && isSpace(b[p]) {
		p++
	}
	if p == len(b) || b[p] != '[' {
		return Matrix{}, 0, errors.New(`expected "[" (text matrix) or "\0B" (binary)`)
	}
	p++
	var (
		data []float32
		cols = -1
		cur  int // values in the current row
		rows int
	)
	endRow := func() error {
		if cur == 0 {
			return nil
		}
		if cols >= 0 && cur != cols {
			return fmt.Errorf("row %d has %d values, row 0 has %d", rows, cur, cols)
		}
		cols, cur = cur, 0
		rows++
		return nil
	}
	for {
		if p == len(b) {
			return Matrix{}, 0, errors.New("text matrix not closed by ]")
		}
		switch c := b[p]; {
		case c == ']':
			p++
			if p < len(b) && b[p] == '\r' {
				p++
			}
			if p < len(b) && b[p] == '\n' {
				p++
			}
			if err := endRow(); err != nil {
				return Matrix{}, 0, err
			}
			if rows == 0 {
				return Matrix{}, p, nil
			}
			return Matrix{Rows: rows, Cols: cols, Data: data}, p, nil
		case c == '\n' || c == ';':
			p++
			if err := endRow(); err != nil {
				return Matrix{}, 0, err
			}
		case isSpace(c):
			p++
		default:
			start := p
			for p < len(b) && !isSpace(b[p]) && b[p] != ']' && b[p] != ';' {
				p++
			}
			v, err := parseKaldiFloat(string(b[start:p]))
			if err != nil {
				return Matrix{}, 0, err
			}
			if rows > maxInt32 || len(data) >= maxInt32 {
				return Matrix{}, 0, errors.New("text matrix too large")
			}
			data = append(data, v)
			cur++
		}
	}
}

func parseKaldiFloat(s string) (float32, error) {
	switch strings.ToLower(s) {
	case "inf", "infinity", "+inf":
		return float32(math.Inf(1)), nil
	case "-inf", "-infinity":
		return float32(math.Inf(-1)), nil
	case "nan", "-nan":
		return float32(math.NaN()), nil
	}
	v, err := strconv.ParseFloat(s, 32)
	if err != nil {
		var numErr *strconv.NumError
		if errors.As(err, &numErr) && numErr.Err == strconv.ErrRange {
			return float32(v), nil // ±Inf or 0, as C++ streams give
		}
		return 0, fmt.Errorf("expected a number, got %.40q", s)
	}
	return float32(v), nil
}

// ScpEntry is one line of an scp file: a key and where its matrix is.
type ScpEntry struct {
	Key    string
	Path   string
	Offset int64
}

// ReadScp parses an scp file of "key path:offset" lines (the form Kaldi
// writes for archives). Blank lines are skipped. name is used in errors.
func ReadScp(name string, data []byte) ([]ScpEntry, error) {
	var out []ScpEntry
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		key, rx, ok := strings.Cut(strings.TrimLeft(line, " \t"), " ")
		rx = strings.TrimSpace(rx)
		if !ok || rx == "" {
			return nil, fmt.Errorf("featio: %s:%d: want \"key path:offset\", got %.60q", name, i+1, line)
		}
		if err := CheckKey(key); err != nil {
			return nil, fmt.Errorf("featio: %s:%d: %w", name, i+1, err)
		}
		colon := strings.LastIndexByte(rx, ':')
		if colon < 1 {
			return nil, fmt.Errorf("featio: %s:%d: %.60q has no :offset", name, i+1, rx)
		}
		off, err := strconv.ParseInt(rx[colon+1:], 10, 64)
		if err != nil || off < 0 {
			return nil, fmt.Errorf("featio: %s:%d: bad byte offset %.30q", name, i+1, rx[colon+1:])
		}
		out = append(out, ScpEntry{Key: key, Path: rx[:colon], Offset: off})
	}
	return out, nil
}

// ReadArkMatrixAt reads the binary matrix whose "\0B" marker is at byte
// offset of the archive at path, as an scp line points at it. Only the
// matrix is read, not the whole archive.
func ReadArkMatrixAt(path string, offset int64) (Matrix, error) {
	f, err := regular.Open(path)
	if err != nil {
		return Matrix{}, fmt.Errorf("featio: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Matrix{}, fmt.Errorf("featio: %w", err)
	}
	size := st.Size()
	if offset < 0 || offset > size {
		return Matrix{}, fmt.Errorf("featio: %s: offset %d is outside the file (%d bytes)", path, offset, size)
	}
	hdr := make([]byte, min(arkHeaderSize, size-offset))
	if _, err := f.ReadAt(hdr, offset); err != nil {
		return Matrix{}, fmt.Errorf("featio: %s: offset %d: %w", path, offset, err)
	}
	if !bytes.HasPrefix(hdr, []byte(binaryMarker)) {
		return Matrix{}, fmt.Errorf("featio: %s: offset %d: no binary matrix (\\0B) there", path, offset)
	}
	// Parse the header alone (with no data) to learn the size, then read
	// exactly that much: the size was checked against the file first.
	need, err := binaryMatrixSize(hdr)
	if err != nil {
		return Matrix{}, fmt.Errorf("featio: %s: offset %d: %w", path, offset, err)
	}
	if need > size-offset {
		return Matrix{}, fmt.Errorf("featio: %s: offset %d: matrix needs %d bytes, file has %d left", path, offset, need, size-offset)
	}
	buf := make([]byte, need)
	if _, err := f.ReadAt(buf, offset); err != nil {
		return Matrix{}, fmt.Errorf("featio: %s: offset %d: %w", path, offset, err)
	}
	m, _, err := parseBinaryMatrix(buf)
	if err != nil {
		return Matrix{}, fmt.Errorf("featio: %s: offset %d: %w", path, offset, err)
	}
	return m, nil
}

// binaryMatrixSize returns the total size, header included, of the
// binary matrix whose header is hdr.
func binaryMatrixSize(hdr []byte) (int64, error) {
	if len(hdr) < arkHeaderSize {
		return 0, fmt.Errorf("binary matrix header truncated (%d bytes)", len(hdr))
	}
	var elem int64
	switch string(hdr[2:5]) {
	case "FM ":
		elem = 4
	case "DM ":
		elem = 8
	default:
		_, _, err := parseBinaryMatrix(hdr[:arkHeaderSize]) // for its message
		return 0, err
	}
	rows := int64(int32(binary.LittleEndian.Uint32(hdr[6:])))
	cols := int64(int32(binary.LittleEndian.Uint32(hdr[11:])))
	if rows < 0 || cols < 0 {
		return 0, fmt.Errorf("negative matrix size %d×%d", rows, cols)
	}
	// Both are below 2^31, so the product with elem fits in int64.
	return arkHeaderSize + rows*cols*elem, nil
}

// fits reports whether rows·cols values of elem bytes fit in avail bytes,
// without overflowing: sizes come from untrusted headers.
func fits(rows, cols, elem, avail int64) bool {
	if rows < 0 || cols < 0 || elem <= 0 || avail < 0 {
		return false
	}
	if rows == 0 || cols == 0 {
		return true
	}
	return rows <= avail/elem/cols
}
