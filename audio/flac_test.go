package audio

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// flacSphereGolden is testdata/flac_sphere.json, written by
// testdata/gen_flac_sphere.py: files made by flac and sox, what flac -d
// decodes them to (SHA-256 of the integer samples) and what sox says.
type flacSphereGolden struct {
	Valid []struct {
		Name       string  `json:"name"`
		Container  string  `json:"container"`
		Format     string  `json:"format"`
		Bits       int     `json:"bits"`
		Channels   int     `json:"channels"`
		SampleRate int     `json:"sample_rate"`
		Frames     int64   `json:"frames"`
		Streamed   bool    `json:"streamed"`
		SHA256     string  `json:"sha256"`
		Peak       float64 `json:"peak"`
		RMS        float64 `json:"rms"`
		DC         float64 `json:"dc"`
	} `json:"valid"`
	Bad []struct {
		Name       string `json:"name"`
		Kind       string `json:"kind"`
		Phrase     string `json:"phrase"`
		InfoOK     bool   `json:"info_ok"`
		InfoPhrase string `json:"info_phrase"`
	} `json:"bad"`
}

func loadFlacSphereGolden(t testing.TB) flacSphereGolden {
	t.Helper()
	b, err := os.ReadFile("testdata/flac_sphere.json")
	if err != nil {
		t.Fatal(err)
	}
	var g flacSphereGolden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Valid) == 0 || len(g.Bad) == 0 {
		t.Fatal("flac_sphere.json lists no files")
	}
	return g
}

// goldenPath finds a file of flac_sphere.json.
func goldenPath(name string) string {
	if strings.HasSuffix(name, ".flac") {
		return filepath.Join("testdata", "flac", name)
	}
	return filepath.Join("testdata", "sphere", name)
}

// flacInts decodes a FLAC stream to its integer samples, interleaved,
// with the decoder's own frame loop (no MD5 or sample count checks), and
// the coding features it met.
func flacInts(b []byte) (flacStreamInfo, []int64, map[string]int, error) {
	wr := newWavReader(bytes.NewReader(b), "x", int64(len(b)))
	in := newFlacReader(wr.br, readBlock, 0)
	si, err := readFLACMetadata(in, "x", int64(len(b)))
	if err != nil {
		return si, nil, nil, err
	}
	d := &flacDecoder{name: "x", in: in, si: si, numbered: true, seen: map[string]int{}}
	var out []int64
	for {
		fr, err := d.nextFrame()
		if err == io.EOF {
			return si, out, d.seen, nil
		}
		if err != nil {
			return si, out, d.seen, err
		}
		for i := range fr.blockSize {
			for c := range si.channels {
				out = append(out, d.ch[c][i])
			}
		}
	}
}

