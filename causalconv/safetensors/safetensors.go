// Package safetensors reads and writes the safetensors tensor file format,
// the format Hugging Face designed so that weights can be exchanged without
// executing code (unlike pickled PyTorch checkpoints).
//
// A file is
//
//	8 bytes     N, the header length, a little-endian uint64
//	N bytes     a JSON object: {"__metadata__": {string: string},
//	            "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
//	rest        the data buffer: each tensor's elements, row-major, little-endian,
//	            at [begin, end) relative to the start of the buffer
//
// The reader trusts nothing in the file: it checks the header length against
// the file size (and a 100 MB cap) before reading the header, and checks every
// dtype, shape and offset (in range, no overflow, no overlap, no gap, the
// element count times the element size equal to the byte length) before it
// allocates room for the data. The writer is deterministic: tensors are laid
// out in the order given, and the header is written in that order too.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/nextsample/nextsample/audio/regular"
)

// MaxHeaderLen bounds the JSON header, as the reference implementation does,
// so a corrupt length cannot make us allocate without limit.
const MaxHeaderLen = 100_000_000

// MetadataKey is the reserved header key of the free-form string map.
const MetadataKey = "__metadata__"

// DType is an element type, spelt as in the format ("F32", "BF16", ...).
type DType string

// The element types of the format. Every one is accepted by the parser; the
// float types convert to float32 (Tensor.Float32s) and the integer types to
// int64 (Tensor.Int64s).
const (
	Bool DType = "BOOL"
	U8   DType = "U8"
	I8   DType = "I8"
	F8E4 DType = "F8_E4M3"
	F8E5 DType = "F8_E5M2"
	I16  DType = "I16"
	U16  DType = "U16"
	F16  DType = "F16"
	BF16 DType = "BF16"
	I32  DType = "I32"
	U32  DType = "U32"
	F32  DType = "F32"
	F64  DType = "F64"
	I64  DType = "I64"
	U64  DType = "U64"
)

// Size returns the size of one element in bytes, or 0 for an unknown type.
func (d DType) Size() int {
	switch d {
	case Bool, U8, I8, F8E4, F8E5:
		return 1
	case I16, U16, F16, BF16:
		return 2
	case I32, U32, F32:
		return 4
	case F64, I64, U64:
		return 8
	}
	return 0
}

// Tensor is one named array. Data holds its elements, row-major and
// little-endian, exactly as stored in the file.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// NumElements returns the product of the shape (1 for a scalar).
func (t *Tensor) NumElements() int {
	n := 1
	for _, s := range t.Shape {
		n *= s
	}
	return n
}

// FromFloat32 returns an F32 tensor holding a copy of data.
func FromFloat32(name string, shape []int, data []float32) Tensor {
	b := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return Tensor{Name: name, DType: F32, Shape: append([]int(nil), shape...), Data: b}
}

// FromFloat64 returns an F64 tensor holding a copy of data.
func FromFloat64(name string, shape []int, data []float64) Tensor {
	b := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return Tensor{Name: name, DType: F64, Shape: append([]int(nil), shape...), Data: b}
}

// FromInt64 returns an I64 tensor holding a copy of data.
func FromInt64(name string, shape []int, data []int64) Tensor {
	b := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return Tensor{Name: name, DType: I64, Shape: append([]int(nil), shape...), Data: b}
}

