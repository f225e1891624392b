package audio

// NIST SPHERE decoding.
//
// A SPHERE file (TIMIT, WSJ, Switchboard, most LDC speech corpora before
// 2000) is a plain-text header followed by raw samples. The header starts
// with the line "NIST_1A", then its own size in bytes on the second line
// (1024 almost always), then one field per line, "name -type value" with
// type -i (integer), -r (real) or -sN (a string of N bytes), up to the
// line "end_head"; the rest of the header is padding. The fields read here:
//
//	sample_count        frames (samples per channel)          required
//	channel_count       interleaved channels                   required
//	sample_n_bytes      bytes per sample: 2 (pcm) or 1 (ulaw, alaw)  required
//	sample_rate         frames per second                      required
//	sample_coding       pcm (the default), ulaw, alaw; a ",embedded-shorten-..."
//	                    suffix means compressed, which is refused
//	sample_byte_format  01 little-endian, 10 big-endian, 1 for one byte
//
// Other fields (database_id, utterance_id, sample_sig_bits, sample_min,
// ...) are ignored. The reader is as strict as the WAV reader: the data
// must be exactly sample_count × channel_count × sample_n_bytes bytes, the
// header size and the data are checked against the file before anything
// is allocated, and a file that ends early is truncated. Shorten- or
// wavpack-compressed files (WSJ, Switchboard) are refused with a pointer
// to sph2pipe, which Kaldi recipes run in wav.scp for them anyway.

import (
	"bytes"
	"io"
	"strconv"
	"strings"
)

const (
	sphereMagic = "NIST_1A\n"
	// The header is 1024 bytes in every corpus we know; larger ones are
	// allowed up to this, which bounds what a header size may allocate.
	maxSphereHeader = 64 << 10
)

// readSphereHeader reads a SPHERE header up to the start of the samples.
func (r *wavReader) readSphereHeader() (header, error) {
	var h header
	h.Container = ContainerSPHERE
	// "NIST_1A\n" and the header size line, at most 8 more bytes.
	first, err := r.br.Peek(16)
	if len(first) < len(sphereMagic)+2 {
		if err != nil && err != io.EOF {
			return h, r.ioError(err)
		}
		return h, r.fail(ErrTruncated, "file ends inside the NIST SPHERE header")
	}
	nl := bytes.IndexByte(first[len(sphereMagic):], '\n')
	if nl < 0 {
		return h, r.fail(ErrMalformed, "NIST SPHERE header size line is not a number followed by a newline")
	}
	size, perr := strconv.Atoi(strings.TrimSpace(string(first[len(sphereMagic) : len(sphereMagic)+nl])))
	start := len(sphereMagic) + nl + 1
	switch {
	case perr != nil:
		return h, r.fail(ErrMalformed, "NIST SPHERE header size %q is not a number", strings.TrimSpace(string(first[len(sphereMagic):len(sphereMagic)+nl])))
	case size < start:
		return h, r.fail(ErrMalformed, "NIST SPHERE header size %d is smaller than its first two lines", size)
	case r.left >= 0 && int64(size) > r.left:
		return h, r.fail(ErrTruncated, "NIST SPHERE header declares %d bytes but the file has only %d", size, r.left)
	case size > maxSphereHeader:
		return h, r.fail(ErrUnsupported, "NIST SPHERE header of %d bytes, more than the %d supported", size, maxSphereHeader)
	}
	b := make([]byte, size)
	if err := r.readFull(b); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return h, r.fail(ErrTruncated, "NIST SPHERE header declares %d bytes but the file ends before them", size)
		}
		return h, r.ioError(err)
	}
	fields, err := r.sphereFields(b[start:])
	if err != nil {
		return h, err
	}
	integer := func(name string) (int64, error) {
		v, ok := fields[name]
		if !ok {
			return 0, r.fail(ErrMalformed, "NIST SPHERE header has no %s field", name)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			// "-r 16000.000" is a real that happens to be an integer.
			f, ferr := strconv.ParseFloat(v, 64)
			if ferr != nil || f != float64(int64(f)) {
				return 0, r.fail(ErrMalformed, "NIST SPHERE %s %q is not an integer", name, v)
			}
			n = int64(f)
		}
		if n < 0 {
			return 0, r.fail(ErrMalformed, "NIST SPHERE %s is negative (%d)", name, n)
		}
		return n, nil
	}
	coding := "pcm"
	if v, ok := fields["sample_coding"]; ok {
		coding = strings.ToLower(v)
	}
	if strings.Contains(coding, "shorten") || strings.Contains(coding, "wavpack") || strings.Contains(coding, "shortpack") {
		return h, r.fail(ErrUnsupported, "NIST SPHERE with %s compression (sample_coding %s) is not supported: decode it with `sph2pipe -f wav FILE |` in wav.scp", compressionName(coding), coding)
	}
	count, err := integer("sample_count")
	if err != nil {
		return h, err
	}
	channels, err := integer("channel_count")
	if err != nil {
		return h, err
	}
	nbytes, err := integer("sample_n_bytes")
	if err != nil {
		return h, err
	}
	rate, err := integer("sample_rate")
	if err != nil {
		return h, err
	}
	order, haveOrder := fields["sample_byte_format"]
	switch coding {
	case "pcm":
		h.Format = "pcm"
		if nbytes != 2 {
			return h, r.fail(ErrUnsupported, "NIST SPHERE pcm with %d-byte samples is not supported (2 bytes are)", nbytes)
		}
		switch {
		case !haveOrder:
			return h, r.fail(ErrMalformed, "NIST SPHERE 16-bit pcm without a sample_byte_format (01 or 10)")
		case order == "01":
			h.kind = kindS16
		case order == "10":
			h.kind = kindS16BE
		default:
			return h, r.fail(ErrUnsupported, "NIST SPHERE sample_byte_format %q is not supported (01 little-endian or 10 big-endian are)", order)
		}
	case "ulaw", "mu-law", "alaw":
		h.Format, h.kind = "ulaw", kindULaw
		if coding == "alaw" {
			h.Format, h.kind = "alaw", kindALaw
		}
		if nbytes != 1 {
			return h, r.fail(ErrMalformed, "NIST SPHERE %s with %d-byte samples (it has 1)", coding, nbytes)
		}
		if haveOrder && order != "1" {
			return h, r.fail(ErrMalformed, "NIST SPHERE %s with sample_byte_format %q (it has 1)", coding, order)
		}
	default:
		return h, r.fail(ErrUnsupported, "NIST SPHERE sample_coding %q is not supported (pcm, ulaw and alaw are)", coding)
	}
	switch {
	case channels == 0:
		return h, r.fail(ErrMalformed, "zero channels")
	case channels > maxChannels:
		return h, r.fail(ErrUnsupported, "%d channels, more than the %d supported", channels, maxChannels)
	case rate == 0:
		return h, r.fail(ErrMalformed, "sample rate 0")
	case rate > 1<<31-1:
		return h, r.fail(ErrMalformed, "sample rate %d is implausible", rate)
	}
	h.Bits, h.Channels, h.SampleRate = int(8*nbytes), int(channels), int(rate)
	h.frameBytes = int(channels * nbytes)
	if count > (1<<62)/int64(h.frameBytes) {
		return h, r.fail(ErrMalformed, "NIST SPHERE sample_count %d is implausible", count)
	}
	h.dataBytes = count * int64(h.frameBytes)
	h.Frames = count
	h.sizeSource = "NIST SPHERE header"
	if r.left >= 0 && h.dataBytes != r.left {
		if h.dataBytes > r.left {
			return h, r.fail(ErrTruncated, "NIST SPHERE header declares %d bytes (%d samples) but the file ends after %d", h.dataBytes, count, r.left)
		}
		return h, r.fail(ErrMalformed, "%d bytes after the %d samples the NIST SPHERE header declares", r.left-h.dataBytes, count)
	}
	return h, nil
}

