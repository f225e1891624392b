package audio

// FLAC decoding.
//
// A FLAC stream is the marker "fLaC", a chain of METADATA blocks (the
// first is STREAMINFO: sample rate, channels, bits per sample, block
// sizes, total samples, MD5 of the decoded audio) and then audio frames.
// Each frame holds one block of 1 to 65535 samples of every channel and
// starts with a header (sync code, block size, sample rate, channel
// assignment, bits per sample, frame or sample number) protected by a
// CRC-8; it ends with a CRC-16 of the whole frame. Each channel of a frame
// is a subframe: CONSTANT (one value), VERBATIM (raw samples), FIXED (a
// polynomial predictor of order 0 to 4) or LPC (a quantized linear
// predictor of order 1 to 32), the predictors followed by a residual
// coded in Rice partitions (4- or 5-bit parameters, with an escape code
// for raw residuals), after removing "wasted" low bits that are zero in
// every sample. Stereo frames may code left/side, side/right or mid/side
// instead of left/right.
//
// This decoder reads all of it: every bit depth from 4 to 32, any sample
// rate, 1 to 8 channels, fixed and variable block sizes. It is strict:
// both CRCs of every frame are checked, every frame must agree with
// STREAMINFO (rate, channels, bits, block size at most its maximum) and
// carry the next frame or sample number, the samples must fit their bit
// depth, and a STREAMINFO sample count that the frames do not reach is
// truncation. When STREAMINFO has an MD5 signature the decoded audio is
// checked against it, as `flac -d` does. It does not resynchronize after
// a bad frame, and it does not read Ogg FLAC.
//
// Memory follows the input: a frame needs its block size times channels
// 64-bit samples (at most STREAMINFO's maximum block size times 8
// channels, 4 MiB), the output grows with the frames that decode, and for
// a file of known size a STREAMINFO that claims more samples than its
// bytes can hold is rejected before anything is allocated.

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/bits"
	"slices"
)

const (
	flacMaxChannels     = 8
	flacMaxBlock        = 65535
	flacStreamInfoBytes = 34
	flacMaxLPCOrder     = 32
)

// flacStreamInfo is the STREAMINFO block.
type flacStreamInfo struct {
	minBlock, maxBlock int
	minFrame, maxFrame int // bytes; 0 when unknown
	rate, channels     int
	bps                int
	total              int64 // samples per channel; 0 when unknown
	md5                [16]byte
}

// minFrameBytes is the smallest frame the stream can have: a 6-byte
// header (sync, codes, a 1-byte number, CRC-8), a subframe of at least 9
// bits per channel (its 8-bit header and one bit of value), rounded up to
// a byte, and the CRC-16.
func (si *flacStreamInfo) minFrameBytes() int64 {
	return int64(6 + (si.channels*9+7)/8 + 2)
}

// crc8Table and crc16Table are the frame header CRC-8 (polynomial
// x^8+x^2+x+1) and frame CRC-16 (x^16+x^15+x^2+1), MSB first, initial 0.
var crc8Table, crc16Table = func() (t8 [256]uint8, t16 [256]uint16) {
	for i := range 256 {
		c8 := uint8(i)
		c16 := uint16(i) << 8
		for range 8 {
			if c8&0x80 != 0 {
				c8 = c8<<1 ^ 0x07
			} else {
				c8 <<= 1
			}
			if c16&0x8000 != 0 {
				c16 = c16<<1 ^ 0x8005
			} else {
				c16 <<= 1
			}
		}
		t8[i], t16[i] = c8, c16
	}
	return
}()

func crc8(p []byte) uint8 {
	var c uint8
	for _, b := range p {
		c = crc8Table[c^b]
	}
	return c
}

// crc16Slices extends crc16Table for slicing-by-8: crc16Slices[k][b] is
// the CRC of byte b followed by k zero bytes.
var crc16Slices = func() (t [8][256]uint16) {
	t[0] = crc16Table
	for k := 1; k < 8; k++ {
		for b := range 256 {
			c := t[k-1][b]
			t[k][b] = c<<8 ^ crc16Table[byte(c>>8)]
		}
	}
	return
}()

func crc16Update(c uint16, p []byte) uint16 {
	t := &crc16Slices
	for len(p) >= 8 {
		c = t[7][byte(c>>8)^p[0]] ^ t[6][byte(c)^p[1]] ^
			t[5][p[2]] ^ t[4][p[3]] ^ t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]]
		p = p[8:]
	}
	for _, b := range p {
		c = c<<8 ^ crc16Table[byte(c>>8)^b]
	}
	return c
}

// errBitsEOF is what the bit reader returns when the input ends.
var errBitsEOF = errors.New("end of input")

// flacReader reads bits, MSB first, from a buffer it refills from src.
// The top nbits of acc are the next bits; the bits below them are zero.
// The bytes behind those bits stay in buf until they are consumed, so that
// the reader can step back to a byte boundary, and the CRC-16 of a frame
// is taken over buf[crcFrom:] as bytes leave the buffer.
type flacReader struct {
	src      io.Reader
	buf      []byte
	pos, end int
	eof      bool
	rerr     error
	base     int64 // input offset of buf[0]
	start    int64 // input offset where the reader started
	acc      uint64
	nbits    uint
	crcFrom  int
	crc      uint16
}

func newFlacReader(src io.Reader, bufSize int, base int64) *flacReader {
	return &flacReader{src: src, buf: make([]byte, max(bufSize, 64)), base: base, start: base}
}

// offset is the input offset of the byte that holds the next bit.
func (f *flacReader) offset() int64 {
	return f.base + int64(f.pos) - int64((f.nbits+7)/8)
}

