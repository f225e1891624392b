package audio

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"

	"github.com/nextsample/nextsample/audio/regular"
)

// Info describes the audio in a WAV, FLAC or NIST SPHERE file as its
// header states it.
type Info struct {
	// Container is the file format: ContainerWAV, ContainerFLAC or
	// ContainerSPHERE.
	Container string `json:"container"`
	// Format is the sample encoding: "pcm" (integer samples, which FLAC
	// holds losslessly compressed), "float" (IEEE float, WAV only), or
	// "ulaw" or "alaw" (G.711, 8 bits, SPHERE only).
	Format     string `json:"format"`
	Bits       int    `json:"bits"`        // bits per sample: 8, 16, 24, 32 (WAV pcm); 32, 64 (float); 4 to 32 (FLAC); 16 (SPHERE pcm); 8 (ulaw, alaw)
	Channels   int    `json:"channels"`    // interleaved channels per frame
	SampleRate int    `json:"sample_rate"` // frames per second
	Frames     int64  `json:"frames"`      // samples per channel
	Extensible bool   `json:"extensible"`  // the header is WAVE_FORMAT_EXTENSIBLE (WAV)
	// Streamed: the length was not in the header (a WAV streaming
	// placeholder size, or a FLAC STREAMINFO sample count of 0), so the
	// audio runs to the end of the file.
	Streamed bool `json:"streamed"`
}

// The containers Decode reads, as Info.Container names them.
const (
	ContainerWAV    = "wav"
	ContainerFLAC   = "flac"
	ContainerSPHERE = "sphere"
)

// Seconds is the duration of the audio.
func (i Info) Seconds() float64 {
	if i.SampleRate <= 0 {
		return 0
	}
	return float64(i.Frames) / float64(i.SampleRate)
}

// DecodeOptions choose how frames become mono samples.
type DecodeOptions struct {
	// Channel 0 (and negative values) averages all channels of a frame;
	// Channel k ≥ 1 keeps channel k only, counting from 1 as sox does.
	Channel int
}

// A Clip is a decoded file: its header facts and its mono samples.
type Clip struct {
	Name string // as given to Decode: the path, or "stdin"
	Info Info
	// Samples holds one value per frame: the chosen channel or the
	// average of all channels. PCM is scaled to [-1, 1) (full scale is
	// 2^(bits-1), 8-bit data is unsigned around 128); float data is kept
	// as stored.
	Samples []float32
}

// Limits on what a header may declare. They bound memory before any
// size check against the input can (a frame must fit a read block).
const (
	maxChannels = 1024
	maxFmtSize  = 4096
	readBlock   = 64 << 10 // bytes read and converted at a time
)

// Placeholder data sizes: writers that cannot seek back to fix the header
// (a pipe) leave one of these and the data runs to the end of the file.
const (
	sizeUnknownFFFF = 0xFFFFFFFF // ffmpeg and others
	sizeUnknownSox  = 0x7FFFF000 // sox and espeak-ng ("-t wav -", --stdout)
)

// The last 14 bytes of the KSDATAFORMAT_SUBTYPE GUIDs whose first two
// bytes are a plain format tag: {0000xxxx-0000-0010-8000-00AA00389B71}.
var subtypeGUIDSuffix = []byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71}

const (
	tagPCM        = 0x0001
	tagFloat      = 0x0003
	tagExtensible = 0xFFFE
)

// tagNames names the format tags a user is likely to meet, for errors.
var tagNames = map[uint16]string{
	0x0002: "Microsoft ADPCM",
	0x0006: "A-law",
	0x0007: "μ-law",
	0x0011: "IMA ADPCM",
	0x0031: "GSM 6.10",
	0x0050: "MPEG",
	0x0055: "MP3",
	0x0160: "WMA",
	0x0161: "WMA",
	0xF1AC: "FLAC",
}

// sample encodings, as stored
const (
	kindU8 = iota
	kindS16
	kindS24
	kindS32
	kindF32
	kindF64
	kindS16BE // SPHERE "10"
	kindULaw  // G.711 μ-law
	kindALaw  // G.711 A-law
)

// header is what the chunks before the data say.
type header struct {
	Info
	kind       int
	frameBytes int
	dataBytes  int64  // -1: until the end of the input
	zeroSize   bool   // the data size was 0: a placeholder only if data follows
	sizeSource string // what declared dataBytes, for messages: "data chunk" when empty
}

