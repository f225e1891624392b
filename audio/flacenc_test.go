package audio

// A FLAC encoder for the tests: it writes every coding the format has,
// including those the reference encoder never chooses (escape codes,
// variable block sizes, every header code, bit depths from 4 to 32, LPC
// of order 32), so that the decoder can be checked on them without any
// tool: decoding must give back the integers that were encoded. When
// flac is installed, the same streams are also checked with `flac -t` and
// `flac -d`, which shows this encoder writes valid FLAC.

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type bitWriter struct {
	buf []byte
	cur byte
	n   uint
}

func (w *bitWriter) put(v uint64, n uint) {
	for i := int(n) - 1; i >= 0; i-- {
		w.cur = w.cur<<1 | byte(v>>uint(i)&1)
		if w.n++; w.n == 8 {
			w.buf = append(w.buf, w.cur)
			w.cur, w.n = 0, 0
		}
	}
}

func (w *bitWriter) unary(q uint64) {
	for ; q > 0; q-- {
		w.put(0, 1)
	}
	w.put(1, 1)
}

func (w *bitWriter) align() {
	for w.n != 0 {
		w.put(0, 1)
	}
}

// tSub says how to code one subframe.
type tSub struct {
	kind   string // "constant", "verbatim", "fixed", "lpc", or "raw" (typeCode as is)
	order  int
	coefs  []int64 // LPC, newest sample first
	prec   uint    // LPC coefficient precision; 0: 15
	shift  int
	wasted uint
	method int   // 0 Rice, 1 Rice2
	porder uint  // partition order
	params []int // per partition: a Rice parameter, or -1 for an escape; nil: fitted
	// For malformed streams.
	typeCode int // with kind "raw"
}

// tFrame is one frame: the samples of each channel as they are meant to
// decode (left and right for the stereo modes) and how to code them.
type tFrame struct {
	chMode  int // 0..7 independent, 8 left/side, 9 side/right, 10 mid/side; -1: channels-1
	samples [][]int64
	subs    []tSub // one per channel; missing ones are fitted fixed predictors
	bsCode  int    // 0: fitted to the block size
	srCode  int    // 0: from STREAMINFO
	bpsCode int    // 0: from STREAMINFO; -1: the explicit code
	number  int64  // -1: the right one
}

type tStream struct {
	rate, channels, bps int
	variable            bool
	frames              []tFrame
	total               int64 // -1: the right one
	noMD5               bool
	maxBlock            int // 0: the largest frame's, at least 16
}

func zigzag(r int64) uint64 { return uint64(r<<1) ^ uint64(r>>63) }

// bitsFor is the signed width that holds every value.
func bitsFor(v []int64) uint {
	var n uint
	for _, x := range v {
		for x < -(int64(1)<<n>>1) || x > int64(1)<<n>>1-1 || (n == 0 && x != 0) {
			n++
		}
	}
	return n
}

