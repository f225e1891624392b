package audio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// makeSphere builds a SPHERE file: a 1024-byte header of the given field
// lines and the data.
func makeSphere(fields string, data []byte) []byte {
	h := "NIST_1A\n   1024\n" + fields + "end_head\n"
	b := append([]byte(h), bytes.Repeat([]byte{' '}, 1024-len(h))...)
	return append(b, data...)
}

func sphereFields(count, channels, nbytes int, coding, order string) string {
	s := fmt.Sprintf("sample_count -i %d\nchannel_count -i %d\nsample_n_bytes -i %d\nsample_rate -i 16000\n", count, channels, nbytes)
	if coding != "" {
		s += fmt.Sprintf("sample_coding -s%d %s\n", len(coding), coding)
	}
	if order != "" {
		s += fmt.Sprintf("sample_byte_format -s%d %s\n", len(order), order)
	}
	return s
}

// TestSphereByteOrders: the same samples little- and big-endian, mono and
// three channels, through a file and a pipe.
func TestSphereByteOrders(t *testing.T) {
	vals := []int16{0, 1, -1, 32767, -32768, 1234, -4321, 77, 0x0102}
	le, be := []byte{}, []byte{}
	for _, v := range vals {
		le = append(le, byte(v), byte(uint16(v)>>8))
		be = append(be, byte(uint16(v)>>8), byte(v))
	}
	for _, ch := range []int{1, 3} {
		frames := len(vals) / ch
		a := makeSphere(sphereFields(frames, ch, 2, "pcm", "01"), le[:frames*ch*2])
		b := makeSphere(sphereFields(frames, ch, 2, "", "10"), be[:frames*ch*2])
		for c := 0; c <= ch; c++ {
			for _, pipe := range []bool{false, true} {
				var ra, rb io.Reader = bytes.NewReader(a), bytes.NewReader(b)
				if pipe {
					ra, rb = onlyReader{ra}, onlyReader{rb}
				}
				x, err := Decode(ra, "le.sph", DecodeOptions{Channel: c})
				if err != nil {
					t.Fatal(err)
				}
				y, err := Decode(rb, "be.sph", DecodeOptions{Channel: c})
				if err != nil {
					t.Fatal(err)
				}
				want := Info{Container: ContainerSPHERE, Format: "pcm", Bits: 16, Channels: ch, SampleRate: 16000, Frames: int64(frames)}
				if x.Info != want || y.Info != want || !equalSamples(x.Samples, y.Samples) {
					t.Fatalf("%d channels, channel %d, pipe %v: %+v %v vs %+v %v", ch, c, pipe, x.Info, x.Samples, y.Info, y.Samples)
				}
				if c > 0 {
					for i, v := range x.Samples {
						if w := float32(vals[i*ch+c-1]) / 32768; v != w {
							t.Fatalf("channel %d frame %d: %g, want %g", c, i, v, w)
						}
					}
				}
			}
		}
	}
}

// TestG711Tables pins μ-law and A-law against values from ITU-T G.711's
// reference decoder (as sox, sph2pipe and libsndfile use it).
func TestG711Tables(t *testing.T) {
	for code, want := range map[byte]int{0x00: -32124, 0x7F: 0, 0x80: 32124, 0xFF: 0, 0x0F: -16764, 0x8F: 16764, 0x70: -120, 0xF0: 120, 0x7E: -8, 0x3F: -1980} {
		if got := ulawTable[code] * 32768; got != float32(want) {
			t.Errorf("μ-law %#02x = %g, want %d", code, got, want)
		}
	}
	for code, want := range map[byte]int{0xD5: 8, 0x55: -8, 0xAA: 32256, 0x2A: -32256, 0x80: 5504, 0x00: -5504, 0xD4: 24, 0xC5: 264} {
		if got := alawTable[code] * 32768; got != float32(want) {
			t.Errorf("A-law %#02x = %g, want %d", code, got, want)
		}
	}
	// Both are odd functions of the sign bit, and every value is in [-1, 1).
	for i := range 128 {
		if ulawTable[i] != -ulawTable[i|0x80] || alawTable[i] != -alawTable[i|0x80] {
			t.Errorf("code %#02x: not symmetric", i)
		}
	}
}