// wavReader reads one WAV input, tracking how many bytes are left in it
// so that every size in the header can be checked before it is used.
type wavReader struct {
	name   string
	br     *bufio.Reader
	left   int64 // bytes not yet read from the input; -1 when unknown (a pipe)
	offset int64 // bytes read so far, for messages
}

func newWavReader(r io.Reader, name string, size int64) *wavReader {
	buf := readBlock
	if size >= 0 && size < int64(buf) {
		buf = max(int(size), 16)
	}
	return &wavReader{name: name, br: bufio.NewReaderSize(r, buf), left: size}
}

func (r *wavReader) fail(kind error, format string, args ...any) error {
	return &FormatError{Name: r.name, Kind: kind, Problem: fmt.Sprintf(format, args...)}
}

func (r *wavReader) ioError(err error) error {
	return fmt.Errorf("%s: %w", r.name, err)
}

func (r *wavReader) consumed(n int) {
	r.offset += int64(n)
	if r.left >= 0 {
		r.left -= int64(n)
	}
}

// readFull reads len(p) bytes; it returns io.EOF only if none were left
// and io.ErrUnexpectedEOF if some but not all were.
func (r *wavReader) readFull(p []byte) error {
	n, err := io.ReadFull(r.br, p)
	r.consumed(n)
	return err
}