func writeSubframe(w *bitWriter, s []int64, bps uint, sub tSub) {
	v := make([]int64, len(s))
	for i, x := range s {
		v[i] = x >> sub.wasted
	}
	code := map[string]int{"constant": 0, "verbatim": 1, "fixed": 8 + sub.order, "lpc": 31 + sub.order, "raw": sub.typeCode}[sub.kind]
	w.put(uint64(code), 7) // a zero pad bit and the 6-bit type
	if sub.wasted > 0 {
		w.put(1, 1)
		w.unary(uint64(sub.wasted - 1))
	} else {
		w.put(0, 1)
	}
	bps -= min(sub.wasted, bps)
	switch sub.kind {
	case "constant":
		w.put(uint64(v[0]), bps)
		return
	case "verbatim", "raw":
		for _, x := range v {
			w.put(uint64(x), bps)
		}
		return
	}
	res := make([]int64, len(v))
	order := sub.order
	for i := range v {
		w := int64(0)
		if i >= order {
			switch sub.kind {
			case "fixed":
				w = [...]func(i int) int64{
					func(int) int64 { return 0 },
					func(i int) int64 { return v[i-1] },
					func(i int) int64 { return 2*v[i-1] - v[i-2] },
					func(i int) int64 { return 3*v[i-1] - 3*v[i-2] + v[i-3] },
					func(i int) int64 { return 4*v[i-1] - 6*v[i-2] + 4*v[i-3] - v[i-4] },
				}[order](i)
			case "lpc":
				var sum int64
				for j, c := range sub.coefs {
					sum += c * v[i-1-j]
				}
				w = sum >> max(sub.shift, 0)
			}
		}
		res[i] = v[i] - w
	}
	for _, x := range v[:min(order, len(v))] {
		w.put(uint64(x), bps)
	}
	if sub.kind == "lpc" {
		prec := sub.prec
		if prec == 0 {
			prec = 15
		}
		w.put(uint64(prec-1), 4)
		w.put(uint64(sub.shift), 5)
		for _, c := range sub.coefs {
			w.put(uint64(c), prec)
		}
	}
	pbits, esc := uint(4), uint64(15)
	if sub.method == 1 {
		pbits, esc = 5, 31
	}
	w.put(uint64(sub.method), 2)
	w.put(uint64(sub.porder), 4)
	parts := 1 << sub.porder
	psize := len(v) >> sub.porder
	for p := range parts {
		hi := (p + 1) * psize
		lo := min(max(p*psize, order), hi)
		part := res[lo:hi]
		k := -2
		if sub.params != nil {
			k = sub.params[p]
		}
		if k == -2 { // fit: the mean magnitude's width
			var sum uint64
			for _, r := range part {
				sum += zigzag(r)
			}
			k = 0
			for len(part) > 0 && uint64(len(part))<<(k+1) <= sum && k < int(esc)-1 {
				k++
			}
		}
		if k == -1 {
			n := bitsFor(part)
			w.put(esc, pbits)
			w.put(uint64(n), 5)
			for _, r := range part {
				w.put(uint64(r), n)
			}
			continue
		}
		w.put(uint64(k), pbits)
		for _, r := range part {
			u := zigzag(r)
			w.unary(u >> k)
			w.put(u, uint(k))
		}
	}
}

func utf8Number(n uint64) []byte {
	if n < 0x80 {
		return []byte{byte(n)}
	}
	l := 2
	for n >= 1<<(5*l+1) {
		l++
	}
	b := []byte{byte(0xFF<<(8-l)) | byte(n>>(6*(l-1)))}
	for k := l - 2; k >= 0; k-- {
		b = append(b, 0x80|byte(n>>(6*k))&0x3F)
	}
	return b
}

var bsCodes = map[int]int{192: 1, 576: 2, 1152: 3, 2304: 4, 4608: 5, 256: 8, 512: 9, 1024: 10, 2048: 11, 4096: 12, 8192: 13, 16384: 14, 32768: 15}
var bpsCodes = map[int]int{8: 1, 12: 2, 16: 4, 20: 5, 24: 6, 32: 7}