// sphereFields parses the field lines of a header, up to end_head.
func (r *wavReader) sphereFields(b []byte) (map[string]string, error) {
	fields := map[string]string{}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimRight(line, "\r\n")
		if strings.IndexByte(line, 0) >= 0 { // the padding after the fields
			break
		}
		if strings.TrimSpace(line) == "end_head" {
			return fields, nil
		}
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, ";") {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		typ, value, ok2 := strings.Cut(rest, " ")
		if !ok || !ok2 || len(typ) < 2 || typ[0] != '-' {
			return nil, r.fail(ErrMalformed, "NIST SPHERE header line %q is not \"name -type value\"", clip(line, 60))
		}
		switch t := typ[1:]; {
		case t == "i" || t == "r":
			value = strings.TrimSpace(value)
		case t[0] == 's':
			if n, err := strconv.Atoi(t[1:]); err == nil && n >= 0 && n <= len(value) {
				value = value[:n]
			}
		default:
			return nil, r.fail(ErrMalformed, "NIST SPHERE header field %s has unknown type %s", name, typ)
		}
		if _, dup := fields[name]; dup {
			return nil, r.fail(ErrMalformed, "NIST SPHERE header field %s appears twice", name)
		}
		fields[name] = value
	}
	return nil, r.fail(ErrMalformed, "NIST SPHERE header has no end_head line")
}

func compressionName(coding string) string {
	switch {
	case strings.Contains(coding, "shorten"):
		return "shorten"
	case strings.Contains(coding, "wavpack"):
		return "wavpack"
	}
	return "shortpack"
}

// decodeSphere reads the samples after a SPHERE header.
func (r *wavReader) decodeSphere(opts DecodeOptions) (*Clip, error) {
	h, err := r.readSphereHeader()
	if err != nil {
		return nil, err
	}
	channel, err := pickChannel(r.name, opts, h.Channels)
	if err != nil {
		return nil, err
	}
	samples, err := r.readData(h, channel)
	if err != nil {
		return nil, err
	}
	if r.left < 0 { // a pipe: nothing may follow the samples
		if _, err := r.br.Peek(1); err == nil {
			n, _ := r.skip(1 << 40)
			return nil, r.fail(ErrMalformed, "%d bytes after the %d samples the NIST SPHERE header declares", n, h.Frames)
		} else if err != io.EOF {
			return nil, r.ioError(err)
		}
	}
	return &Clip{Name: r.name, Info: h.Info, Samples: samples}, nil
}

// G.711 μ-law and A-law, decoded to the 16-bit values of the reference
// tables (ITU-T G.711, as sox, sph2pipe and libsndfile decode them) and
// scaled to [-1, 1) like 16-bit PCM.
var ulawTable, alawTable = func() (u, a [256]float32) {
	for i := range 256 {
		// μ-law: complement, then sign, 3-bit exponent, 4-bit mantissa.
		x := ^byte(i)
		t := (int(x&0x0F)<<3 + 0x84) << (x & 0x70 >> 4)
		if x&0x80 != 0 {
			u[i] = float32(0x84-t) / 32768
		} else {
			u[i] = float32(t-0x84) / 32768
		}
		// A-law: even bits inverted, then sign, exponent, mantissa.
		y := byte(i) ^ 0x55
		m := int(y&0x0F)<<4 + 8
		if e := y & 0x70 >> 4; e > 0 {
			m = (m + 0x100) << (e - 1)
		}
		if y&0x80 == 0 {
			m = -m
		}
		a[i] = float32(m) / 32768
	}
	return
}()

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