// skip discards n bytes and reports how many it could.
func (r *wavReader) skip(n int64) (int64, error) {
	var done int64
	for done < n {
		step := int(min(n-done, readBlock))
		k, err := r.br.Discard(step)
		r.consumed(k)
		done += int64(k)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// readHeader reads up to the start of the sample data.
func (r *wavReader) readHeader() (header, error) {
	var h header
	h.Container = ContainerWAV
	var riff [12]byte
	switch err := r.readFull(riff[:]); {
	case err == io.EOF:
		return h, r.fail(ErrMalformed, "empty file, not a WAV file")
	case err == io.ErrUnexpectedEOF:
		return h, r.fail(ErrMalformed, "%d bytes, too short for a WAV file", r.offset)
	case err != nil:
		return h, r.ioError(err)
	}
	switch id := string(riff[0:4]); {
	case id == "RIFX":
		return h, r.fail(ErrUnsupported, "big-endian RIFX WAV is not supported")
	case id == "RF64":
		return h, r.fail(ErrUnsupported, "RF64 (64-bit WAV) is not supported")
	case id != "RIFF" || string(riff[8:12]) != "WAVE":
		return h, r.fail(ErrMalformed, "not a WAV file (no RIFF/WAVE header)")
	}
	// The RIFF size is ignored: writers get it wrong too often (streaming
	// placeholders, appended chunks), and every chunk is checked against
	// the real end of the input instead.
	haveFmt := false
	for {
		start := r.offset
		var ch [8]byte
		switch err := r.readFull(ch[:]); {
		case err == io.EOF && !haveFmt:
			return h, r.fail(ErrMalformed, "no fmt chunk")
		case err == io.EOF:
			return h, r.fail(ErrMalformed, "no data chunk")
		case err == io.ErrUnexpectedEOF:
			return h, r.fail(ErrTruncated, "file ends inside a chunk header at byte %d", start)
		case err != nil:
			return h, r.ioError(err)
		}
		id := string(ch[0:4])
		size := binary.LittleEndian.Uint32(ch[4:8])
		switch id {
		case "fmt ":
			if haveFmt {
				return h, r.fail(ErrMalformed, "second fmt chunk at byte %d", start)
			}
			if size < 16 {
				return h, r.fail(ErrMalformed, "fmt chunk of %d bytes, shorter than the 16 it needs", size)
			}
			if r.left >= 0 && int64(size) > r.left {
				return h, r.fail(ErrTruncated, "fmt chunk declares %d bytes but only %d remain", size, r.left)
			}
			if size > maxFmtSize {
				return h, r.fail(ErrMalformed, "fmt chunk of %d bytes is implausibly large", size)
			}
			b := make([]byte, size)
			if err := r.readFull(b); err != nil {
				if err == io.EOF || err == io.ErrUnexpectedEOF {
					return h, r.fail(ErrTruncated, "fmt chunk declares %d bytes but the file ends before them", size)
				}
				return h, r.ioError(err)
			}
			if err := r.parseFmt(&h, b); err != nil {
				return h, err
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return h, r.fail(ErrMalformed, "data chunk before the fmt chunk")
			}
			return h, r.dataSize(&h, size)
		default:
			if r.left >= 0 && int64(size) > r.left {
				return h, r.fail(ErrTruncated, "%q chunk at byte %d declares %d bytes but only %d remain", id, start, size, r.left)
			}
			n, err := r.skip(int64(size))
			if err != nil && err != io.EOF {
				return h, r.ioError(err)
			}
			if n < int64(size) {
				return h, r.fail(ErrTruncated, "%q chunk at byte %d declares %d bytes but the file ends after %d", id, start, size, n)
			}
		}
		if size%2 == 1 { // chunks are padded to even sizes; a missing pad at the end is harmless
			if _, err := r.skip(1); err != nil && err != io.EOF {
				return h, r.ioError(err)
			}
		}
	}
}

// parseFmt validates the fmt chunk and fills in the format.
func (r *wavReader) parseFmt(h *header, b []byte) error {
	tag := binary.LittleEndian.Uint16(b[0:])
	channels := int(binary.LittleEndian.Uint16(b[2:]))
	rate := binary.LittleEndian.Uint32(b[4:])
	blockAlign := int(binary.LittleEndian.Uint16(b[12:]))
	bits := int(binary.LittleEndian.Uint16(b[14:]))
	validBits := bits
	if tag == tagExtensible {
		h.Extensible = true
		if len(b) < 40 {
			return r.fail(ErrMalformed, "WAVE_FORMAT_EXTENSIBLE fmt chunk of %d bytes, shorter than the 40 it needs", len(b))
		}
		if cb := binary.LittleEndian.Uint16(b[16:]); cb < 22 {
			return r.fail(ErrMalformed, "WAVE_FORMAT_EXTENSIBLE fmt chunk with an extension of %d bytes, fewer than 22", cb)
		}
		if v := int(binary.LittleEndian.Uint16(b[18:])); v != 0 {
			validBits = v
		}
		guid := b[24:40]
		if !bytes.Equal(guid[2:], subtypeGUIDSuffix) {
			return r.fail(ErrUnsupported, "WAVE_FORMAT_EXTENSIBLE with unknown sub-format GUID %x", guid)
		}
		tag = binary.LittleEndian.Uint16(guid[0:])
	}
	switch tag {
	case tagPCM:
		h.Format = "pcm"
		switch bits {
		case 8:
			h.kind = kindU8
		case 16:
			h.kind = kindS16
		case 24:
			h.kind = kindS24
		case 32:
			h.kind = kindS32
		default:
			return r.fail(ErrUnsupported, "%d-bit PCM is not supported (8, 16, 24 or 32 bits are)", bits)
		}
	case tagFloat:
		h.Format = "float"
		switch bits {
		case 32:
			h.kind = kindF32
		case 64:
			h.kind = kindF64
		default:
			return r.fail(ErrUnsupported, "%d-bit float is not supported (32 or 64 bits are)", bits)
		}
	default:
		if name, ok := tagNames[tag]; ok {
			return r.fail(ErrUnsupported, "%s encoding (format tag 0x%04x) is not supported, only PCM and IEEE float", name, tag)
		}
		return r.fail(ErrUnsupported, "format tag 0x%04x is not supported, only PCM and IEEE float", tag)
	}
	switch {
	case channels == 0:
		return r.fail(ErrMalformed, "zero channels")
	case channels > maxChannels:
		return r.fail(ErrUnsupported, "%d channels, more than the %d supported", channels, maxChannels)
	case rate == 0:
		return r.fail(ErrMalformed, "sample rate 0")
	case rate > math.MaxInt32:
		return r.fail(ErrMalformed, "sample rate %d is implausible", rate)
	case validBits > bits:
		return r.fail(ErrMalformed, "%d valid bits in a %d-bit container", validBits, bits)
	case blockAlign != channels*bits/8:
		return r.fail(ErrMalformed, "block align %d, but %d channels of %d bits take %d bytes", blockAlign, channels, bits, channels*bits/8)
	}
	h.Bits, h.Channels, h.SampleRate = bits, channels, int(rate)
	h.frameBytes = blockAlign
	return nil
}

// dataSize decides where the data chunk ends.
func (r *wavReader) dataSize(h *header, size uint32) error {
	fb := int64(h.frameBytes)
	placeholder := size == 0 ||
		((size == sizeUnknownFFFF || size == sizeUnknownSox) && (r.left < 0 || int64(size) > r.left))
	if placeholder {
		h.dataBytes = -1
		h.Frames = -1
		h.zeroSize = size == 0
		h.Streamed = !h.zeroSize || r.left != 0
		if r.left >= 0 {
			if r.left%fb != 0 {
				return r.fail(ErrTruncated, "streamed data of %d bytes ends inside a %d-byte frame", r.left, fb)
			}
			h.Frames = r.left / fb
		}
		return nil
	}
	if r.left >= 0 && int64(size) > r.left {
		return r.fail(ErrTruncated, "data chunk declares %d bytes but only %d remain", size, r.left)
	}
	if int64(size)%fb != 0 {
		return r.fail(ErrMalformed, "data chunk of %d bytes is not a whole number of %d-byte frames", size, fb)
	}
	h.dataBytes = int64(size)
	h.Frames = int64(size) / fb
	return nil
}

// readData decodes the sample data that follows the header. Memory grows
// with the data that actually arrives, never with what a header claims:
// when the input size is known the header was checked against it, and a
// pipe is read block by block.
func (r *wavReader) readData(h header, channel int) ([]float32, error) {
	fb := h.frameBytes
	var out []float32
	if h.Frames >= 0 && r.left >= 0 {
		out = make([]float32, 0, h.Frames)
	}
	remaining := h.dataBytes
	if remaining < 0 && r.left >= 0 {
		remaining = r.left
	}
	block := max(readBlock/fb*fb, fb)
	block = min(block, r.br.Size()/fb*fb)
	if block == 0 { // a tiny input: less than one frame can follow
		block = r.br.Size()
	}
	for remaining != 0 {
		want := block
		if remaining > 0 && remaining < int64(want) {
			want = int(remaining)
		}
		buf, err := r.br.Peek(want)
		whole := len(buf) / fb * fb
		if whole > 0 {
			n := whole / fb
			at := len(out)
			out = slices.Grow(out, n)[:at+n]
			convert(out[at:], buf[:whole], h.kind, h.Channels, channel)
			if h.Format == "float" {
				if i := firstNonFinite(out[at:]); i >= 0 {
					return nil, r.fail(ErrMalformed, "sample at frame %d is %v", at+i, out[at+i])
				}
			}
			if _, derr := r.br.Discard(whole); derr != nil {
				return nil, r.ioError(derr)
			}
			r.consumed(whole)
			if remaining > 0 {
				remaining -= int64(whole)
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return nil, r.ioError(err)
			}
			if remaining > 0 {
				return nil, r.fail(ErrTruncated, "%s declares %d bytes but the file ends after %d",
					cmp.Or(h.sizeSource, "data chunk"), h.dataBytes, int64(len(out))*int64(fb)+int64(len(buf)-whole))
			}
			if stray := len(buf) - whole; stray > 0 {
				return nil, r.fail(ErrTruncated, "data ends inside a %d-byte frame (%d stray bytes after %d frames)", fb, stray, len(out))
			}
			break
		}
	}
	return out, nil
}

func firstNonFinite(x []float32) int {
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return i
		}
	}
	return -1
}