// encodeFLAC writes a whole stream.
func encodeFLAC(s tStream) []byte {
	out := []byte("fLaC")
	maxBlock, minBlock, total := 16, 65535, int64(0)
	for i, f := range s.frames {
		n := len(f.samples[0])
		maxBlock = max(maxBlock, n)
		if i < len(s.frames)-1 || len(s.frames) == 1 {
			minBlock = min(minBlock, n)
		}
		total += int64(n)
	}
	minBlock = min(minBlock, maxBlock)
	if s.maxBlock > 0 {
		maxBlock = s.maxBlock
	}
	if s.total >= 0 {
		total = s.total
	}
	h := md5.New()
	var frames []byte
	var sample, number int64
	for _, f := range s.frames {
		n := len(f.samples[0])
		var w bitWriter
		w.put(0x3FFE, 14)
		w.put(0, 1)
		if s.variable {
			w.put(1, 1)
		} else {
			w.put(0, 1)
		}
		bs := f.bsCode
		if bs == 0 {
			if c, ok := bsCodes[n]; ok {
				bs = c
			} else if n <= 256 {
				bs = 6
			} else {
				bs = 7
			}
		}
		bpsCode := f.bpsCode
		if bpsCode == -1 {
			bpsCode = bpsCodes[s.bps]
		}
		chMode := f.chMode
		if chMode < 0 {
			chMode = s.channels - 1
		}
		w.put(uint64(bs), 4)
		w.put(uint64(f.srCode), 4)
		w.put(uint64(chMode), 4)
		w.put(uint64(bpsCode), 3)
		w.put(0, 1)
		num := uint64(number)
		if s.variable {
			num = uint64(sample)
		}
		if f.number >= 0 {
			num = uint64(f.number)
		}
		w.buf = append(w.buf, utf8Number(num)...)
		switch bs {
		case 6:
			w.put(uint64(n-1), 8)
		case 7:
			w.put(uint64(n-1), 16)
		}
		switch f.srCode {
		case 12:
			w.put(uint64(s.rate/1000), 8)
		case 13:
			w.put(uint64(s.rate), 16)
		case 14:
			w.put(uint64(s.rate/10), 16)
		}
		w.put(uint64(crc8(w.buf)), 8)
		// The channels as coded.
		coded := f.samples
		l, r := f.samples[0], f.samples[min(1, len(f.samples)-1)]
		side := make([]int64, n)
		mid := make([]int64, n)
		for i := range side {
			side[i] = l[i] - r[i]
			mid[i] = (l[i] + r[i]) >> 1
		}
		switch chMode {
		case 8:
			coded = [][]int64{l, side}
		case 9:
			coded = [][]int64{side, r}
		case 10:
			coded = [][]int64{mid, side}
		}
		for c, x := range coded {
			bps := uint(s.bps)
			if (chMode == 8 && c == 1) || (chMode == 9 && c == 0) || (chMode == 10 && c == 1) {
				bps++
			}
			sub := tSub{kind: "fixed", order: 2}
			if c < len(f.subs) {
				sub = f.subs[c]
			}
			writeSubframe(&w, x, bps, sub)
		}
		w.align()
		w.put(uint64(crc16Update(0, w.buf)), 16)
		frames = append(frames, w.buf...)
		// The MD5 as libFLAC sums it, written out independently here.
		nb := (s.bps + 7) / 8
		for i := range n {
			for c := range s.channels {
				v := f.samples[c][i]
				for k := range nb {
					h.Write([]byte{byte(v >> (8 * k))})
				}
			}
		}
		sample += int64(n)
		number++
	}
	var si [flacStreamInfoBytes]byte
	si[0], si[1] = byte(minBlock>>8), byte(minBlock)
	si[2], si[3] = byte(maxBlock>>8), byte(maxBlock)
	x := uint64(s.rate)<<44 | uint64(s.channels-1)<<41 | uint64(s.bps-1)<<36 | uint64(total)&(1<<36-1)
	for k := range 8 {
		si[10+k] = byte(x >> (56 - 8*k))
	}
	if !s.noMD5 {
		copy(si[18:], h.Sum(nil))
	}
	out = append(out, 0x80, 0, 0, flacStreamInfoBytes)
	out = append(out, si[:]...)
	return append(out, frames...)
}

// tSignal is n samples that fit bps bits: a slow wave, noise, steps.
func tSignal(n, bps int, seed uint64) []int64 {
	x := seed*0x9E3779B97F4A7C15 | 1
	full := int64(1)<<(bps-1) - 1
	v := make([]int64, n)
	var acc int64
	for i := range v {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		noise := int64(x>>40)%(full/8+1) - full/16
		acc += noise / 4
		acc -= acc / 16
		v[i] = max(min(acc+noise/8, full), -full-1)
	}
	return v
}

