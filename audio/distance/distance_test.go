package distance

import (
	"bufio"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/audio"
)

func readWAV(t *testing.T, path string) []float32 {
	t.Helper()
	clip, err := audio.ReadFile(path, audio.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return clip.Samples
}

func analyzer(t *testing.T, rate int) *Analyzer {
	t.Helper()
	opt, err := DefaultOptions(rate)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAnalyzer(opt)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestGoldenSPTK checks MCD against SPTK 3.9's frame | window | mcep |
// cdist pipeline and LSD against numpy, both run by testdata/make_golden.sh
// on the committed files, within 1e-4 (the agreement is ~1e-6).
func TestGoldenSPTK(t *testing.T) {
	f, err := os.Open("testdata/golden.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	n := 0
	for sc.Scan() {
		col := strings.Split(sc.Text(), "\t")
		rate, _ := strconv.Atoi(col[2])
		frames, _ := strconv.Atoi(col[3])
		var want [3]float64
		for i := range want {
			want[i], err = strconv.ParseFloat(col[4+i], 64)
			if err != nil {
				t.Fatal(err)
			}
		}
		ref := readWAV(t, filepath.Join("testdata", col[0]))
		deg := readWAV(t, filepath.Join("testdata", col[1]))
		r, err := analyzer(t, rate).Compare(ref, deg)
		if err != nil {
			t.Fatal(err)
		}
		if r.Frames != frames {
			t.Errorf("%s vs %s: %d frames, SPTK %d", col[0], col[1], r.Frames, frames)
		}
		for _, c := range []struct {
			name      string
			got, want float64
		}{{"MCD vs SPTK cdist", r.MCD, want[0]}, {"MCD vs numpy", r.MCD, want[1]}, {"LSD vs numpy", r.LSD, want[2]}} {
			rel := math.Abs(c.got-c.want) / c.want
			t.Logf("%s vs %s at %d Hz: %s: %.6f, want %.6f (relative difference %.1e)", col[0], col[1], rate, c.name, c.got, c.want, rel)
			if rel > 1e-4 { // the brief asks for 1%; the agreement is ~1e-6
				t.Errorf("%s vs %s: %s = %.6f, want %.6f within 1e-4", col[0], col[1], c.name, c.got, c.want)
			}
		}
		n++
	}
	if n != 3 {
		t.Fatalf("%d golden pairs, want 3", n)
	}
}

// TestIdentityAndSymmetry: x vs x is 0 exactly, and both distances are
// symmetric (each frame's term is).
func TestIdentityAndSymmetry(t *testing.T) {
	ref := readWAV(t, "../../samples/fsdd/recordings/0_george_0.wav")
	deg := readWAV(t, "testdata/lowpass_8k.wav")
	a := analyzer(t, 8000)
	same, err := a.Compare(ref, ref)
	if err != nil {
		t.Fatal(err)
	}
	if same.MCD != 0 || same.LSD != 0 {
		t.Errorf("x vs x: MCD %g, LSD %g, want 0", same.MCD, same.LSD)
	}
	ab, err := a.Compare(ref, deg)
	if err != nil {
		t.Fatal(err)
	}
	ba, err := a.Compare(deg, ref)
	if err != nil {
		t.Fatal(err)
	}
	if ab.MCD != ba.MCD || ab.LSD != ba.LSD {
		t.Errorf("not symmetric: %+v vs %+v", ab, ba)
	}
	if !(ab.MCD > 1 && ab.LSD > 1) {
		t.Errorf("a low-pass gives MCD %g, LSD %g: want clearly positive", ab.MCD, ab.LSD)
	}
}

// TestFrameCounts: up to MaxFrameDiff extra frames are compared over the
// common ones; more, or less than a frame, is an error.
func TestFrameCounts(t *testing.T) {
	ref := readWAV(t, "../../samples/fsdd/recordings/0_george_0.wav")
	a := analyzer(t, 8000)
	o := a.Options()
	// Five frames longer: compared over the common frames, which are x's.
	padded := append(append([]float32(nil), ref...), make([]float32, 5*o.FrameShift)...)
	r, err := a.Compare(ref, padded)
	if err != nil {
		t.Fatal(err)
	}
	if r.MCD != 0 || r.RefFrames+5 != r.DegFrames || r.Frames != r.RefFrames {
		t.Errorf("padded by 5 frames: %+v", r)
	}
	padded = append(padded, make([]float32, o.FrameShift)...)
	var fe *FrameCountError
	if _, err := a.Compare(ref, padded); err == nil || !errors.As(err, &fe) {
		t.Errorf("padded by 6 frames: err %v, want a FrameCountError", err)
	}
	if _, err := a.Compare(ref[:o.FrameLength-1], ref); err == nil {
		t.Error("shorter than a frame: no error")
	}
}

// TestDefaultOptions pins the documented defaults at 8 and 16 kHz.
func TestDefaultOptions(t *testing.T) {
	for _, c := range []struct {
		rate, length, shift, fft int
		alpha                    float64
	}{{8000, 200, 40, 256, 0.31}, {16000, 400, 80, 512, 0.42}} {
		o, err := DefaultOptions(c.rate)
		if err != nil {
			t.Fatal(err)
		}
		if o.FrameLength != c.length || o.FrameShift != c.shift || o.FFTLength != c.fft || o.Alpha != c.alpha || o.Order != 24 {
			t.Errorf("%d Hz: %+v", c.rate, o)
		}
	}
	if _, err := DefaultOptions(11025); err == nil {
		t.Error("11025 Hz: no error for a rate without a tabulated α")
	}
}

// TestMelCepstrumSPTK checks the mel-cepstra themselves, frame by frame,
// against SPTK's mcep (testdata/mcep_8k.f32, float32), not only the
// averaged distance.
func TestMelCepstrumSPTK(t *testing.T) {
	b, err := os.ReadFile("testdata/mcep_8k.f32")
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, len(b)/4)
	for i := range want {
		want[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
	}
	an, err := analyzer(t, 8000).Analyse(readWAV(t, george))
	if err != nil {
		t.Fatal(err)
	}
	if len(an.MelCepstrum) != len(want) {
		t.Fatalf("%d coefficients, SPTK %d", len(an.MelCepstrum), len(want))
	}
	var worst float64
	for i, w := range want {
		worst = max(worst, math.Abs(an.MelCepstrum[i]-w))
	}
	t.Logf("largest difference from SPTK over %d frames × 25: %.1e", an.Frames, worst)
	if worst > 1e-4 {
		t.Errorf("mel-cepstra differ from SPTK's by up to %g", worst)
	}
}