// bytesPerSample is the stored size of one sample of each kind.
var bytesPerSample = [...]int{kindU8: 1, kindS16: 2, kindS24: 3, kindS32: 4, kindF32: 4, kindF64: 8,
	kindS16BE: 2, kindULaw: 1, kindALaw: 1}

// belowOne is the largest float32 less than 1: 32-bit PCM near full
// scale would round up to 1.0 in float32, outside [-1, 1).
var belowOne = math.Nextafter32(1, 0)

// convert turns len(dst) whole frames of src into mono samples: channel
// (0-based) alone, or the average of all channels when channel < 0.
func convert(dst []float32, src []byte, kind, channels, channel int) {
	bps := bytesPerSample[kind]
	stride := bps * channels
	if channels == 1 || channel >= 0 {
		off := max(channel, 0) * bps
		switch kind {
		case kindU8:
			for i := range dst {
				dst[i] = float32(int(src[i*stride+off])-128) * (1.0 / 128)
			}
		case kindS16:
			for i := range dst {
				p := i*stride + off
				dst[i] = float32(int16(binary.LittleEndian.Uint16(src[p:p+2]))) * (1.0 / 32768)
			}
		case kindS24:
			for i := range dst {
				p := i*stride + off
				b := src[p : p+3]
				v := int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24) >> 8
				dst[i] = float32(v) * (1.0 / (1 << 23))
			}
		case kindS32:
			for i := range dst {
				p := i*stride + off
				v := float32(float64(int32(binary.LittleEndian.Uint32(src[p:p+4]))) * (1.0 / (1 << 31)))
				dst[i] = min(v, belowOne)
			}
		case kindF32:
			for i := range dst {
				p := i*stride + off
				dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[p : p+4]))
			}
		case kindF64:
			for i := range dst {
				p := i*stride + off
				dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[p : p+8])))
			}
		case kindS16BE:
			for i := range dst {
				p := i*stride + off
				dst[i] = float32(int16(binary.BigEndian.Uint16(src[p:p+2]))) * (1.0 / 32768)
			}
		case kindULaw:
			for i := range dst {
				dst[i] = ulawTable[src[i*stride+off]]
			}
		case kindALaw:
			for i := range dst {
				dst[i] = alawTable[src[i*stride+off]]
			}
		}
		return
	}
	scale := 1 / float64(channels)
	for i := range dst {
		frame := src[i*stride : (i+1)*stride]
		var sum float64
		for c := 0; c < channels; c++ {
			sum += sampleAt(kind, frame[c*bps:])
		}
		v := float32(sum * scale)
		if kind == kindS32 {
			v = min(v, belowOne)
		}
		dst[i] = v
	}
}