// encoderCases are streams that together use every coding of the format.
func encoderCases() map[string]tStream {
	cases := map[string]tStream{}
	mono := func(bps int, subs ...tSub) tStream {
		s := tStream{rate: 16000, channels: 1, bps: bps, total: -1}
		for i, sub := range subs {
			n := 64
			sig := tSignal(n, bps, uint64(i+1))
			switch sub.kind {
			case "constant":
				sig = make([]int64, n)
				for j := range sig {
					sig[j] = int64(1) << (bps - 2)
				}
			}
			if sub.wasted > 0 {
				for j := range sig {
					sig[j] = sig[j] >> sub.wasted << sub.wasted
				}
			}
			s.frames = append(s.frames, tFrame{chMode: -1, samples: [][]int64{sig}, subs: []tSub{sub}, number: -1})
		}
		return s
	}
	all := []tSub{
		{kind: "constant"}, {kind: "verbatim"},
		{kind: "fixed", order: 0}, {kind: "fixed", order: 1}, {kind: "fixed", order: 2, porder: 3},
		{kind: "fixed", order: 3, porder: 4}, {kind: "fixed", order: 4, method: 1, porder: 2},
		{kind: "fixed", order: 4, porder: 4}, // no residual in the first partition
		{kind: "lpc", order: 1, coefs: []int64{1}, prec: 2},
		{kind: "lpc", order: 8, coefs: []int64{900, -300, 120, 40, -20, 10, 5, -2}, prec: 12, shift: 10, porder: 2},
		{kind: "lpc", order: 32, coefs: make([]int64, 32), prec: 15, shift: 15},
		{kind: "lpc", order: 2, coefs: []int64{16383, -8192}, prec: 15, shift: 13, method: 1},
		{kind: "fixed", order: 2, wasted: 3, porder: 1},
		{kind: "fixed", order: 1, params: []int{-1}},               // escape, raw residuals
		{kind: "fixed", order: 1, porder: 1, params: []int{0, 14}}, // the smallest and largest 4-bit parameters
		{kind: "lpc", order: 4, coefs: []int64{3, -3, 1, 0}, prec: 4, porder: 2, method: 1, params: []int{30, -1, 2, 0}},
	}
	for _, bps := range []int{4, 5, 8, 12, 13, 16, 17, 20, 23, 24, 31, 32} {
		subs := all
		if bps < 8 { // small depths: predictors whose residuals stay small
			subs = []tSub{{kind: "constant"}, {kind: "verbatim"}, {kind: "fixed", order: 0}, {kind: "fixed", order: 1, params: []int{-1}},
				{kind: "fixed", order: 2, wasted: 1}}
		}
		if bps > 16 { // fitted Rice parameters: small ones would make unary codes of millions of bits
			subs = slices.Clone(subs)
			for i := range subs {
				if p := subs[i].params; p != nil {
					subs[i].params = slices.Clone(p)
					for j, k := range p {
						if k >= 0 {
							subs[i].params[j] = -2
						}
					}
				}
			}
		}
		cases[fmt.Sprintf("mono_%dbit", bps)] = mono(bps, subs...)
	}
	// An escape with zero bits: silence after a FIXED order-0 predictor.
	z := mono(16, tSub{kind: "fixed", order: 0, params: []int{-1}})
	z.frames[0].samples[0] = make([]int64, 64)
	cases["escape_zero_bits"] = z
	// Every stereo mode at the depths where the side channel is widest.
	for _, bps := range []int{8, 16, 24, 32} {
		s := tStream{rate: 44100, channels: 2, bps: bps, total: -1}
		for i, mode := range []int{1, 8, 9, 10, 10, 8} {
			l, r := tSignal(300, bps, uint64(2*i+1)), tSignal(300, bps, uint64(2*i+2))
			if i == 4 { // extremes: the side channel needs bps+1 bits
				for j := range l {
					l[j], r[j] = int64(1)<<(bps-1)-1, -int64(1)<<(bps-1)
					if j%2 == 1 {
						l[j], r[j] = r[j], l[j]
					}
				}
			}
			subs := []tSub{{kind: "fixed", order: 1}, {kind: "verbatim"}}
			s.frames = append(s.frames, tFrame{chMode: mode, samples: [][]int64{l, r}, subs: subs, number: -1})
		}
		cases[fmt.Sprintf("stereo_modes_%dbit", bps)] = s
	}
	// Variable block sizes, every block size code, the 8- and 16-bit
	// sizes, blocks of 1 sample, sample numbers of 1 to 4 bytes.
	v := tStream{rate: 8000, channels: 1, bps: 16, variable: true, total: -1}
	sizes := []int{192, 576, 1152, 2304, 4608, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 1, 300, 5000, 17}
	for i, n := range sizes {
		v.frames = append(v.frames, tFrame{chMode: -1, samples: [][]int64{tSignal(n, 16, uint64(i))}, number: -1,
			subs: []tSub{{kind: "fixed", order: 2}, {kind: "verbatim"}}[min(n/3, 1)^1:][:1]})
	}
	cases["variable_block_sizes"] = v
	// Every sample rate and sample size code in frame headers.
	rates := map[int]int{88200: 1, 176400: 2, 192000: 3, 8000: 4, 16000: 5, 22050: 6, 24000: 7, 32000: 8, 44100: 9, 48000: 10,
		96000: 11, 11000: 12, 11025: 13, 123450: 14, 7999: 0}
	for rate, code := range rates {
		s := tStream{rate: rate, channels: 1, bps: 12, total: -1}
		for i := range 2 {
			s.frames = append(s.frames, tFrame{chMode: -1, samples: [][]int64{tSignal(100, 12, uint64(i))}, srCode: code,
				bpsCode: []int{0, -1}[i], number: -1})
		}
		cases[fmt.Sprintf("rate_%d", rate)] = s
	}
	// 3 to 8 channels, and a fixed-size stream whose last block is short.
	for ch := 3; ch <= 8; ch++ {
		s := tStream{rate: 16000, channels: ch, bps: 16, total: -1}
		for i, n := range []int{576, 576, 100} {
			var sig [][]int64
			for c := range ch {
				sig = append(sig, tSignal(n, 16, uint64(10*i+c)))
			}
			s.frames = append(s.frames, tFrame{chMode: -1, samples: sig, number: -1})
		}
		cases[fmt.Sprintf("channels_%d", ch)] = s
	}
	// Frame numbers of 1 to 4 UTF-8 bytes (sample numbers past 2^16).
	long := tStream{rate: 8000, channels: 1, bps: 16, variable: true, total: -1}
	for range 20 {
		long.frames = append(long.frames, tFrame{chMode: -1, samples: [][]int64{make([]int64, 4096)}, subs: []tSub{{kind: "constant"}}, number: -1})
	}
	cases["long_sample_numbers"] = long
	fixedMany := tStream{rate: 8000, channels: 1, bps: 8, total: -1}
	for i := range 200 {
		fixedMany.frames = append(fixedMany.frames, tFrame{chMode: -1, samples: [][]int64{tSignal(16, 8, uint64(i))}, number: -1})
	}
	cases["frame_numbers_2_bytes"] = fixedMany
	cases["no_frames"] = tStream{rate: 8000, channels: 1, bps: 16, total: -1}
	unknown := mono(16, tSub{kind: "verbatim"}, tSub{kind: "fixed", order: 1})
	unknown.total, unknown.noMD5 = 0, true
	cases["no_total_no_md5"] = unknown
	return cases
}