// fill moves the unconsumed bytes to the front of buf and reads more.
func (f *flacReader) fill() {
	if f.eof || f.rerr != nil {
		return
	}
	if keep := f.pos - int((f.nbits+7)/8); keep > 0 {
		f.crc = crc16Update(f.crc, f.buf[f.crcFrom:keep])
		f.crcFrom = 0
		copy(f.buf, f.buf[keep:f.end])
		f.pos -= keep
		f.end -= keep
		f.base += int64(keep)
	}
	for empty := 0; f.end < len(f.buf); {
		n, err := f.src.Read(f.buf[f.end:])
		f.end += n
		switch {
		case err == io.EOF:
			f.eof = true
			return
		case err != nil:
			f.rerr = err
			return
		case n > 0:
			return
		}
		if empty++; empty > 100 {
			f.rerr = io.ErrNoProgress
			return
		}
	}
}

// refill makes at least n ≤ 56 bits available.
func (f *flacReader) refill(n uint) error {
	for f.nbits < n {
		if f.end-f.pos < 8 && !f.eof && f.rerr == nil {
			f.fill()
		}
		if f.end-f.pos >= 8 {
			v := binary.BigEndian.Uint64(f.buf[f.pos:])
			k := (63 - f.nbits) >> 3
			f.acc |= (v >> f.nbits) &^ (^uint64(0) >> (f.nbits + 8*k))
			f.pos += int(k)
			f.nbits += 8 * k
			continue
		}
		if f.pos < f.end {
			f.acc |= uint64(f.buf[f.pos]) << (56 - f.nbits)
			f.pos++
			f.nbits += 8
			continue
		}
		if f.rerr != nil {
			return f.rerr
		}
		return errBitsEOF
	}
	return nil
}

// bits reads an n-bit unsigned value, n ≤ 56.
func (f *flacReader) bits(n uint) (uint64, error) {
	if f.nbits < n {
		if err := f.refill(n); err != nil {
			return 0, err
		}
	}
	v := f.acc >> (64 - n) // 0 when n is 0
	f.acc <<= n
	f.nbits -= n
	return v, nil
}

// signed reads an n-bit two's complement value, n ≤ 56.
func (f *flacReader) signed(n uint) (int64, error) {
	v, err := f.bits(n)
	return int64(v<<(64-n)) >> (64 - n), err
}

// unary counts zero bits up to the next one bit, which it consumes; a
// count of limit or more is an error.
func (f *flacReader) unary(limit uint64) (uint64, error) {
	var q uint64
	for {
		if f.acc != 0 {
			z := uint(bits.LeadingZeros64(f.acc))
			f.acc <<= z + 1
			f.nbits -= z + 1
			if q += uint64(z); q >= limit {
				return 0, errUnaryLimit
			}
			return q, nil
		}
		if q += uint64(f.nbits); q >= limit {
			return 0, errUnaryLimit
		}
		f.nbits = 0
		if err := f.refill(1); err != nil {
			return 0, err
		}
	}
}

var errUnaryLimit = errors.New("unary value too large")

// align drops the bits up to the next byte boundary.
func (f *flacReader) align() {
	r := f.nbits % 8
	f.acc <<= r
	f.nbits -= r
}

// unread gives the whole bytes held in acc back to buf; the reader must
// be byte-aligned.
func (f *flacReader) unread() {
	f.pos -= int(f.nbits / 8)
	f.acc, f.nbits = 0, 0
}

// readFull reads len(p) bytes at a byte boundary.
func (f *flacReader) readFull(p []byte) error {
	f.unread()
	for len(p) > 0 {
		if f.pos == f.end {
			f.fill()
			if f.pos == f.end {
				if f.rerr != nil {
					return f.rerr
				}
				return errBitsEOF
			}
		}
		n := copy(p, f.buf[f.pos:f.end])
		f.pos += n
		p = p[n:]
	}
	return nil
}

// skip discards n bytes at a byte boundary and returns how many it could.
func (f *flacReader) skip(n int64) (int64, error) {
	f.unread()
	var done int64
	for done < n {
		if f.pos == f.end {
			f.fill()
			if f.pos == f.end {
				if f.rerr != nil {
					return done, f.rerr
				}
				return done, errBitsEOF
			}
		}
		k := int(min(n-done, int64(f.end-f.pos)))
		f.pos += k
		done += int64(k)
	}
	return done, nil
}

// atEOF reports whether the input has no byte left after the current
// byte boundary.
func (f *flacReader) atEOF() bool {
	f.unread()
	if f.pos == f.end {
		f.fill()
	}
	return f.pos == f.end && f.rerr == nil
}

// startCRC starts the CRC-16 of a frame at the current byte boundary.
func (f *flacReader) startCRC() {
	f.unread()
	f.crcFrom = f.pos
	f.crc = 0
}

// sumCRC is the CRC-16 of the bytes since startCRC; the reader must be
// byte-aligned.
func (f *flacReader) sumCRC() uint16 {
	upto := f.pos - int(f.nbits/8)
	f.crc = crc16Update(f.crc, f.buf[f.crcFrom:upto])
	f.crcFrom = upto
	return f.crc
}

// flacDecoder decodes the frames of one stream.
type flacDecoder struct {
	name string
	in   *flacReader
	si   flacStreamInfo
	ch   [flacMaxChannels][]int64 // the samples of the current frame, per channel
	res  []int64                  // residual scratch when a subframe reads into a side buffer
	coef [flacMaxLPCOrder]int64

	frames   int64 // frames decoded
	samples  int64 // samples per channel decoded
	variable bool  // the stream has variable block sizes (set by frame 0)
	first    int   // block size of frame 0
	short    bool  // a fixed-size stream had a frame shorter than frame 0: it must be the last
	numbered bool  // check frame numbers (false in ReadInfo's look at the end of a file)
	alloc    int64 // bytes allocated for frame samples

	seen map[string]int // tests only: the coding features met, when not nil
}