func shaInts(v []int64) string {
	h := sha256.New()
	var b [4]byte
	for _, x := range v {
		binary.LittleEndian.PutUint32(b[:], uint32(int32(x)))
		h.Write(b[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// goldenInts is the integer samples of a golden file, interleaved: from
// the FLAC frames, or from the 16-bit values of each SPHERE channel.
func goldenInts(t *testing.T, path string, info Info) []int64 {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Container == ContainerFLAC {
		_, v, _, err := flacInts(raw)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	v := make([]int64, info.Frames*int64(info.Channels))
	for c := range info.Channels {
		clip, err := Decode(bytes.NewReader(raw), path, DecodeOptions{Channel: c + 1})
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range clip.Samples {
			v[i*info.Channels+c] = int64(x * 32768)
		}
	}
	return v
}

// TestFLACSphereGoldenFiles checks every file flac and sox wrote: the
// samples against flac -d's (or sox's) integers, the header against
// sox --i, the statistics against sox stat; through a file, a pipe and
// ReadInfo.
func TestFLACSphereGoldenFiles(t *testing.T) {
	const tol = 1e-4
	seen := map[string]int{}
	for _, w := range loadFlacSphereGolden(t).Valid {
		t.Run(w.Name, func(t *testing.T) {
			p := goldenPath(w.Name)
			clip, err := ReadFile(p, DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := Info{Container: w.Container, Format: w.Format, Bits: w.Bits, Channels: w.Channels, SampleRate: w.SampleRate,
				Frames: w.Frames, Streamed: w.Streamed}
			if clip.Info != want {
				t.Errorf("info\n got %+v\nwant %+v", clip.Info, want)
			}
			if int64(len(clip.Samples)) != w.Frames {
				t.Errorf("%d samples, want %d", len(clip.Samples), w.Frames)
			}
			if got := shaInts(goldenInts(t, p, clip.Info)); got != w.SHA256 {
				t.Errorf("samples differ from the reference decoder's (SHA-256 %s, want %s)", got, w.SHA256)
			}
			st := Measure(clip.Samples)
			if math.Abs(st.Peak-w.Peak) > tol || math.Abs(st.RMS-w.RMS) > tol || math.Abs(st.DC-w.DC) > tol {
				t.Errorf("stats %+v, sox says peak %g rms %g dc %g", st, w.Peak, w.RMS, w.DC)
			}
			for i, v := range clip.Samples {
				if v < -1 || v >= 1 {
					t.Fatalf("sample %d = %g outside [-1, 1)", i, v)
				}
			}
			raw, err := os.ReadFile(p)
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
			info, err := ReadInfo(p)
			if err != nil {
				t.Fatal(err)
			}
			if info != want {
				t.Errorf("ReadInfo\n got %+v\nwant %+v", info, want)
			}
			if w.Container == ContainerFLAC {
				_, _, s, _ := flacInts(raw)
				for k, n := range s {
					seen[k] += n
				}
			}
		})
	}
	// The golden files must exercise every part of the format that the
	// reference encoder writes.
	for _, f := range []string{"CONSTANT", "VERBATIM", "FIXED order 0", "FIXED order 1", "FIXED order 2", "FIXED order 3",
		"FIXED order 4", "LPC", "Rice", "Rice2", "wasted bits", "independent", "left/side", "side/right", "mid/side",
		"bits 8", "bits 12", "bits 16", "bits 20", "bits 24", "bits 32", "channels 1", "channels 2", "channels 6", "channels 8"} {
		if seen[f] == 0 {
			t.Errorf("no golden FLAC file has %s", f)
		}
	}
	t.Logf("coding features in the golden FLAC files: %v", seen)
}

// TestFLACSphereBadFiles: every malformed file gets a one-line error of
// the right kind that names it, from a file, a pipe and ReadInfo.
func TestFLACSphereBadFiles(t *testing.T) {
	kinds := map[string]error{"malformed": ErrMalformed, "truncated": ErrTruncated, "unsupported": ErrUnsupported}
	for _, b := range loadFlacSphereGolden(t).Bad {
		t.Run(b.Name, func(t *testing.T) {
			kind := kinds[b.Kind]
			if kind == nil {
				t.Fatalf("unknown kind %q", b.Kind)
			}
			p := goldenPath(b.Name)
			check := func(how string, err error, name, phrase string, kind error) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s: no error", how)
				}
				msg := err.Error()
				if !errors.Is(err, kind) || !strings.HasPrefix(msg, name+": ") || !strings.Contains(msg, phrase) || strings.Contains(msg, "\n") {
					t.Errorf("%s: error %q (kind %v), want a one-line %v naming %s and saying %q", how, msg, errors.Unwrap(err), kind, name, phrase)
				}
			}
			_, err := ReadFile(p, DecodeOptions{})
			check("ReadFile", err, p, b.Phrase, kind)
			raw, _ := os.ReadFile(p)
			_, err = Decode(onlyReader{bytes.NewReader(raw)}, "pipe", DecodeOptions{})
			check("pipe", err, "pipe", b.Phrase, kind)
			_, err = ReadInfo(p)
			switch {
			case b.InfoOK && err != nil:
				t.Errorf("ReadInfo: %v (the header and the ends of the file are fine)", err)
			case !b.InfoOK && b.InfoPhrase != "":
				check("ReadInfo", err, p, b.InfoPhrase, ErrMalformed)
			case !b.InfoOK:
				check("ReadInfo", err, p, b.Phrase, kind)
			}
		})
	}
}

// needTool skips the test when a reference tool is not installed.
func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s is not installed (apt-get install -y flac sox): skipping the comparison with it", name)
	}
}

// compareWithFlacD decodes a FLAC file with flac -d and checks that it
// and the WAV file flac writes decode to the same float32 samples, for the
// mix and every channel.
func compareWithFlacD(t *testing.T, flacPath string) {
	t.Helper()
	wavPath := filepath.Join(t.TempDir(), "d.wav")
	if out, err := exec.Command("flac", "-s", "-d", "-f", "-o", wavPath, flacPath).CombinedOutput(); err != nil {
		t.Fatalf("flac -d %s: %v\n%s", flacPath, err, out)
	}
	info, err := ReadInfo(wavPath)
	if err != nil {
		t.Fatal(err)
	}
	for c := 0; c <= info.Channels; c++ {
		want, err := ReadFile(wavPath, DecodeOptions{Channel: c})
		if err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(flacPath, DecodeOptions{Channel: c})
		if err != nil {
			t.Fatal(err)
		}
		if !equalSamples(got.Samples, want.Samples) {
			i := 0
			for i < min(len(got.Samples), len(want.Samples)) && got.Samples[i] == want.Samples[i] {
				i++
			}
			t.Fatalf("%s channel %d: %d samples differ from flac -d's %d from frame %d", flacPath, c, len(got.Samples), len(want.Samples), i)
		}
		if got.Info.Channels != info.Channels || got.Info.SampleRate != info.SampleRate || got.Info.Frames != info.Frames {
			t.Errorf("%s: info %+v, flac -d wrote %+v", flacPath, got.Info, info)
		}
	}
}

// TestFLACGoldenAgainstFlacD runs the reference decoder on the golden
// files now, rather than trusting the checksums the generator recorded.
func TestFLACGoldenAgainstFlacD(t *testing.T) {
	needTool(t, "flac")
	for _, w := range loadFlacSphereGolden(t).Valid {
		if w.Container == ContainerFLAC {
			t.Run(w.Name, func(t *testing.T) { compareWithFlacD(t, goldenPath(w.Name)) })
		}
	}
}

// TestFLACAgainstFlacEncoder encodes fresh audio with the real encoder at
// every level, bit depth from 8 to 32, 1 to 8 channels, odd block sizes,
// and checks the decode against flac -d's bit for bit.
func TestFLACAgainstFlacEncoder(t *testing.T) {
	needTool(t, "flac")
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	type cfg struct {
		bits, channels, rate, level, block int
	}
	var cfgs []cfg
	for level := 0; level <= 8; level++ {
		cfgs = append(cfgs, cfg{16, 2, 16000, level, 0}, cfg{24, 2, 44100, level, 0})
	}
	cfgs = append(cfgs, cfg{8, 1, 8000, 5, 0}, cfg{8, 2, 11025, 8, 0}, cfg{32, 2, 48000, 5, 0}, cfg{32, 1, 96000, 8, 0},
		cfg{16, 3, 8000, 5, 0}, cfg{16, 4, 22050, 8, 0}, cfg{24, 5, 8000, 5, 0}, cfg{16, 7, 8000, 3, 0}, cfg{16, 8, 16000, 8, 0},
		cfg{16, 1, 8000, 8, 4609}, cfg{16, 2, 8000, 5, 1001}, cfg{16, 1, 8000, 5, 16}, cfg{24, 1, 192000, 8, 8192},
		cfg{16, 1, 7350, 5, 0}, cfg{16, 1, 655350, 5, 0}, cfg{16, 1, 1000, 5, 0})
	for _, c := range cfgs {
		name := fmt.Sprintf("b%d_c%d_r%d_l%d_bs%d", c.bits, c.channels, c.rate, c.level, c.block)
		t.Run(name, func(t *testing.T) {
			wav := filepath.Join(dir, name+".wav")
			fl := filepath.Join(dir, name+".flac")
			os.WriteFile(wav, makeExtensibleWAV(c.channels, c.rate, c.bits, testSignal(c.bits, c.channels, 5000, int64(c.level+c.channels))), 0o644)
			args := []string{"-s", "-f", "--channel-map=none", fmt.Sprint("-", c.level), "-o", fl}
			if c.block > 0 {
				args = append(args, "--lax", "-b", fmt.Sprint(c.block))
			}
			if c.rate > 192000 || c.rate%10 != 0 && c.rate > 65535 {
				args = append(args, "--lax")
			}
			if out, err := exec.Command("flac", append(args, wav)...).CombinedOutput(); err != nil {
				t.Fatalf("flac: %v\n%s", err, out)
			}
			compareWithFlacD(t, fl)
		})
	}
}

// testSignal is frames of a signal that exercises a codec: tones, noise,
// silence, full-scale steps, in PCM bytes of the given width (8-bit
// unsigned as in WAV).
func testSignal(bits, channels, frames int, seed int64) []byte {
	rng := uint64(seed)*0x9E3779B97F4A7C15 + 1
	rand := func() float64 {
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		return float64(rng>>11)/(1<<53)*2 - 1
	}
	full := float64(int64(1)<<(bits-1)) - 1
	var out []byte
	for i := range frames {
		for c := range channels {
			var x float64
			switch seg := i * 5 / frames; seg {
			case 0:
				x = 0.5*math.Sin(float64(i)*0.05*float64(c+1)) + 0.01*rand()
			case 1:
				x = 0.3 * rand()
			case 2:
				x = 0
			case 3:
				x = 1
				if i/37%2 == 0 {
					x = -1
				}
			default:
				x = 0.7*math.Sin(float64(i)*0.01) + 0.2*math.Sin(float64(i)*0.3+float64(c))
			}
			v := int64(math.Round(x * full))
			v = max(min(v, int64(full)), -int64(full)-1)
			switch bits {
			case 8:
				out = append(out, byte(v+128))
			case 16:
				out = binary.LittleEndian.AppendUint16(out, uint16(v))
			case 24:
				out = append(out, byte(v), byte(v>>8), byte(v>>16))
			case 32:
				out = binary.LittleEndian.AppendUint32(out, uint32(v))
			}
		}
	}
	return out
}

// TestFLACTotalBeyondFileSize: a STREAMINFO that claims more samples than
// the file's bytes can hold is rejected before anything is allocated, and
// through a pipe memory follows the frames that arrive.
func TestFLACTotalBeyondFileSize(t *testing.T) {
	raw, err := os.ReadFile(goldenPath("speech_s16_mono_l5.flac"))
	if err != nil {
		t.Fatal(err)
	}
	b := slices.Clone(raw)
	x := binary.BigEndian.Uint64(b[18:])
	binary.BigEndian.PutUint64(b[18:], x|(1<<36-1))
	var err1, err2 error
	if a := allocated(func() { _, err1 = Decode(bytes.NewReader(b), "x", DecodeOptions{}) }); a > 256<<10 {
		t.Errorf("%d bytes allocated for a %d-byte file claiming 2^36 samples", a, len(b))
	}
	if !errors.Is(err1, ErrTruncated) || !strings.Contains(err1.Error(), "can hold at most") {
		t.Errorf("file: %v", err1)
	}
	if a := allocated(func() { _, err2 = Decode(onlyReader{bytes.NewReader(b)}, "x", DecodeOptions{}) }); a > 512<<10 {
		t.Errorf("pipe: %d bytes allocated for a %d-byte file claiming 2^36 samples", a, len(b))
	}
	if !errors.Is(err2, ErrTruncated) {
		t.Errorf("pipe: %v", err2)
	}
}

// TestFLACDecodeThenTruncate cuts a golden file at every length: each cut
// is an error (there is no valid prefix, as STREAMINFO gives the length),
// never a panic, from Decode and ReadInfo alike.
func TestFLACDecodeThenTruncate(t *testing.T) {
	raw, err := os.ReadFile(goldenPath("s16_stereo_midside_l4.flac"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "cut.flac")
	for n := 0; n < len(raw); n += 1 + n/50 {
		_, err := Decode(bytes.NewReader(raw[:n]), "cut", DecodeOptions{})
		if err == nil {
			t.Fatalf("cut at %d of %d bytes: no error", n, len(raw))
		}
		os.WriteFile(p, raw[:n], 0o644)
		if _, err := ReadInfo(p); err == nil {
			t.Fatalf("ReadInfo of a cut at %d of %d bytes: no error", n, len(raw))
		}
	}
}

// makeExtensibleWAV builds a WAVE_FORMAT_EXTENSIBLE PCM file, which flac
// wants for more than two channels (it maps them with the channel mask).
func makeExtensibleWAV(channels, rate, bits int, data []byte) []byte {
	b := []byte("RIFF\x00\x00\x00\x00WAVEfmt \x28\x00\x00\x00")
	b = appendU16(b, tagExtensible)
	b = appendU16(b, uint16(channels))
	b = appendU32(b, uint32(rate))
	b = appendU32(b, uint32(rate*channels*bits/8))
	b = appendU16(b, uint16(channels*bits/8))
	b = appendU16(b, uint16(bits))
	b = appendU16(b, 22)
	b = appendU16(b, uint16(bits))
	b = appendU32(b, 1<<channels-1)
	b = appendU16(b, tagPCM)
	b = append(b, subtypeGUIDSuffix...)
	b = append(b, "data"...)
	b = appendU32(b, uint32(len(data)))
	b = append(b, data...)
	putU32(b[4:], uint32(len(b)-8))
	return b
}