// sampleAt reads one sample of the given kind from the start of b.
func sampleAt(kind int, b []byte) float64 {
	switch kind {
	case kindU8:
		return float64(int(b[0])-128) / 128
	case kindS16:
		return float64(int16(binary.LittleEndian.Uint16(b))) / 32768
	case kindS24:
		return float64(int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24)>>8) / (1 << 23)
	case kindS32:
		return float64(int32(binary.LittleEndian.Uint32(b))) / (1 << 31)
	case kindF32:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
	case kindS16BE:
		return float64(int16(binary.BigEndian.Uint16(b))) / 32768
	case kindULaw:
		return float64(ulawTable[b[0]])
	case kindALaw:
		return float64(alawTable[b[0]])
	default:
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	}
}

// inputSize is the number of bytes left in r, or -1 when it cannot be
// known without reading (a pipe, a terminal, a network stream).
func inputSize(r io.Reader) int64 {
	switch v := r.(type) {
	case *os.File:
		fi, err := v.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return -1
		}
		off, err := v.Seek(0, io.SeekCurrent)
		if err != nil || off > fi.Size() {
			return -1
		}
		return fi.Size() - off
	case interface{ Len() int }: // bytes.Reader, bytes.Buffer, strings.Reader
		return int64(v.Len())
	}
	return -1
}

// The formats Decode tells apart by their first bytes.
const (
	formatUnknown = iota
	formatWAV
	formatFLAC
	formatSPHERE
)

// sniff looks at the first bytes of the input without consuming them.
func (r *wavReader) sniff() (int, error) {
	b, err := r.br.Peek(len(sphereMagic))
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return formatUnknown, r.ioError(err)
	}
	switch {
	case len(b) == 0:
		return formatUnknown, r.fail(ErrMalformed, "empty file, not a WAV, FLAC or NIST SPHERE file")
	case string(b) == sphereMagic:
		return formatSPHERE, nil
	case bytes.HasPrefix(b, []byte("fLaC")), bytes.HasPrefix(b, []byte("ID3")):
		return formatFLAC, nil
	case bytes.HasPrefix(b, []byte("RIFF")), bytes.HasPrefix(b, []byte("RIFX")), bytes.HasPrefix(b, []byte("RF64")):
		return formatWAV, nil
	case len(b) < 4 && (bytes.HasPrefix([]byte("RIFF"), b) || bytes.HasPrefix([]byte("fLaC"), b) || bytes.HasPrefix([]byte(sphereMagic), b)):
		return formatUnknown, r.fail(ErrMalformed, "%d bytes, too short for a WAV, FLAC or NIST SPHERE file", len(b))
	}
	return formatUnknown, r.fail(ErrMalformed, "not a WAV, FLAC or NIST SPHERE file (it starts with %q, not RIFF/WAVE, fLaC or NIST_1A)", b[:min(len(b), 4)])
}