// note counts a coding feature for the tests' coverage report.
func (d *flacDecoder) note(feature string) {
	if d.seen != nil {
		d.seen[feature]++
	}
}

// flacFrame is what the header of a decoded frame says.
type flacFrame struct {
	offset    int64
	blockSize int
	variable  bool
	number    uint64 // frame number, or first sample number if variable
}

// frameFail reports malformed data in the frame that starts at byte at.
func (d *flacDecoder) frameFail(at int64, what string, args ...any) error {
	return d.fail(ErrMalformed, "FLAC frame at byte %d: "+what, append([]any{at}, args...)...)
}

func (d *flacDecoder) fail(kind error, format string, args ...any) error {
	return &FormatError{Name: d.name, Kind: kind, Problem: fmt.Sprintf(format, args...)}
}

// inputError turns a failed read inside a frame into an error.
func (d *flacDecoder) inputError(err error, start int64) error {
	switch err {
	case errBitsEOF:
		return d.fail(ErrTruncated, "file ends inside the FLAC frame at byte %d", start)
	case errUnaryLimit:
		return d.fail(ErrMalformed, "FLAC frame at byte %d: residual out of range", start)
	}
	return fmt.Errorf("%s: %w", d.name, err)
}

// nextFrame decodes one frame into d.ch. It returns io.EOF when the input
// ends cleanly before a frame.
func (d *flacDecoder) nextFrame() (flacFrame, error) {
	in := d.in
	if in.atEOF() {
		return flacFrame{}, io.EOF
	}
	fr := flacFrame{offset: in.offset()}
	in.startCRC()
	var hdr [16]byte
	n := 0
	byteAt := func() (byte, error) {
		v, err := in.bits(8)
		hdr[n] = byte(v)
		n++
		return byte(v), err
	}
	for range 4 {
		if _, err := byteAt(); err != nil {
			return fr, d.inputError(err, fr.offset)
		}
	}
	if hdr[0] != 0xFF || hdr[1]&0xFE != 0xF8 {
		if d.frames == 0 {
			return fr, d.fail(ErrMalformed, "no FLAC frame at byte %d after the metadata (bytes % x)", fr.offset, hdr[:2])
		}
		return fr, d.fail(ErrMalformed, "no FLAC frame sync at byte %d after frame %d (bytes % x)", fr.offset, d.frames-1, hdr[:2])
	}
	fr.variable = hdr[1]&1 == 1
	bsCode, srCode := hdr[2]>>4, hdr[2]&15
	chCode, bpsCode := hdr[3]>>4, hdr[3]>>1&7
	badf := func(what string, args ...any) error {
		return d.fail(ErrMalformed, "FLAC frame at byte %d: "+what, append([]any{fr.offset}, args...)...)
	}
	if hdr[3]&1 != 0 {
		return fr, badf("reserved bit set")
	}
	// The frame or sample number, UTF-8 coded (up to 36 bits in 7 bytes).
	b0, err := byteAt()
	if err != nil {
		return fr, d.inputError(err, fr.offset)
	}
	extra := 0
	switch {
	case b0 < 0x80:
		fr.number = uint64(b0)
	case b0 >= 0xC0 && b0 < 0xFF:
		extra = bits.LeadingZeros8(^b0) - 1
		fr.number = uint64(b0 & (0x7F >> (extra + 1)))
		if extra == 6 {
			fr.number = 0
		}
	default:
		return fr, badf("bad frame number coding (byte %#02x)", b0)
	}
	for range extra {
		b, err := byteAt()
		if err != nil {
			return fr, d.inputError(err, fr.offset)
		}
		if b&0xC0 != 0x80 {
			return fr, badf("bad frame number coding (byte %#02x)", b)
		}
		fr.number = fr.number<<6 | uint64(b&0x3F)
	}
	if !fr.variable && extra > 5 {
		return fr, badf("frame number needs more than 31 bits")
	}
	switch {
	case bsCode == 0:
		return fr, badf("reserved block size code 0")
	case bsCode == 1:
		fr.blockSize = 192
	case bsCode <= 5:
		fr.blockSize = 576 << (bsCode - 2)
	case bsCode == 6:
		b, err := byteAt()
		if err != nil {
			return fr, d.inputError(err, fr.offset)
		}
		fr.blockSize = int(b) + 1
	case bsCode == 7:
		hi, err := byteAt()
		if err != nil {
			return fr, d.inputError(err, fr.offset)
		}
		lo, err := byteAt()
		if err != nil {
			return fr, d.inputError(err, fr.offset)
		}
		fr.blockSize = int(hi)<<8 | int(lo) + 1
	default:
		fr.blockSize = 256 << (bsCode - 8)
	}
	rate := 0
	switch srCode {
	case 0:
		rate = d.si.rate
	case 12:
		b, err := byteAt()
		if err != nil {
			return fr, d.inputError(err, fr.offset)
		}
		rate = int(b) * 1000
	case 13, 14:
		hi, err := byteAt()
		if err != nil {
			return fr, d.inputError(err, fr.offset)
		}
		lo, err := byteAt()
		if err != nil {
			return fr, d.inputError(err, fr.offset)
		}
		rate = int(hi)<<8 | int(lo)
		if srCode == 14 {
			rate *= 10
		}
	case 15:
		return fr, badf("invalid sample rate code 15")
	default:
		rate = [...]int{0, 88200, 176400, 192000, 8000, 16000, 22050, 24000, 32000, 44100, 48000, 96000}[srCode]
	}
	crc, err := in.bits(8)
	if err != nil {
		return fr, d.inputError(err, fr.offset)
	}
	if got := crc8(hdr[:n]); got != uint8(crc) {
		return fr, badf("header CRC-8 is %#02x, the header sums to %#02x", crc, got)
	}
	// The header is intact: now check that it fits the stream.
	channels := int(chCode) + 1
	if chCode >= 8 {
		channels = 2
	}
	bps := d.si.bps
	if bpsCode != 0 {
		bps = [...]int{0, 8, 12, 0, 16, 20, 24, 32}[bpsCode]
	}
	switch {
	case chCode > 10:
		return fr, badf("reserved channel assignment %d", chCode)
	case bpsCode == 3:
		return fr, badf("reserved sample size code 3")
	case channels != d.si.channels:
		return fr, badf("%d channels, STREAMINFO says %d", channels, d.si.channels)
	case bps != d.si.bps:
		return fr, badf("%d bits per sample, STREAMINFO says %d", bps, d.si.bps)
	case rate != d.si.rate:
		return fr, badf("sample rate %d Hz, STREAMINFO says %d", rate, d.si.rate)
	case fr.blockSize > d.si.maxBlock:
		return fr, badf("block of %d samples, more than STREAMINFO's maximum of %d", fr.blockSize, d.si.maxBlock)
	}
	if d.numbered {
		if err := d.checkNumber(fr); err != nil {
			return fr, err
		}
	}
	// Subframes.
	for c := range channels {
		sbps := uint(bps)
		if (chCode == 8 && c == 1) || (chCode == 9 && c == 0) || (chCode == 10 && c == 1) {
			sbps++ // the side channel has one more bit
		}
		if cap(d.ch[c]) < fr.blockSize { // grow by doubling: a stream of growing blocks costs at most twice the largest
			n := min(max(fr.blockSize, 2*cap(d.ch[c])), d.si.maxBlock)
			d.alloc += int64(8 * n)
			d.ch[c] = make([]int64, n)
		}
		if err := d.subframe(d.ch[c][:fr.blockSize], sbps, fr.offset); err != nil {
			return fr, err
		}
	}
	in.align()
	sum := in.sumCRC()
	want, err := in.bits(16)
	if err != nil {
		return fr, d.inputError(err, fr.offset)
	}
	if uint16(want) != sum {
		return fr, badf("CRC-16 is %#04x, the frame sums to %#04x", want, sum)
	}
	// Undo the stereo decorrelation and check the samples fit.
	bs := fr.blockSize
	if d.seen != nil {
		d.note([...]string{7: "independent", 8: "left/side", 9: "side/right", 10: "mid/side"}[max(chCode, 7)])
		d.note(fmt.Sprintf("bits %d", bps))
		d.note(fmt.Sprintf("channels %d", channels))
		if fr.variable {
			d.note("variable block size")
		}
	}
	switch chCode {
	case 8: // left, side: right = left - side
		l, s := d.ch[0][:bs], d.ch[1][:bs]
		for i := range s {
			s[i] = l[i] - s[i]
		}
	case 9: // side, right: left = side + right
		s, r := d.ch[0][:bs], d.ch[1][:bs]
		for i := range s {
			s[i] += r[i]
		}
	case 10: // mid, side
		m, s := d.ch[0][:bs], d.ch[1][:bs]
		for i := range m {
			mid := m[i]<<1 | s[i]&1
			m[i] = (mid + s[i]) >> 1
			s[i] = (mid - s[i]) >> 1
		}
	}
	lo, hi := int64(-1)<<(bps-1), int64(1)<<(bps-1)-1
	for c := range channels {
		for i, v := range d.ch[c][:bs] {
			if v < lo || v > hi {
				return fr, badf("sample %d of channel %d is %d, outside %d bits", i, c+1, v, bps)
			}
		}
	}
	if !d.variable && d.numbered && d.frames > 0 && fr.blockSize != d.first {
		d.short = true
	}
	d.frames++
	d.samples += int64(bs)
	return fr, nil
}