// Float32s decodes a float tensor (F32, F64, F16 or BF16) into dst, which
// must have NumElements entries, converting to float32.
func (t *Tensor) Float32s(dst []float32) error {
	n := t.NumElements()
	if len(dst) != n {
		return fmt.Errorf("tensor %q: destination has %d elements, tensor has %d", t.Name, len(dst), n)
	}
	if len(t.Data) != n*t.DType.Size() {
		return fmt.Errorf("tensor %q: %d bytes of data for %d elements of %s", t.Name, len(t.Data), n, t.DType)
	}
	b := t.Data
	switch t.DType {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	case F16:
		for i := range dst {
			dst[i] = halfToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
	default:
		return fmt.Errorf("tensor %q: dtype %s is not a float type this reader converts (F32, F64, F16, BF16)", t.Name, t.DType)
	}
	return nil
}

// Int64s decodes an integer tensor (I8, U8, I16, U16, I32, U32, I64, or U64
// values below 2⁶³) into dst, which must have NumElements entries.
func (t *Tensor) Int64s(dst []int64) error {
	n := t.NumElements()
	if len(dst) != n {
		return fmt.Errorf("tensor %q: destination has %d elements, tensor has %d", t.Name, len(dst), n)
	}
	if len(t.Data) != n*t.DType.Size() {
		return fmt.Errorf("tensor %q: %d bytes of data for %d elements of %s", t.Name, len(t.Data), n, t.DType)
	}
	b := t.Data
	le := binary.LittleEndian
	for i := range dst {
		switch t.DType {
		case I8:
			dst[i] = int64(int8(b[i]))
		case U8:
			dst[i] = int64(b[i])
		case I16:
			dst[i] = int64(int16(le.Uint16(b[2*i:])))
		case U16:
			dst[i] = int64(le.Uint16(b[2*i:]))
		case I32:
			dst[i] = int64(int32(le.Uint32(b[4*i:])))
		case U32:
			dst[i] = int64(le.Uint32(b[4*i:]))
		case I64:
			dst[i] = int64(le.Uint64(b[8*i:]))
		case U64:
			v := le.Uint64(b[8*i:])
			if v > math.MaxInt64 {
				return fmt.Errorf("tensor %q: element %d = %d does not fit in int64", t.Name, i, v)
			}
			dst[i] = int64(v)
		default:
			return fmt.Errorf("tensor %q: dtype %s is not an integer type", t.Name, t.DType)
		}
	}
	return nil
}

// halfToFloat32 converts an IEEE 754 binary16 value exactly.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
	case frac == 0: // ±0
		return math.Float32frombits(sign)
	}
	// subnormal half: frac·2⁻²⁴, normal as a float32
	e := uint32(127 - 15 + 1)
	for frac&0x400 == 0 {
		frac <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (frac&0x3ff)<<13)
}

// File is the parsed content of a safetensors file.
type File struct {
	// Metadata is the __metadata__ map (empty if the file has none).
	Metadata map[string]string
	// Tensors are in the order of their data in the file.
	Tensors []Tensor
}

// Tensor returns the named tensor, or nil.
func (f *File) Tensor(name string) *Tensor {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i]
		}
	}
	return nil
}

// entry is a tensor described by the header, not yet bound to data.
type entry struct {
	name       string
	dtype      DType
	shape      []int
	begin, end uint64
}

// header is a validated header: the entries sorted by offset, and the
// length the data buffer must have.
type header struct {
	meta    map[string]string
	entries []entry
	dataLen uint64
}

// maxDims bounds the rank of a tensor; no real tensor comes near it, and it
// keeps a hostile header from describing absurd shapes.
const maxDims = 64

// parseHeader validates the JSON header. Everything about the layout is
// checked here, so the caller can allocate exactly dataLen bytes.
func parseHeader(h []byte) (*header, error) {
	if !utf8.Valid(h) {
		return nil, errors.New("header is not valid UTF-8")
	}
	trimmed := bytes.TrimLeft(h, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, errors.New("header is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(h))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	out := &header{meta: map[string]string{}}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("header: %w", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errors.New("header: object key is not a string")
		}
		if seen[name] {
			return nil, fmt.Errorf("header: key %q appears twice", name)
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("header: value of %q: %w", name, err)
		}
		if name == MetadataKey {
			if err := parseMetadata(raw, out.meta); err != nil {
				return nil, err
			}
			continue
		}
		e, err := parseEntry(name, raw)
		if err != nil {
			return nil, err
		}
		out.entries = append(out.entries, e)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("header: %w", err)
	}
	// Only whitespace may follow the object (the writer pads with spaces).
	if rest := h[dec.InputOffset():]; len(bytes.TrimRight(rest, " \t\r\n")) != 0 {
		return nil, errors.New("header: trailing data after the JSON object")
	}
	if err := checkLayout(out); err != nil {
		return nil, err
	}
	return out, nil
}

func parseMetadata(raw json.RawMessage, meta map[string]string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return fmt.Errorf("header: %s must be an object of strings", MetadataKey)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("header: %s: %w", MetadataKey, err)
		}
		k, ok := tok.(string)
		if !ok {
			return fmt.Errorf("header: %s: key is not a string", MetadataKey)
		}
		if _, dup := meta[k]; dup {
			return fmt.Errorf("header: %s key %q appears twice", MetadataKey, k)
		}
		var v string
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("header: %s[%q] must be a string: %w", MetadataKey, k, err)
		}
		meta[k] = v
	}
	return nil
}

