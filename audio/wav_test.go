package audio

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gowav "github.com/go-audio/wav"
)

// golden is testdata/golden.json, written by testdata/gen_golden.py from
// the tools' own reports (sox --i, sox stat).
type golden struct {
	Valid []struct {
		Name       string  `json:"name"`
		Format     string  `json:"format"`
		Bits       int     `json:"bits"`
		Channels   int     `json:"channels"`
		SampleRate int     `json:"sample_rate"`
		Extensible bool    `json:"extensible"`
		Streamed   bool    `json:"streamed"`
		Frames     int64   `json:"frames"`
		Peak       float64 `json:"peak"`
		RMS        float64 `json:"rms"`
		DC         float64 `json:"dc"`
	} `json:"valid"`
	Bad []struct {
		Name   string `json:"name"`
		Kind   string `json:"kind"`
		Phrase string `json:"phrase"`
		InfoOK bool   `json:"info_ok"` // only decoding the samples can find the problem
	} `json:"bad"`
}

func loadGolden(t testing.TB) golden {
	t.Helper()
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Valid) == 0 || len(g.Bad) == 0 {
		t.Fatal("golden.json lists no files")
	}
	return g
}

func wavPath(name string) string { return filepath.Join("testdata", "wav", name) }

// TestGoldenFiles checks every file the tools wrote against what sox says
// about it, through a file, through a reader of unknown size (a pipe),
// and through ReadInfo.
func TestGoldenFiles(t *testing.T) {
	const tol = 1e-4
	for _, w := range loadGolden(t).Valid {
		t.Run(w.Name, func(t *testing.T) {
			clip, err := ReadFile(wavPath(w.Name), DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := Info{Container: ContainerWAV, Format: w.Format, Bits: w.Bits, Channels: w.Channels, SampleRate: w.SampleRate,
				Frames: w.Frames, Extensible: w.Extensible, Streamed: w.Streamed}
			if clip.Info != want {
				t.Errorf("info\n got %+v\nwant %+v", clip.Info, want)
			}
			if int64(len(clip.Samples)) != w.Frames {
				t.Errorf("%d samples, want %d", len(clip.Samples), w.Frames)
			}
			st := Measure(clip.Samples)
			if math.Abs(st.Peak-w.Peak) > tol || math.Abs(st.RMS-w.RMS) > tol || math.Abs(st.DC-w.DC) > tol {
				t.Errorf("stats %+v, sox says peak %g rms %g dc %g", st, w.Peak, w.RMS, w.DC)
			}
			for i, v := range clip.Samples {
				if w.Format == "pcm" && (v < -1 || v >= 1) {
					t.Fatalf("sample %d = %g outside [-1, 1)", i, v)
				}
			}

			raw, err := os.ReadFile(wavPath(w.Name))
			if err != nil {
				t.Fatal(err)
			}
			piped, err := Decode(onlyReader{bytes.NewReader(raw)}, "pipe", DecodeOptions{})
			if err != nil {
				t.Fatalf("through a pipe: %v", err)
			}
			if piped.Info != clip.Info || !equalSamples(piped.Samples, clip.Samples) {
				t.Errorf("through a pipe: info %+v and samples differ from the file's", piped.Info)
			}

			info, err := ReadInfo(wavPath(w.Name))
			if err != nil {
				t.Fatal(err)
			}
			if info != want {
				t.Errorf("ReadInfo\n got %+v\nwant %+v", info, want)
			}
		})
	}
}

// TestBadFiles checks that every malformed or unsupported file gets an
// error of the right kind that names the file and says what is wrong,
// from a file, a pipe and ReadInfo.
func TestBadFiles(t *testing.T) {
	kinds := map[string]error{"malformed": ErrMalformed, "truncated": ErrTruncated, "unsupported": ErrUnsupported}
	for _, b := range loadGolden(t).Bad {
		t.Run(b.Name, func(t *testing.T) {
			kind := kinds[b.Kind]
			if kind == nil {
				t.Fatalf("unknown kind %q", b.Kind)
			}
			p := wavPath(b.Name)
			check := func(how string, err error, name string) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s: no error", how)
				}
				msg := err.Error()
				if !errors.Is(err, kind) || !strings.HasPrefix(msg, name+": ") || !strings.Contains(msg, b.Phrase) || strings.Contains(msg, "\n") {
					t.Errorf("%s: error %q (kind %v), want a one-line %v naming %s and saying %q", how, msg, errors.Unwrap(err), kind, name, b.Phrase)
				}
			}
			_, err := ReadFile(p, DecodeOptions{})
			check("ReadFile", err, p)
			raw, _ := os.ReadFile(p)
			_, err = Decode(onlyReader{bytes.NewReader(raw)}, "pipe", DecodeOptions{})
			check("pipe", err, "pipe")
			if _, err := ReadInfo(p); !b.InfoOK {
				check("ReadInfo", err, p)
			} else if err != nil {
				t.Errorf("ReadInfo: %v (the header is fine)", err)
			}
		})
	}
}