// checkNumber checks that a frame comes where its header says.
func (d *flacDecoder) checkNumber(fr flacFrame) error {
	if d.frames == 0 {
		d.variable = fr.variable
		d.first = fr.blockSize
	}
	switch {
	case fr.variable != d.variable:
		return d.fail(ErrMalformed, "FLAC frame at byte %d switches between fixed and variable block sizes", fr.offset)
	case d.short:
		return d.fail(ErrMalformed, "FLAC frame at byte %d follows a frame shorter than the stream's block size of %d, which must be the last", fr.offset, d.first)
	case !fr.variable && fr.blockSize > d.first:
		return d.fail(ErrMalformed, "FLAC frame at byte %d has %d samples, more than the first frame's %d in a fixed-block-size stream", fr.offset, fr.blockSize, d.first)
	case !fr.variable && fr.number != uint64(d.frames):
		return d.fail(ErrMalformed, "FLAC frame at byte %d is numbered %d, expected frame %d", fr.offset, fr.number, d.frames)
	case fr.variable && fr.number != uint64(d.samples):
		return d.fail(ErrMalformed, "FLAC frame at byte %d starts at sample %d, expected %d", fr.offset, fr.number, d.samples)
	}
	return nil
}

// subframe decodes one channel of a frame into dst with bps bits.
func (d *flacDecoder) subframe(dst []int64, bps uint, at int64) error {
	in := d.in
	fail := func(what string, args ...any) error { return d.frameFail(at, what, args...) }
	h, err := in.bits(8)
	if err != nil {
		return d.inputError(err, at)
	}
	if h&0x80 != 0 {
		return fail("subframe padding bit set")
	}
	kind := int(h >> 1 & 0x3F)
	wasted := uint(0)
	if h&1 == 1 {
		u, err := in.unary(uint64(bps))
		if err != nil {
			if err == errUnaryLimit {
				return fail("%d-bit subframe with at least %d wasted bits", bps, bps)
			}
			return d.inputError(err, at)
		}
		wasted = uint(u) + 1
		if wasted >= bps {
			return fail("%d-bit subframe with %d wasted bits", bps, wasted)
		}
		bps -= wasted
	}
	n := len(dst)
	switch {
	case kind == 0: // CONSTANT
		d.note("CONSTANT")
		v, err := in.signed(bps)
		if err != nil {
			return d.inputError(err, at)
		}
		for i := range dst {
			dst[i] = v
		}
	case kind == 1: // VERBATIM
		d.note("VERBATIM")
		for i := range dst {
			v, err := in.signed(bps)
			if err != nil {
				return d.inputError(err, at)
			}
			dst[i] = v
		}
	case kind >= 8 && kind <= 12: // FIXED
		order := kind - 8
		d.note(fmt.Sprintf("FIXED order %d", order))
		if order >= n && order > 0 { // libFLAC refuses these too
			return fail("fixed predictor of order %d for a block of %d samples", order, n)
		}
		for i := range order {
			v, err := in.signed(bps)
			if err != nil {
				return d.inputError(err, at)
			}
			dst[i] = v
		}
		if err := d.residual(dst, order, at); err != nil {
			return err
		}
		fixedPredict(dst, order)
	case kind >= 32: // LPC
		order := kind - 31
		d.note("LPC")
		if order >= n {
			return fail("LPC predictor of order %d for a block of %d samples", order, n)
		}
		for i := range order {
			v, err := in.signed(bps)
			if err != nil {
				return d.inputError(err, at)
			}
			dst[i] = v
		}
		p, err := in.bits(4)
		if err != nil {
			return d.inputError(err, at)
		}
		if p == 15 {
			return fail("invalid LPC coefficient precision")
		}
		shift, err := in.signed(5)
		if err != nil {
			return d.inputError(err, at)
		}
		if shift < 0 {
			return fail("negative LPC shift %d", shift)
		}
		coef := d.coef[:order]
		for i := range coef {
			if coef[i], err = in.signed(uint(p) + 1); err != nil {
				return d.inputError(err, at)
			}
		}
		if err := d.residual(dst, order, at); err != nil {
			return err
		}
		lpcPredict(dst, coef, uint(shift))
	default:
		return fail("reserved subframe type %d", kind)
	}
	if wasted > 0 {
		d.note("wasted bits")
		for i := range dst {
			dst[i] <<= wasted
		}
	}
	return nil
}