// TestSphereHandMade covers the header rules the sox-written golden files
// do not: each header gets its error, of the right kind.
func TestSphereHandMade(t *testing.T) {
	pcm2 := make([]byte, 20)
	cases := []struct {
		name, fields string
		data         []byte
		kind         error
		phrase       string
	}{
		{"ulaw default order", sphereFields(4, 1, 1, "ulaw", ""), []byte{0, 0x7F, 0x80, 0xFF}, nil, ""},
		{"mu-law name", sphereFields(4, 1, 1, "mu-law", "1"), []byte{0, 0x7F, 0x80, 0xFF}, nil, ""},
		{"comments and blank lines", "; a comment\n\n" + sphereFields(10, 1, 2, "pcm", "01"), pcm2, nil, ""},
		{"real rate", strings.Replace(sphereFields(10, 1, 2, "pcm", "01"), "sample_rate -i 16000", "sample_rate -r 16000.000", 1), pcm2, nil, ""},
		{"shorten", sphereFields(10, 1, 2, "pcm,embedded-shorten-v2.00", "01"), pcm2, ErrUnsupported, "sph2pipe -f wav FILE |"},
		{"shorten ulaw", sphereFields(10, 1, 1, "ulaw,embedded-shorten-v2.00", "1"), pcm2, ErrUnsupported, "shorten compression"},
		{"wavpack", sphereFields(10, 1, 2, "pcm,embedded-wavpack", "01"), pcm2, ErrUnsupported, "wavpack compression"},
		{"shortpack", sphereFields(10, 1, 2, "pcm", "shortpack-v0"), pcm2, ErrUnsupported, "sample_byte_format \"shortpack-v0\""},
		{"no byte order", sphereFields(10, 1, 2, "pcm", ""), pcm2, ErrMalformed, "without a sample_byte_format"},
		{"ulaw 2 bytes", sphereFields(5, 1, 2, "ulaw", ""), pcm2[:10], ErrMalformed, "ulaw with 2-byte samples"},
		{"no rate", "sample_count -i 10\nchannel_count -i 1\nsample_n_bytes -i 2\nsample_byte_format -s2 01\n", pcm2, ErrMalformed, "no sample_rate field"},
		{"no channels", "sample_count -i 10\nsample_rate -i 8000\nsample_n_bytes -i 2\nsample_byte_format -s2 01\n", pcm2, ErrMalformed, "no channel_count field"},
		{"negative count", sphereFields(-3, 1, 2, "pcm", "01"), pcm2, ErrMalformed, "sample_count is negative"},
		{"huge count", sphereFields(1<<62, 1, 2, "pcm", "01"), pcm2, ErrMalformed, "implausible"},
		{"count beyond file", sphereFields(1<<40, 1, 2, "pcm", "01"), pcm2, ErrTruncated, "NIST SPHERE header declares 2199023255552 bytes"},
		{"duplicate field", sphereFields(10, 1, 2, "pcm", "01") + "sample_count -i 10\n", pcm2, ErrMalformed, "sample_count appears twice"},
		{"bad line", sphereFields(10, 1, 2, "pcm", "01") + "garbage\n", pcm2, ErrMalformed, "is not \"name -type value\""},
		{"bad type", sphereFields(10, 1, 2, "pcm", "01") + "x -q 1\n", pcm2, ErrMalformed, "unknown type -q"},
		{"not an integer", strings.Replace(sphereFields(10, 1, 2, "pcm", "01"), "-i 16000", "-i 16k", 1), pcm2, ErrMalformed, "sample_rate \"16k\" is not an integer"},
		{"zero rate", strings.Replace(sphereFields(10, 1, 2, "pcm", "01"), "-i 16000", "-i 0", 1), pcm2, ErrMalformed, "sample rate 0"},
		{"too many channels", sphereFields(0, 5000, 2, "pcm", "01"), nil, ErrUnsupported, "5000 channels"},
		{"one odd byte", sphereFields(10, 1, 2, "pcm", "01"), pcm2[:19], ErrTruncated, "declares 20 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := makeSphere(c.fields, c.data)
			for _, pipe := range []bool{false, true} {
				var r io.Reader = bytes.NewReader(b)
				if pipe {
					r = onlyReader{r}
				}
				clip, err := Decode(r, "h.sph", DecodeOptions{})
				if c.kind == nil {
					if err != nil {
						t.Fatalf("pipe %v: %v", pipe, err)
					}
					if clip.Info.Container != ContainerSPHERE || int(clip.Info.Frames) != len(clip.Samples) {
						t.Errorf("pipe %v: %+v with %d samples", pipe, clip.Info, len(clip.Samples))
					}
					continue
				}
				if !errors.Is(err, c.kind) || !strings.Contains(fmt.Sprint(err), c.phrase) || !strings.HasPrefix(fmt.Sprint(err), "h.sph: ") {
					t.Errorf("pipe %v: error %v, want %v saying %q", pipe, err, c.kind, c.phrase)
				}
			}
		})
	}
	// A header size that is not 1024, and one beyond the limit.
	b := makeSphere(sphereFields(2, 1, 2, "pcm", "01"), []byte{1, 0, 2, 0})
	b2 := append([]byte(strings.Replace(string(b[:1024]), "   1024", "   2048", 1)), make([]byte, 1024)...)
	b2 = append(b2, 1, 0, 2, 0)
	if clip, err := Decode(bytes.NewReader(b2), "h", DecodeOptions{}); err != nil || len(clip.Samples) != 2 || clip.Samples[1] != 2.0/32768 {
		t.Errorf("2048-byte header: %v %v", clip, err)
	}
	b3 := []byte(strings.Replace(string(b), "   1024", "9999999", 1))
	if _, err := Decode(onlyReader{bytes.NewReader(b3)}, "h", DecodeOptions{}); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "more than the 65536 supported") {
		t.Errorf("huge header through a pipe: %v", err)
	}
}