// TestAgainstGoAudio decodes the plain 16-bit files with go-audio/wav too:
// on the paths where that library is right the two must agree exactly.
func TestAgainstGoAudio(t *testing.T) {
	for _, name := range []string{"sox_s16.wav", "sox_s16_stereo.wav", "ffmpeg_s16_list.wav", "espeak_file.wav"} {
		f, err := os.Open(wavPath(name))
		if err != nil {
			t.Fatal(err)
		}
		buf, err := gowav.NewDecoder(f).FullPCMBuffer()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		ch := buf.Format.NumChannels
		for c := 1; c <= ch; c++ {
			clip, err := ReadFile(wavPath(name), DecodeOptions{Channel: c})
			if err != nil {
				t.Fatal(err)
			}
			if len(clip.Samples)*ch != len(buf.Data) {
				t.Fatalf("%s: %d frames, go-audio %d samples of %d channels", name, len(clip.Samples), len(buf.Data), ch)
			}
			for i, v := range clip.Samples {
				if want := float32(buf.Data[i*ch+c-1]) / 32768; v != want {
					t.Fatalf("%s channel %d frame %d: %g, go-audio %g", name, c, i, v, want)
				}
			}
		}
	}
}

func TestChannelSelectionAndDownmix(t *testing.T) {
	var left, right []float32
	for c, dst := range []*[]float32{&left, &right} {
		clip, err := ReadFile(wavPath("sox_s16_stereo.wav"), DecodeOptions{Channel: c + 1})
		if err != nil {
			t.Fatal(err)
		}
		*dst = clip.Samples
	}
	mix, err := ReadFile(wavPath("sox_s16_stereo.wav"), DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range mix.Samples {
		if want := (left[i] + right[i]) / 2; mix.Samples[i] != want {
			t.Fatalf("frame %d: mix %g, want (%g+%g)/2", i, mix.Samples[i], left[i], right[i])
		}
	}
	_, err = ReadFile(wavPath("sox_s16_stereo.wav"), DecodeOptions{Channel: 3})
	if err == nil || !strings.Contains(err.Error(), "channel 3 requested, but the file has 2") {
		t.Errorf("channel 3 of 2: %v", err)
	}
}

// TestSampleScaling pins the full-scale values of every PCM width: the
// most negative code is -1 and the most positive stays below 1.
func TestSampleScaling(t *testing.T) {
	cases := []struct {
		bits       int
		lo, hi     []byte
		wantHi     float32
		wantHiNear float64
	}{
		{8, []byte{0x00}, []byte{0xff}, 127.0 / 128, 0},
		{16, []byte{0x00, 0x80}, []byte{0xff, 0x7f}, 32767.0 / 32768, 0},
		{24, []byte{0, 0, 0x80}, []byte{0xff, 0xff, 0x7f}, 8388607.0 / 8388608, 0},
		{32, []byte{0, 0, 0, 0x80}, []byte{0xff, 0xff, 0xff, 0x7f}, belowOne, 0},
	}
	for _, c := range cases {
		data := append(append([]byte{}, c.lo...), c.hi...)
		clip, err := Decode(bytes.NewReader(makeWAV(1, 1, c.bits, data)), "x", DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if clip.Samples[0] != -1 || clip.Samples[1] != c.wantHi {
			t.Errorf("%d-bit: full scale decodes to %g, %g; want -1, %g", c.bits, clip.Samples[0], clip.Samples[1], c.wantHi)
		}
	}
}

// TestDecodeAllocatesWhatArrives feeds headers that claim gigabytes,
// through a file-like reader and a pipe: memory must follow the input.
func TestDecodeAllocatesWhatArrives(t *testing.T) {
	hdr := makeWAV(1, 2, 16, nil)
	for _, size := range []uint32{0x7FFFFFF0, 0x7FFFF000, 0xFFFFFFFF, 0} {
		b := append([]byte{}, hdr...)
		putU32(b[40:], size)
		b = append(b, make([]byte, 1000)...)
		for _, pipe := range []bool{false, true} {
			var r io.Reader = bytes.NewReader(b)
			if pipe {
				r = onlyReader{r}
			}
			alloc := allocated(func() { Decode(r, "x", DecodeOptions{}) })
			if alloc > 1<<20 {
				t.Errorf("data size %#x, pipe %v: %d bytes allocated for a %d-byte input", size, pipe, alloc, len(b))
			}
		}
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	x := make([]float32, 1001)
	for i := range x {
		x[i] = float32(int16(i*97-30000)) / 32768
	}
	x[0], x[1] = -1, 32767.0/32768
	for _, enc := range []Encoding{PCM16, Float32} {
		var buf bytes.Buffer
		if err := WriteWAV(&buf, x, 16000, enc); err != nil {
			t.Fatal(err)
		}
		clip, err := Decode(onlyReader{&buf}, "rt", DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if clip.Info.SampleRate != 16000 || clip.Info.Channels != 1 || clip.Info.Streamed || !equalSamples(clip.Samples, x) {
			t.Errorf("%v: round trip changed the audio (info %+v)", enc, clip.Info)
		}
	}
	// 16-bit rounds and clips.
	var buf bytes.Buffer
	if err := WriteWAV(&buf, []float32{1.5, -2, 0.3}, 8000, PCM16); err != nil {
		t.Fatal(err)
	}
	clip, _ := Decode(&buf, "clip", DecodeOptions{})
	if want := []float32{32767.0 / 32768, -1, float32(math.Round(0.3*32768)) / 32768}; !equalSamples(clip.Samples, want) {
		t.Errorf("clipping: got %v, want %v", clip.Samples, want)
	}
	if err := WriteWAV(io.Discard, []float32{0, float32(math.NaN())}, 8000, PCM16); err == nil {
		t.Error("NaN sample written")
	}
	if err := WriteWAV(io.Discard, nil, 0, PCM16); err == nil {
		t.Error("rate 0 written")
	}
}

// TestWriteWAVGoldenHeader pins the bytes of the header against a
// hand-built one, and checks go-audio/wav agrees about the PCM file.
func TestWriteWAVGoldenHeader(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteWAV(&buf, []float32{0.5, -0.5}, 8000, PCM16); err != nil {
		t.Fatal(err)
	}
	want := makeWAV(1, 8000, 16, []byte{0x00, 0x40, 0x00, 0xc0})
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("PCM16 file\n got % x\nwant % x", buf.Bytes(), want)
	}
	d := gowav.NewDecoder(bytes.NewReader(buf.Bytes()))
	pcm, err := d.FullPCMBuffer()
	if err != nil || d.SampleRate != 8000 || len(pcm.Data) != 2 || pcm.Data[0] != 16384 || pcm.Data[1] != -16384 {
		t.Errorf("go-audio reads %v, %v", pcm, err)
	}
	buf.Reset()
	if err := WriteWAV(&buf, []float32{0.5}, 8000, Float32); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if len(b) != 62 || string(b[38:42]) != "fact" || getU32(b[46:]) != 1 || getU32(b[4:]) != 54 || string(b[50:54]) != "data" || getU32(b[58:]) != 0x3f000000 {
		t.Errorf("Float32 file % x", b)
	}
}

// onlyReader hides every method but Read, as a pipe would.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func equalSamples(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// makeWAV builds a plain PCM WAV file around data.
func makeWAV(channels, rate, bits int, data []byte) []byte {
	b := []byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00")
	b = appendU16(b, tagPCM)
	b = appendU16(b, uint16(channels))
	b = appendU32(b, uint32(rate))
	b = appendU32(b, uint32(rate*channels*bits/8))
	b = appendU16(b, uint16(channels*bits/8))
	b = appendU16(b, uint16(bits))
	b = append(b, "data"...)
	b = appendU32(b, uint32(len(data)))
	b = append(b, data...)
	putU32(b[4:], uint32(len(b)-8))
	return b
}

func appendU16(b []byte, v uint16) []byte { return append(b, byte(v), byte(v>>8)) }
func appendU32(b []byte, v uint32) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}
func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}
func getU32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