// residual reads the Rice-coded residual of a predictor of the given
// order into dst[order:].
func (d *flacDecoder) residual(dst []int64, order int, at int64) error {
	in := d.in
	fail := func(what string, args ...any) error { return d.frameFail(at, what, args...) }
	h, err := in.bits(6)
	if err != nil {
		return d.inputError(err, at)
	}
	method, porder := h>>4, uint(h&15)
	if method > 1 {
		return fail("reserved residual coding method %d", method)
	}
	paramBits, escape := uint(4), uint64(15)
	if method == 1 {
		paramBits, escape = 5, 31
		d.note("Rice2")
	} else {
		d.note("Rice")
	}
	n := len(dst)
	parts := 1 << porder
	if n%parts != 0 || n>>porder < order {
		return fail("%d residual partitions for a block of %d samples and a predictor of order %d", parts, n, order)
	}
	psize := n >> porder
	i := order
	for p := range parts {
		k, err := in.bits(paramBits)
		if err != nil {
			return d.inputError(err, at)
		}
		end := (p + 1) * psize
		if k == escape {
			d.note("escape")
			nb, err := in.bits(5)
			if err != nil {
				return d.inputError(err, at)
			}
			for ; i < end; i++ {
				if dst[i], err = in.signed(uint(nb)); err != nil {
					return d.inputError(err, at)
				}
			}
			continue
		}
		if err := d.rice(dst[i:end], uint(k)); err != nil {
			return d.inputError(err, at)
		}
		i = end
	}
	return nil
}

// rice reads len(dst) Rice codes with parameter k (≤ 30): a unary
// quotient, k low bits, and the zigzag sign. A code of 2^32 or more is an
// error, so every residual fits in 32 bits.
func (d *flacDecoder) rice(dst []int64, k uint) error {
	in := d.in
	limit := uint64(1) << (32 - k)
	for i := range dst {
		if in.nbits < 32+k {
			if err := in.refill(56); err != nil && in.nbits == 0 {
				return err
			}
		}
		// Fast path: the whole code is in acc.
		if acc := in.acc; acc != 0 {
			if z := uint(bits.LeadingZeros64(acc)); z+1+k <= in.nbits && uint64(z) < limit {
				acc <<= z + 1
				u := uint64(z)<<k | acc>>(64-k) // acc>>64 is 0 when k is 0
				in.acc = acc << k
				in.nbits -= z + 1 + k
				dst[i] = int64(u>>1) ^ -int64(u&1)
				continue
			}
		}
		q, err := in.unary(limit)
		if err != nil {
			return err
		}
		low, err := in.bits(k)
		if err != nil {
			return err
		}
		u := q<<k | low
		dst[i] = int64(u>>1) ^ -int64(u&1)
	}
	return nil
}

// fixedPredict turns residuals into samples with the fixed polynomial
// predictor of the given order; dst[:order] holds the warm-up samples.
func fixedPredict(s []int64, order int) {
	switch order {
	case 1:
		for i := 1; i < len(s); i++ {
			s[i] += s[i-1]
		}
	case 2:
		for i := 2; i < len(s); i++ {
			s[i] += 2*s[i-1] - s[i-2]
		}
	case 3:
		for i := 3; i < len(s); i++ {
			s[i] += 3*s[i-1] - 3*s[i-2] + s[i-3]
		}
	case 4:
		for i := 4; i < len(s); i++ {
			s[i] += 4*s[i-1] - 6*s[i-2] + 4*s[i-3] - s[i-4]
		}
	}
}