func parseEntry(name string, raw json.RawMessage) (entry, error) {
	if name == "" {
		return entry{}, errors.New("header: empty tensor name")
	}
	var info struct {
		DType       *string   `json:"dtype"`
		Shape       *[]uint64 `json:"shape"`
		DataOffsets *[]uint64 `json:"data_offsets"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&info); err != nil {
		return entry{}, fmt.Errorf("header: tensor %q: %w", name, err)
	}
	if info.DType == nil || info.Shape == nil || info.DataOffsets == nil {
		return entry{}, fmt.Errorf("header: tensor %q needs dtype, shape and data_offsets", name)
	}
	dt := DType(*info.DType)
	if dt.Size() == 0 {
		return entry{}, fmt.Errorf("header: tensor %q: unknown dtype %q", name, *info.DType)
	}
	if len(*info.DataOffsets) != 2 {
		return entry{}, fmt.Errorf("header: tensor %q: data_offsets must be [begin, end]", name)
	}
	if len(*info.Shape) > maxDims {
		return entry{}, fmt.Errorf("header: tensor %q: %d dimensions (at most %d)", name, len(*info.Shape), maxDims)
	}
	begin, end := (*info.DataOffsets)[0], (*info.DataOffsets)[1]
	if begin > end {
		return entry{}, fmt.Errorf("header: tensor %q: data_offsets [%d, %d] end before they begin", name, begin, end)
	}
	// numel·size must equal end-begin; compute it without overflow. end-begin
	// is below 2⁶⁴, so any product above it is a mismatch.
	nbytes := end - begin
	numel := uint64(1)
	shape := make([]int, len(*info.Shape))
	for i, s := range *info.Shape {
		if s != 0 && numel > math.MaxInt64/s {
			return entry{}, fmt.Errorf("header: tensor %q: shape %v overflows", name, *info.Shape)
		}
		numel *= s
		shape[i] = int(s)
	}
	size := uint64(dt.Size())
	if numel > math.MaxInt64/size || numel*size != nbytes {
		return entry{}, fmt.Errorf("header: tensor %q: shape %v of %s needs %d×%d bytes, data_offsets [%d, %d] hold %d",
			name, *info.Shape, dt, numel, size, begin, end, nbytes)
	}
	return entry{name: name, dtype: dt, shape: shape, begin: begin, end: end}, nil
}

// checkLayout sorts the entries by offset and requires them to tile the data
// buffer [0, dataLen) exactly: no gap (which would hide data) and no overlap
// (which would alias two tensors).
func checkLayout(h *header) error {
	sort.SliceStable(h.entries, func(i, j int) bool {
		a, b := h.entries[i], h.entries[j]
		if a.begin != b.begin {
			return a.begin < b.begin
		}
		return a.end < b.end
	})
	var pos uint64
	for _, e := range h.entries {
		if e.begin != pos {
			if e.begin < pos {
				return fmt.Errorf("header: tensor %q at [%d, %d] overlaps the previous tensor, which ends at %d", e.name, e.begin, e.end, pos)
			}
			return fmt.Errorf("header: gap in the data buffer: bytes [%d, %d) belong to no tensor (next is %q)", pos, e.begin, e.name)
		}
		pos = e.end
	}
	h.dataLen = pos
	return nil
}

// Parse parses a whole file held in memory. The returned tensors' Data
// alias data.
func Parse(data []byte) (*File, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("%d bytes: too short for the 8-byte header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > MaxHeaderLen {
		return nil, fmt.Errorf("header length %d exceeds the limit of %d bytes", n, MaxHeaderLen)
	}
	if n > uint64(len(data)-8) {
		return nil, fmt.Errorf("header length %d, but only %d bytes follow it", n, len(data)-8)
	}
	h, err := parseHeader(data[8 : 8+n])
	if err != nil {
		return nil, err
	}
	buf := data[8+n:]
	if h.dataLen != uint64(len(buf)) {
		return nil, fmt.Errorf("header describes %d bytes of tensor data, the file has %d", h.dataLen, len(buf))
	}
	return bind(h, buf), nil
}

func bind(h *header, buf []byte) *File {
	f := &File{Metadata: h.meta, Tensors: make([]Tensor, len(h.entries))}
	for i, e := range h.entries {
		f.Tensors[i] = Tensor{Name: e.name, DType: e.dtype, Shape: e.shape, Data: buf[e.begin:e.end:e.end]}
	}
	return f
}

// ReadFile reads and validates a safetensors file. The header length and
// every offset are checked against the file size before the data buffer is
// allocated. Errors name the file; a path that is not a regular file (a
// named pipe, a device, a directory) is refused without blocking.
func ReadFile(path string) (*File, error) {
	fh, err := regular.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	f, err := Read(fh, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Read reads a safetensors file of the given total size from r, validating
// the header before it allocates the data buffer.
func Read(r io.Reader, size int64) (*File, error) {
	var lenBuf [8]byte
	if size < 8 {
		return nil, fmt.Errorf("%d bytes: too short for the 8-byte header length", size)
	}
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return nil, fmt.Errorf("reading the header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > MaxHeaderLen {
		return nil, fmt.Errorf("header length %d exceeds the limit of %d bytes", n, MaxHeaderLen)
	}
	if n > uint64(size-8) {
		return nil, fmt.Errorf("header length %d, but only %d bytes follow it", n, size-8)
	}
	hb := make([]byte, n)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, fmt.Errorf("reading the header: %w", err)
	}
	h, err := parseHeader(hb)
	if err != nil {
		return nil, err
	}
	if rest := uint64(size) - 8 - n; h.dataLen != rest {
		return nil, fmt.Errorf("header describes %d bytes of tensor data, the file has %d", h.dataLen, rest)
	}
	buf := make([]byte, h.dataLen)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("reading tensor data: %w", err)
	}
	return bind(h, buf), nil
}

// Write writes metadata and tensors as a safetensors file. The tensors'
// data are laid out in the order given and the header lists them in that
// order after __metadata__ (whose keys are sorted), so equal inputs give
// equal bytes. The header is padded with spaces to a multiple of 8 bytes so
// that the data buffer is aligned for readers that map the file.
func Write(w io.Writer, metadata map[string]string, tensors []Tensor) error {
	var hdr bytes.Buffer
	hdr.WriteByte('{')
	first := true
	comma := func() {
		if !first {
			hdr.WriteByte(',')
		}
		first = false
	}
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		comma()
		writeJSONString(&hdr, MetadataKey)
		hdr.WriteString(":{")
		for i, k := range keys {
			if i > 0 {
				hdr.WriteByte(',')
			}
			writeJSONString(&hdr, k)
			hdr.WriteByte(':')
			writeJSONString(&hdr, metadata[k])
		}
		hdr.WriteByte('}')
	}
	seen := make(map[string]bool, len(tensors))
	var off uint64
	for i := range tensors {
		t := &tensors[i]
		switch {
		case t.Name == "" || t.Name == MetadataKey:
			return fmt.Errorf("tensor %d: invalid name %q", i, t.Name)
		case seen[t.Name]:
			return fmt.Errorf("tensor %q given twice", t.Name)
		case t.DType.Size() == 0:
			return fmt.Errorf("tensor %q: unknown dtype %q", t.Name, t.DType)
		}
		seen[t.Name] = true
		for _, s := range t.Shape {
			if s < 0 {
				return fmt.Errorf("tensor %q: negative dimension in shape %v", t.Name, t.Shape)
			}
		}
		if want := t.NumElements() * t.DType.Size(); len(t.Data) != want {
			return fmt.Errorf("tensor %q: shape %v of %s needs %d bytes, data has %d", t.Name, t.Shape, t.DType, want, len(t.Data))
		}
		comma()
		writeJSONString(&hdr, t.Name)
		fmt.Fprintf(&hdr, `:{"dtype":"%s","shape":[`, t.DType)
		for j, s := range t.Shape {
			if j > 0 {
				hdr.WriteByte(',')
			}
			fmt.Fprintf(&hdr, "%d", s)
		}
		end := off + uint64(len(t.Data))
		fmt.Fprintf(&hdr, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	hdr.WriteByte('}')
	for hdr.Len()%8 != 0 {
		hdr.WriteByte(' ')
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(hdr.Len()))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(hdr.Bytes()); err != nil {
		return err
	}
	for i := range tensors {
		if _, err := w.Write(tensors[i].Data); err != nil {
			return err
		}
	}
	return nil
}

// writeJSONString writes s as a JSON string. encoding/json would escape
// <, > and & as \u003c etc.; that is valid JSON, but plain text is friendlier
// to people reading headers with a hex dump.
func writeJSONString(b *bytes.Buffer, s string) {
	var enc strings.Builder
	e := json.NewEncoder(&enc)
	e.SetEscapeHTML(false)
	_ = e.Encode(s) // a string always encodes
	b.WriteString(strings.TrimSuffix(enc.String(), "\n"))
}