// pickChannel turns DecodeOptions.Channel into the 0-based channel to
// keep, or -1 to average them all.
func pickChannel(name string, opts DecodeOptions, channels int) (int, error) {
	if opts.Channel <= 0 {
		return -1, nil
	}
	if opts.Channel > channels {
		return 0, fmt.Errorf("%s: channel %d requested, but the file has %d", name, opts.Channel, channels)
	}
	return opts.Channel - 1, nil
}

// Decode reads a whole WAV, FLAC or NIST SPHERE stream from r, telling
// them apart by their first bytes ("RIFF", "fLaC", "NIST_1A"), never by a
// file name, so it serves files and the output of pipe commands alike.
// name identifies the input in error messages ("NAME: what is wrong").
// When r is a regular file or an in-memory reader, every header size is
// checked against the bytes left before it is used; other readers are read
// block by block and audio that ends early is reported as truncation.
func Decode(r io.Reader, name string, opts DecodeOptions) (*Clip, error) {
	wr := newWavReader(r, name, inputSize(r))
	format, err := wr.sniff()
	if err != nil {
		return nil, err
	}
	switch format {
	case formatFLAC:
		clip, _, err := decodeFLAC(wr, opts)
		return clip, err
	case formatSPHERE:
		return wr.decodeSphere(opts)
	}
	h, err := wr.readHeader()
	if err != nil {
		return nil, err
	}
	channel, err := pickChannel(name, opts, h.Channels)
	if err != nil {
		return nil, err
	}
	samples, err := wr.readData(h, channel)
	if err != nil {
		return nil, err
	}
	h.Frames = int64(len(samples))
	if h.zeroSize {
		h.Streamed = len(samples) > 0
	}
	return &Clip{Name: name, Info: h.Info, Samples: samples}, nil
}

// StdinName is how ReadFile names standard input in errors.
const StdinName = "stdin"

// ReadFile decodes the WAV, FLAC or NIST SPHERE file at path (whatever
// its name says); "-" reads standard input.
func ReadFile(path string, opts DecodeOptions) (*Clip, error) {
	if path == "-" {
		return Decode(os.Stdin, StdinName, opts)
	}
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Decode(f, path, opts)
}

// openFile opens path for reading if it is a regular file, with errors in
// the package's "PATH: problem" form (os.Open says "open PATH: problem");
// they still match fs.ErrNotExist and the like with errors.Is. A named
// pipe, socket, device or directory is refused without being opened in a
// blocking way (see package regular).
func openFile(path string) (*os.File, error) {
	return regular.Open(path)
}

// ReadInfo reads only the header of the WAV, FLAC or NIST SPHERE file at
// path: cheap enough to index a corpus. The sizes are checked against the
// file size exactly as Decode does, and for a streamed file the frames
// are counted from the file size. For FLAC it also decodes the first
// frame and the last one (found from the end of the file), which gives
// the length when STREAMINFO has none and reports a file cut short as
// truncated. Data problems that only reading all the samples can reveal
// (a NaN in float WAV data, a bad frame in the middle of a FLAC file) are
// left to Decode.
func ReadInfo(path string) (Info, error) {
	f, err := openFile(path)
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	size := inputSize(f)
	if size < 0 {
		return Info{}, fmt.Errorf("%s: not a regular file", path)
	}
	wr := newWavReader(f, path, size)
	format, err := wr.sniff()
	if err != nil {
		return Info{}, err
	}
	switch format {
	case formatFLAC:
		return readFLACInfo(f, wr, size)
	case formatSPHERE:
		h, err := wr.readSphereHeader()
		if err != nil {
			return Info{}, err
		}
		return h.Info, nil
	}
	h, err := wr.readHeader()
	if err != nil {
		return Info{}, err
	}
	return h.Info, nil
}