// lpcPredict turns residuals into samples with a quantized linear
// predictor: s[i] += (Σ coef[j]·s[i-1-j]) >> shift.
func lpcPredict(s []int64, coef []int64, shift uint) {
	order := len(coef)
	var rc [flacMaxLPCOrder]int64 // coefficients oldest first
	for j, c := range coef {
		rc[order-1-j] = c
	}
	r := rc[:order]
	for i := order; i < len(s); i++ {
		hist := s[i-order : i]
		var sum int64
		for j, c := range r[:len(hist)] {
			sum += c * hist[j]
		}
		s[i] += sum >> shift
	}
}

// readFLACMetadata reads the marker (after an optional ID3v2 tag, which
// some taggers put in front) and the METADATA blocks, and returns
// STREAMINFO. left is the number of input bytes before the marker, or -1.
func readFLACMetadata(in *flacReader, name string, left int64) (flacStreamInfo, error) {
	var si flacStreamInfo
	fail := func(kind error, format string, args ...any) error {
		return &FormatError{Name: name, Kind: kind, Problem: fmt.Sprintf(format, args...)}
	}
	remaining := func() int64 {
		if left < 0 {
			return -1
		}
		return left - (in.offset() - in.start)
	}
	ioErr := func(err error, what string) error {
		if err == errBitsEOF {
			return fail(ErrTruncated, "file ends inside %s", what)
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	var magic [4]byte
	if err := in.readFull(magic[:]); err != nil {
		return si, ioErr(err, "the FLAC marker")
	}
	if string(magic[:3]) == "ID3" {
		var h [6]byte
		if err := in.readFull(h[:]); err != nil {
			return si, ioErr(err, "the ID3 tag header")
		}
		if h[2]|h[3]|h[4]|h[5] >= 0x80 {
			return si, fail(ErrMalformed, "ID3 tag with a malformed size")
		}
		size := int64(h[2])<<21 | int64(h[3])<<14 | int64(h[4])<<7 | int64(h[5])
		if h[1]&0x10 != 0 { // footer
			size += 10
		}
		if r := remaining(); r >= 0 && size > r {
			return si, fail(ErrTruncated, "ID3 tag of %d bytes, but only %d remain", size, r)
		}
		if _, err := in.skip(size); err != nil {
			return si, ioErr(err, "the ID3 tag")
		}
		if err := in.readFull(magic[:]); err != nil {
			return si, ioErr(err, "the FLAC marker after the ID3 tag")
		}
		if string(magic[:]) != "fLaC" {
			return si, fail(ErrUnsupported, "an ID3 tag not followed by FLAC (MP3 is not supported)")
		}
	}
	if string(magic[:]) != "fLaC" {
		return si, fail(ErrMalformed, "not a FLAC file (no fLaC marker)")
	}
	for block := 0; ; block++ {
		start := in.offset()
		var h [4]byte
		if err := in.readFull(h[:]); err != nil {
			if block == 0 {
				return si, ioErr(err, "the FLAC STREAMINFO block")
			}
			return si, ioErr(err, fmt.Sprintf("the FLAC metadata block header at byte %d", start))
		}
		last, kind := h[0]&0x80 != 0, h[0]&0x7F
		size := int64(h[1])<<16 | int64(h[2])<<8 | int64(h[3])
		if r := remaining(); r >= 0 && size > r {
			return si, fail(ErrTruncated, "FLAC metadata block %d (type %d) at byte %d declares %d bytes, but only %d remain", block, kind, start, size, r)
		}
		switch {
		case block == 0 && kind != 0:
			return si, fail(ErrMalformed, "the first FLAC metadata block has type %d, not STREAMINFO", kind)
		case block > 0 && kind == 0:
			return si, fail(ErrMalformed, "a second STREAMINFO block at byte %d", start)
		case kind == 127:
			return si, fail(ErrMalformed, "invalid FLAC metadata block type 127 at byte %d", start)
		case kind == 0:
			if size != flacStreamInfoBytes {
				return si, fail(ErrMalformed, "STREAMINFO of %d bytes, not %d", size, flacStreamInfoBytes)
			}
			var b [flacStreamInfoBytes]byte
			if err := in.readFull(b[:]); err != nil {
				return si, ioErr(err, "the FLAC STREAMINFO block")
			}
			if err := parseStreamInfo(&si, b[:]); err != nil {
				return si, fail(ErrMalformed, "%s", err)
			}
		default:
			n, err := in.skip(size)
			if err == errBitsEOF {
				return si, fail(ErrTruncated, "FLAC metadata block %d (type %d) at byte %d declares %d bytes, but the file ends after %d", block, kind, start, size, n)
			} else if err != nil {
				return si, fmt.Errorf("%s: %w", name, err)
			}
		}
		if last {
			break
		}
	}
	if r := remaining(); r >= 0 {
		if limit := r / si.minFrameBytes() * int64(si.maxBlock); si.total > limit {
			return si, fail(ErrTruncated, "STREAMINFO declares %d samples, but the %d bytes of frames can hold at most %d", si.total, r, limit)
		}
	}
	return si, nil
}

func parseStreamInfo(si *flacStreamInfo, b []byte) error {
	si.minBlock = int(binary.BigEndian.Uint16(b[0:]))
	si.maxBlock = int(binary.BigEndian.Uint16(b[2:]))
	si.minFrame = int(b[4])<<16 | int(b[5])<<8 | int(b[6])
	si.maxFrame = int(b[7])<<16 | int(b[8])<<8 | int(b[9])
	x := binary.BigEndian.Uint64(b[10:])
	si.rate = int(x >> 44)
	si.channels = int(x>>41&7) + 1
	si.bps = int(x>>36&31) + 1
	si.total = int64(x & (1<<36 - 1))
	copy(si.md5[:], b[18:34])
	switch {
	case si.maxBlock < 16:
		return fmt.Errorf("STREAMINFO maximum block size %d, less than 16", si.maxBlock)
	case si.minBlock > si.maxBlock:
		return fmt.Errorf("STREAMINFO minimum block size %d is more than the maximum %d", si.minBlock, si.maxBlock)
	case si.rate == 0:
		return fmt.Errorf("STREAMINFO sample rate 0")
	case si.bps < 4:
		return fmt.Errorf("STREAMINFO %d bits per sample, fewer than 4", si.bps)
	}
	return nil
}

// flacResult is what decoding a FLAC stream produced, for Decode and for
// the tests' memory accounting.
type flacResult struct {
	si     flacStreamInfo
	frames int64 // samples per channel decoded
	alloc  int64 // bytes allocated for frame buffers
}

// decodeFLAC decodes the FLAC stream that wr starts with into mono
// samples (channel < 0 averages the channels), checking the channel
// request once STREAMINFO is known.
func decodeFLAC(wr *wavReader, opts DecodeOptions) (*Clip, flacResult, error) {
	var res flacResult
	bufSize := readBlock
	if wr.left >= 0 && wr.left < int64(bufSize) {
		bufSize = int(wr.left) + 16
	}
	in := newFlacReader(wr.br, bufSize, wr.offset)
	si, err := readFLACMetadata(in, wr.name, wr.left)
	res.si = si
	if err != nil {
		return nil, res, err
	}
	channel, err := pickChannel(wr.name, opts, si.channels)
	if err != nil {
		return nil, res, err
	}
	d := &flacDecoder{name: wr.name, in: in, si: si, numbered: true}
	var out []float32
	if wr.left >= 0 && si.total > 0 {
		// Enough for typical compression; silence that compresses further
		// grows the slice as it decodes.
		out = make([]float32, 0, min(si.total, 4*max(wr.left-(in.offset()-in.start), 0)+int64(si.maxBlock)))
	}
	var sum hash.Hash
	var md5buf []byte
	if si.md5 != ([16]byte{}) {
		sum = md5.New()
		md5buf = make([]byte, 0, 8192)
	}
	for {
		if si.total > 0 && d.samples == si.total && !in.atEOF() {
			return nil, res, d.fail(ErrMalformed, "data after the last FLAC frame, at byte %d (the %d samples STREAMINFO declares are complete)", in.offset(), si.total)
		}
		fr, err := d.nextFrame()
		res.alloc = d.alloc
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, res, err
		}
		if si.total > 0 && d.samples > si.total {
			return nil, res, d.fail(ErrMalformed, "the FLAC frames hold more samples than the %d STREAMINFO declares (frame at byte %d)", si.total, fr.offset)
		}
		out = appendFLACFrame(out, d.ch[:si.channels], fr.blockSize, si.bps, channel)
		res.frames = d.samples
		if sum != nil {
			md5buf = md5Frame(sum, md5buf, d.ch[:si.channels], fr.blockSize, si.bps)
		}
	}
	if si.total > 0 && d.samples < si.total {
		return nil, res, d.fail(ErrTruncated, "STREAMINFO declares %d samples, but the FLAC frames hold %d", si.total, d.samples)
	}
	if sum != nil {
		if got := sum.Sum(nil); string(got) != string(si.md5[:]) {
			return nil, res, d.fail(ErrMalformed, "the decoded audio does not match the MD5 signature in STREAMINFO (%x, decoded %x)", si.md5, got)
		}
	}
	info := Info{Container: ContainerFLAC, Format: "pcm", Bits: si.bps, Channels: si.channels, SampleRate: si.rate,
		Frames: d.samples, Streamed: si.total == 0}
	return &Clip{Name: wr.name, Info: info, Samples: out}, res, nil
}

// appendFLACFrame appends the mono samples of one frame, scaled as the
// WAV reader scales the same bits, so that FLAC decodes to exactly the
// float32 values of the WAV file `flac -d` writes.
func appendFLACFrame(out []float32, ch [][]int64, n, bps, channel int) []float32 {
	at := len(out)
	out = slices.Grow(out, n)[:at+n]
	dst := out[at:]
	scale := 1 / float64(uint64(1)<<(bps-1))
	if len(ch) == 1 || channel >= 0 {
		src := ch[max(channel, 0)][:n]
		if bps <= 24 { // exact in float32
			s := float32(scale)
			for i, v := range src {
				dst[i] = float32(v) * s
			}
		} else {
			for i, v := range src {
				dst[i] = min(float32(float64(v)*scale), belowOne)
			}
		}
		return out
	}
	inv := 1 / float64(len(ch))
	for i := range dst {
		var sum float64
		for _, c := range ch {
			sum += float64(c[i]) * scale
		}
		v := float32(sum * inv)
		if bps > 24 {
			v = min(v, belowOne)
		}
		dst[i] = v
	}
	return out
}

// md5Frame adds one frame to the MD5 of the decoded audio: interleaved
// little-endian samples of (bps+7)/8 bytes, as libFLAC sums them. buf is
// a scratch buffer of at least flacMaxChannels*4 bytes.
func md5Frame(h hash.Hash, buf []byte, ch [][]int64, n, bps int) []byte {
	nb := (bps + 7) / 8
	step := nb * len(ch)
	buf = buf[:cap(buf)]
	per := len(buf) / step // frames per write
	for i := 0; i < n; i += per {
		m := min(per, n-i)
		for c, src := range ch {
			src = src[i : i+m]
			o := c * nb
			switch nb {
			case 1:
				for _, v := range src {
					buf[o] = byte(v)
					o += step
				}
			case 2:
				for _, v := range src {
					binary.LittleEndian.PutUint16(buf[o:], uint16(v))
					o += step
				}
			case 3:
				for _, v := range src {
					b := buf[o : o+3]
					b[0], b[1], b[2] = byte(v), byte(v>>8), byte(v>>16)
					o += step
				}
			default:
				for _, v := range src {
					binary.LittleEndian.PutUint32(buf[o:], uint32(v))
					o += step
				}
			}
		}
		h.Write(buf[:m*step])
	}
	return buf[:0]
}

// readFLACInfo describes a FLAC file without decoding all of it: it reads
// the metadata and the first frame, then finds the last frame by decoding
// from the end of the file, so that a file cut short (inside a frame or
// at a frame boundary, as an interrupted download leaves it) is reported
// as truncated, and a stream without a sample count in STREAMINFO still
// gets its length. Damage in the middle of the file is left to Decode.
func readFLACInfo(f io.ReaderAt, wr *wavReader, size int64) (Info, error) {
	in := newFlacReader(wr.br, min(readBlock, int(size)+16), wr.offset)
	si, err := readFLACMetadata(in, wr.name, wr.left)
	if err != nil {
		return Info{}, err
	}
	info := Info{Container: ContainerFLAC, Format: "pcm", Bits: si.bps, Channels: si.channels, SampleRate: si.rate, Streamed: si.total == 0}
	d := &flacDecoder{name: wr.name, in: in, si: si, numbered: true}
	first, err := d.nextFrame()
	if err == io.EOF {
		if si.total > 0 {
			return Info{}, d.fail(ErrTruncated, "STREAMINFO declares %d samples, but the file has no FLAC frames", si.total)
		}
		return info, nil
	}
	if err != nil {
		return Info{}, err
	}
	count := int64(first.blockSize)
	if after := in.offset(); after < size {
		last, err := lastFLACFrame(f, wr.name, si, after, size, first)
		if err == errNoTailFrame {
			// No frame decodes to the end within the largest window a
			// real encoder needs: decode forward, which finds the length
			// of a valid file however odd its frames, or the first error.
			for {
				_, err := d.nextFrame()
				if err == io.EOF {
					break
				}
				if err != nil {
					return Info{}, err
				}
			}
			count = d.samples
		} else if err != nil {
			return Info{}, err
		} else if last.variable {
			count = int64(last.number) + int64(last.blockSize)
		} else {
			count = int64(last.number)*int64(first.blockSize) + int64(last.blockSize)
		}
	}
	switch {
	case si.total > 0 && count < si.total:
		return Info{}, d.fail(ErrTruncated, "STREAMINFO declares %d samples, but the FLAC frames hold %d", si.total, count)
	case si.total > 0 && count > si.total:
		return Info{}, d.fail(ErrMalformed, "the FLAC frames hold more samples than the %d STREAMINFO declares", si.total)
	}
	info.Frames = count
	return info, nil
}

// lastFLACFrame finds the last frame of a file whose frames start before
// from: it reads a window at the end of the file, and tries each frame
// sync in it, the latest first, until one decodes to the end of the file
// through consecutive frames. The window grows up to the size of the
// largest frame STREAMINFO allows.
func lastFLACFrame(f io.ReaderAt, name string, si flacStreamInfo, from, size int64, first flacFrame) (flacFrame, error) {
	fail := func(kind error, format string, args ...any) error {
		return &FormatError{Name: name, Kind: kind, Problem: fmt.Sprintf(format, args...)}
	}
	// A verbatim frame of the largest block, with margin: real encoders
	// never write a larger one.
	largest := int64(64 + si.channels*(2+(si.bps+1)*si.maxBlock/8))
	w := int64(8 << 10)
	if si.maxFrame > 0 {
		w = max(w, int64(si.maxFrame)+64)
	}
	sync1 := byte(0xF8)
	if first.variable {
		sync1 = 0xF9
	}
	var buf []byte
	for {
		lo := max(from, size-w)
		buf = slices.Grow(buf[:0], int(size-lo))[:size-lo]
		if _, err := f.ReadAt(buf, lo); err != nil && err != io.EOF {
			return flacFrame{}, fmt.Errorf("%s: %w", name, err)
		}
		for p := len(buf) - 2; p >= 0; p-- {
			if buf[p] != 0xFF || buf[p+1] != sync1 {
				continue
			}
			d := &flacDecoder{name: name, in: newFlacReader(bytes.NewReader(buf[p:]), len(buf)-p+16, lo+int64(p)), si: si}
			var last flacFrame
			for n := 0; ; n++ {
				fr, err := d.nextFrame()
				if err == io.EOF {
					return last, nil
				}
				if err == nil && n > 0 && !consecutive(last, fr, first) {
					err = fail(ErrMalformed, "FLAC frame at byte %d does not follow the frame before it", fr.offset)
				}
				if err != nil {
					if n > 0 { // a real frame decoded, so this one is real too
						return fr, err
					}
					break
				}
				last = fr
			}
		}
		if lo == from || w >= largest {
			return flacFrame{}, errNoTailFrame
		}
		w *= 4
	}
}

// errNoTailFrame: no frame at the end of the file decodes to its end.
var errNoTailFrame = errors.New("no complete FLAC frame at the end of the file")

// consecutive reports whether frame b can follow frame a.
func consecutive(a, b, first flacFrame) bool {
	if a.variable {
		return b.number == a.number+uint64(a.blockSize)
	}
	return b.number == a.number+1 && a.blockSize == first.blockSize
}