func interleave(s tStream) []int64 {
	var out []int64
	for _, f := range s.frames {
		for i := range f.samples[0] {
			for c := range s.channels {
				out = append(out, f.samples[c][i])
			}
		}
	}
	return out
}

// TestFLACEncoderRoundTrip decodes every coding of the format and must
// get back what was encoded, with no tool; when flac is installed it must
// accept the streams (flac -t checks the CRCs and the MD5) and decode
// them as we do.
func TestFLACEncoderRoundTrip(t *testing.T) {
	_, haveFlac := exec.LookPath("flac")
	seen := map[string]int{}
	dir := t.TempDir()
	for name, s := range encoderCases() {
		t.Run(name, func(t *testing.T) {
			b := encodeFLAC(s)
			_, got, fs, err := flacInts(b)
			if err != nil {
				t.Fatal(err)
			}
			for k, n := range fs {
				seen[k] += n
			}
			want := interleave(s)
			if len(got) != len(want) {
				t.Fatalf("%d samples decoded, %d encoded", len(got), len(want))
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("sample %d (frame %d channel %d): %d, encoded %d", i, i/s.channels, i%s.channels, got[i], want[i])
				}
			}
			clip, err := Decode(bytes.NewReader(b), name, DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			frames := int64(len(want) / s.channels)
			if clip.Info.Frames != frames || int64(len(clip.Samples)) != frames || clip.Info.Streamed != (s.total == 0 || frames == 0) {
				t.Errorf("info %+v, %d samples; encoded %d frames", clip.Info, len(clip.Samples), frames)
			}
			scale := 1 / float64(int64(1)<<(s.bps-1))
			for i := range clip.Samples {
				var sum float64
				for c := range s.channels {
					sum += float64(want[i*s.channels+c]) * scale
				}
				w := float32(sum * (1 / float64(s.channels)))
				if s.bps > 24 {
					w = min(w, belowOne)
				}
				if clip.Samples[i] != w {
					t.Fatalf("float sample %d = %g, want %g", i, clip.Samples[i], w)
				}
			}
			p := filepath.Join(dir, name+".flac")
			os.WriteFile(p, b, 0o644)
			info, err := ReadInfo(p)
			if err != nil || info != clip.Info {
				t.Errorf("ReadInfo %+v, %v; Decode %+v", info, err, clip.Info)
			}
			if haveFlac != nil || len(want) == 0 {
				return
			}
			if out, err := exec.Command("flac", "-s", "-t", p).CombinedOutput(); err != nil {
				t.Fatalf("flac -t rejects the stream: %v\n%s", err, out)
			}
			if s.bps >= 8 { // flac -d writes no WAV of fewer than 8 bits
				compareWithFlacD(t, p)
			}
		})
	}
	for _, f := range []string{"CONSTANT", "VERBATIM", "FIXED order 0", "FIXED order 4", "LPC", "Rice", "Rice2", "escape",
		"wasted bits", "left/side", "side/right", "mid/side", "variable block size", "bits 4", "bits 32", "channels 8"} {
		if seen[f] == 0 {
			t.Errorf("no encoder case has %s", f)
		}
	}
	if haveFlac != nil {
		t.Log("flac is not installed: the streams were not checked against it")
	}
}

