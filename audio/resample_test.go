package audio

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

func sine(n, rate int, freq, amp float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return x
}

// toneAmplitude measures the amplitude of the freq component of x by
// correlating with a sine and a cosine (one Goertzel bin) over the middle
// of the signal, away from the zero-padded edges.
func toneAmplitude(x []float32, rate int, freq float64) float64 {
	lo, hi := len(x)/5, len(x)*4/5
	var s, c float64
	for i := lo; i < hi; i++ {
		ph := 2 * math.Pi * freq * float64(i) / float64(rate)
		s += float64(x[i]) * math.Sin(ph)
		c += float64(x[i]) * math.Cos(ph)
	}
	return 2 * math.Hypot(s, c) / float64(hi-lo)
}

func TestResampleKeepsPassband(t *testing.T) {
	for _, c := range []struct{ in, out int }{{16000, 8000}, {8000, 16000}, {44100, 8000}, {22050, 8000}, {8000, 11025}, {48000, 44100}} {
		nyq := 0.5 * float64(min(c.in, c.out))
		// Kaldi's short filter (6 zero crossings) is flat to 1% up to 0.7 of
		// the lower Nyquist frequency; it is 0.5 dB down at 0.8.
		for _, f := range []float64{100, 440, 0.5 * nyq, 0.7 * nyq} {
			x := sine(c.in/2, c.in, f, 0.5)
			y, err := Resample(x, c.in, c.out)
			if err != nil {
				t.Fatal(err)
			}
			if want := NewResamplerMust(t, c.in, c.out).OutputLen(len(x)); len(y) != want || want != int(math.Ceil(float64(len(x))*float64(c.out)/float64(c.in))) {
				t.Errorf("%d→%d: %d outputs from %d inputs", c.in, c.out, len(y), len(x))
			}
			if a := toneAmplitude(y, c.out, f); math.Abs(a-0.5) > 0.01*0.5 {
				t.Errorf("%d→%d Hz: %g Hz tone of amplitude 0.5 comes out at %.4f", c.in, c.out, f, a)
			}
		}
	}
}

// TestResampleRejectsAliases checks that tones above the new Nyquist
// frequency do not fold back into the band when downsampling, and that
// upsampling does not create images above the old one. The filter's
// transition band is wide: a tone must be 1.3 times the lower Nyquist
// frequency or more to be 40 dB down.
func TestResampleRejectsAliases(t *testing.T) {
	const floor = 0.01 // 40 dB below the input amplitude of 1
	for _, c := range []struct {
		in, out int
		tone    float64 // input tone
		alias   float64 // where its alias (or image) would land
	}{
		{16000, 8000, 5500, 2500},
		{16000, 8000, 7000, 1000},
		{44100, 8000, 6000, 2000},
		{44100, 8000, 15000, 1000},
		{8000, 16000, 1000, 7000}, // the image of 1 kHz at 8000-1000
	} {
		y, err := Resample(sine(c.in, c.in, c.tone, 1), c.in, c.out)
		if err != nil {
			t.Fatal(err)
		}
		if a := toneAmplitude(y, c.out, c.alias); a > floor {
			t.Errorf("%d→%d Hz: a %g Hz tone leaves %.4f at %g Hz (%.1f dB)", c.in, c.out, c.tone, a, c.alias, 20*math.Log10(a))
		}
	}
}

func TestResampleEdgesAndErrors(t *testing.T) {
	x := []float32{1, 2, 3}
	if y, err := Resample(x, 8000, 8000); err != nil || &y[0] != &x[0] {
		t.Error("same rate should return the input")
	}
	if _, err := Resample(x, 0, 8000); err == nil {
		t.Error("rate 0 accepted")
	}
	if y, _ := Resample(nil, 16000, 8000); len(y) != 0 {
		t.Error("empty input gave output")
	}
	// A constant keeps its level away from the edges (unit DC gain).
	c := make([]float32, 4000)
	for i := range c {
		c[i] = 0.25
	}
	y, _ := Resample(c, 16000, 8000)
	for i := 100; i < len(y)-100; i++ {
		if math.Abs(float64(y[i])-0.25) > 0.25*0.01 {
			t.Fatalf("DC gain: y[%d] = %g", i, y[i])
		}
	}
}

func NewResamplerMust(t *testing.T, in, out int) *Resampler {
	r, err := NewResampler(in, out)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func BenchmarkResample16kTo8k(b *testing.B) {
	x := sine(16000, 16000, 440, 0.5)
	r, _ := NewResampler(16000, 8000)
	b.SetBytes(int64(len(x)) * 4)
	for b.Loop() {
		r.Resample(x)
	}
}

// TestResampleMatchesTorchaudio compares with torchaudio's resampler,
// the same filter design computed independently (testdata/gen_resample.py);
// torchaudio builds its kernel in float32, hence the tolerance.
func TestResampleMatchesTorchaudio(t *testing.T) {
	b, err := os.ReadFile("testdata/resample_torchaudio.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Cases []struct {
			In  int       `json:"in"`
			Out int       `json:"out"`
			X   []float32 `json:"x"`
			Y   []float32 `json:"y"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range g.Cases {
		y, err := Resample(c.X, c.In, c.Out)
		if err != nil {
			t.Fatal(err)
		}
		if len(y) != len(c.Y) {
			t.Fatalf("%d→%d: %d outputs, torchaudio %d", c.In, c.Out, len(y), len(c.Y))
		}
		for i := range y {
			if d := math.Abs(float64(y[i] - c.Y[i])); d > 5e-5 {
				t.Fatalf("%d→%d: y[%d] = %g, torchaudio %g", c.In, c.Out, i, y[i], c.Y[i])
			}
		}
	}
}