// TestFLACMalformedFrames: streams that break one rule each get an
// ErrMalformed that says which.
func TestFLACMalformedFrames(t *testing.T) {
	base := func() tStream {
		s := tStream{rate: 8000, channels: 1, bps: 16, total: -1}
		for i := range 3 {
			s.frames = append(s.frames, tFrame{chMode: -1, samples: [][]int64{tSignal(64, 16, uint64(i))}, number: -1})
		}
		return s
	}
	cases := []struct {
		name, phrase string
		edit         func(*tStream)
	}{
		{"reserved subframe type", "reserved subframe type 2", func(s *tStream) { s.frames[1].subs = []tSub{{kind: "raw", typeCode: 2}} }},
		{"fixed order 5", "reserved subframe type 13", func(s *tStream) { s.frames[1].subs = []tSub{{kind: "raw", typeCode: 13}} }},
		{"order beyond block", "fixed predictor of order 4 for a block of 3 samples", func(s *tStream) {
			s.frames[2].samples[0] = s.frames[2].samples[0][:3]
			s.frames[2].subs = []tSub{{kind: "fixed", order: 4}}
		}},
		{"order equal to block", "fixed predictor of order 3 for a block of 3 samples", func(s *tStream) {
			s.frames[2].samples[0] = s.frames[2].samples[0][:3]
			s.frames[2].subs = []tSub{{kind: "fixed", order: 3}}
		}},
		{"partitions", "16 residual partitions for a block of 64 samples and a predictor of order 8", func(s *tStream) {
			s.frames[1].subs = []tSub{{kind: "lpc", order: 8, coefs: make([]int64, 8), porder: 4}}
		}},
		{"negative shift", "negative LPC shift -1", func(s *tStream) {
			s.frames[1].subs = []tSub{{kind: "lpc", order: 1, coefs: []int64{0}, shift: -1}}
		}},
		{"precision 16", "invalid LPC coefficient precision", func(s *tStream) {
			s.frames[1].subs = []tSub{{kind: "lpc", order: 1, coefs: []int64{0}, prec: 16}}
		}},
		{"all bits wasted", "16-bit subframe with 16 wasted bits", func(s *tStream) {
			s.frames[1].samples[0] = make([]int64, 64)
			s.frames[1].subs = []tSub{{kind: "constant", wasted: 16}}
		}},
		{"sample too wide", "outside 16 bits", func(s *tStream) {
			s.frames[1].samples[0][5] = 40000
			s.frames[1].subs = []tSub{{kind: "fixed", order: 0}}
		}},
		{"frame number gap", "is numbered 5, expected frame 1", func(s *tStream) { s.frames[1].number = 5 }},
		{"sample rate", "sample rate 16000 Hz, STREAMINFO says 8000", func(s *tStream) { s.frames[1].srCode = 5 }},
		{"bits", "24 bits per sample, STREAMINFO says 16", func(s *tStream) { s.frames[1].bpsCode = 6 }},
		{"reserved bits code", "reserved sample size code 3", func(s *tStream) { s.frames[1].bpsCode = 3 }},
		{"channels", "2 channels, STREAMINFO says 1", func(s *tStream) {
			s.frames[1].chMode = 1
			s.frames[1].samples = append(s.frames[1].samples, s.frames[1].samples[0])
		}},
		{"reserved channel code", "reserved channel assignment 11", func(s *tStream) { s.frames[1].chMode = 11 }},
		{"block over maximum", "more than STREAMINFO's maximum of 64", func(s *tStream) {
			s.maxBlock = 64
			s.frames[1].samples[0] = tSignal(65, 16, 9)
		}},
		{"short block not last", "must be the last", func(s *tStream) { s.frames[1].samples[0] = s.frames[1].samples[0][:20] }},
		{"longer block", "more than the first frame's 64", func(s *tStream) { s.maxBlock = 128; s.frames[2].samples[0] = tSignal(100, 16, 3) }},
		{"reserved block size code", "reserved block size code 0", func(s *tStream) { s.frames[1].bsCode = 0x10 }}, // written as 4 bits: 0
		{"huge residual", "residual out of range", func(s *tStream) { // a Rice code of 2^32 or more
			s.bps = 32
			for i := range s.frames[1].samples[0] {
				s.frames[1].samples[0][i] = []int64{1<<31 - 1, -1 << 31}[i/2%2]
			}
			s.frames[1].subs = []tSub{{kind: "fixed", order: 4, method: 1, params: []int{30}}}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := base()
			c.edit(&s)
			b := encodeFLAC(s)
			_, err := Decode(bytes.NewReader(b), "bad.flac", DecodeOptions{})
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.phrase) {
				t.Errorf("error %v, want ErrMalformed saying %q", err, c.phrase)
			}
		})
	}
}
