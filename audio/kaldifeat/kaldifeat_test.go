package kaldifeat

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// readTestWAV decodes the 16-bit mono PCM WAVs in testdata to [-1, 1);
// a few lines instead of the audio package keep this package a leaf.
func readTestWAV(t testing.TB, path string) ([]float32, int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		t.Fatalf("%s: not a RIFF/WAVE file", path)
	}
	var rate int
	for p := 12; p+8 <= len(b); {
		id, size := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:]))
		body := b[p+8 : min(len(b), p+8+size)]
		switch id {
		case "fmt ":
			if binary.LittleEndian.Uint16(body[0:]) != 1 || binary.LittleEndian.Uint16(body[2:]) != 1 || binary.LittleEndian.Uint16(body[14:]) != 16 {
				t.Fatalf("%s: want 16-bit mono PCM", path)
			}
			rate = int(binary.LittleEndian.Uint32(body[4:]))
		case "data":
			wave := make([]float32, len(body)/2)
			for i := range wave {
				wave[i] = float32(int16(binary.LittleEndian.Uint16(body[2*i:]))) / 32768
			}
			return wave, rate
		}
		p += 8 + size + size%2
	}
	t.Fatalf("%s: no data chunk", path)
	return nil, 0
}

type goldenEntry struct {
	WAV     string             `json:"wav"`
	Kind    string             `json:"kind"`
	Options map[string]float64 `json:"-"`
	RawOpts map[string]any     `json:"options"`
	File    string             `json:"file"`
	Rows    int                `json:"rows"`
	Cols    int                `json:"cols"`
}

// configFromTorchaudio maps the keyword arguments gen_golden.py passed to
// torchaudio.compliance.kaldi onto a Config.
func configFromTorchaudio(t *testing.T, kind string, opts map[string]any) Config {
	t.Helper()
	var c Config
	rate := opts["sample_frequency"].(float64)
	if kind == KindFbank {
		c = DefaultFbank(rate)
	} else {
		c = DefaultMFCC(rate)
		c.UseEnergy = false // torchaudio's default; the options say when it is on
	}
	for k, v := range opts {
		switch k {
		case "sample_frequency":
		case "dither":
			c.Dither = v.(float64)
		case "snip_edges":
			c.SnipEdges = v.(bool)
		case "use_energy":
			c.UseEnergy = v.(bool)
		case "raw_energy":
			c.RawEnergy = v.(bool)
		case "remove_dc_offset":
			c.RemoveDCOffset = v.(bool)
		case "round_to_power_of_two":
			c.RoundToPowerOfTwo = v.(bool)
		case "window_type":
			c.WindowType = v.(string)
		case "preemphasis_coefficient":
			c.PreemphasisCoefficient = v.(float64)
		case "cepstral_lifter":
			c.CepstralLifter = v.(float64)
		case "num_mel_bins":
			c.NumMelBins = int(v.(float64))
		case "num_ceps":
			c.NumCeps = int(v.(float64))
		case "low_freq":
			c.LowFreq = v.(float64)
		case "high_freq":
			c.HighFreq = v.(float64)
		case "frame_length":
			c.FrameLengthMs = v.(float64)
		case "frame_shift":
			c.FrameShiftMs = v.(float64)
		case "energy_floor":
			c.EnergyFloor = v.(float64)
		default:
			t.Fatalf("golden option %q has no Config field in this test", k)
		}
	}
	return c
}

func readGolden(t *testing.T) []goldenEntry {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Golden []goldenEntry `json:"golden"`
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	if len(meta.Golden) == 0 {
		t.Fatal("golden.json lists no matrices")
	}
	return meta.Golden
}

func readF32(t *testing.T, path string, n int) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 4*n {
		t.Fatalf("%s: %d bytes, want %d", path, len(b), 4*n)
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// TestGoldenTorchaudio compares every matrix gen_golden.py made with
// torchaudio.compliance.kaldi (Kaldi defaults, snip_edges true and false,
// plus variants for the other windows and options) to ours. The tolerance
// is absolute, 1e-3, on log energies (fbank) and on cepstra, which are
// linear combinations of log energies of magnitude up to ~100: torchaudio
// computes in float32, we in float64, and the largest difference seen is
// printed so a drift shows before it fails.
func TestGoldenTorchaudio(t *testing.T) {
	const tol = 1e-3
	for _, g := range readGolden(t) {
		t.Run(g.File, func(t *testing.T) {
			cfg := configFromTorchaudio(t, g.Kind, g.RawOpts)
			ex, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			wave, rate := readTestWAV(t, filepath.Join("testdata", g.WAV))
			if float64(rate) != cfg.SampleFrequency {
				t.Fatalf("rate %d, config %v", rate, cfg.SampleFrequency)
			}
			got, frames := ex.Compute(nil, wave)
			if frames != g.Rows || ex.Dim() != g.Cols {
				t.Fatalf("shape %d×%d, torchaudio %d×%d", frames, ex.Dim(), g.Rows, g.Cols)
			}
			if frames != cfg.NumFrames(len(wave)) || len(got) != frames*ex.Dim() {
				t.Fatalf("Compute returned %d values for %d frames", len(got), frames)
			}
			want := readF32(t, filepath.Join("testdata", g.File), g.Rows*g.Cols)
			var worst float64
			worstAt := 0
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > worst || math.IsNaN(d) {
					worst, worstAt = d, i
				}
			}
			t.Logf("max |ours - torchaudio| = %.2g at frame %d dim %d", worst, worstAt/g.Cols, worstAt%g.Cols)
			if !(worst <= tol) {
				t.Errorf("frame %d dim %d: ours %v, torchaudio %v (|diff| %.3g > %g)",
					worstAt/g.Cols, worstAt%g.Cols, got[worstAt], want[worstAt], worst, tol)
			}
		})
	}
}

func TestNumFramesAndFirstSample(t *testing.T) {
	for _, tc := range []struct {
		n, window, hop int
		snip           bool
		want           int
	}{
		{0, 200, 80, true, 0},
		{199, 200, 80, true, 0},
		{200, 200, 80, true, 1},
		{279, 200, 80, true, 1},
		{280, 200, 80, true, 2},
		{1148, 200, 80, true, 12},
		{0, 200, 80, false, 0},
		{39, 200, 80, false, 0},
		{40, 200, 80, false, 1},
		{119, 200, 80, false, 1},
		{120, 200, 80, false, 2},
		{1148, 200, 80, false, 14},
	} {
		if got := NumFrames(tc.n, tc.window, tc.hop, tc.snip); got != tc.want {
			t.Errorf("NumFrames(%d, %d, %d, %v) = %d, want %d", tc.n, tc.window, tc.hop, tc.snip, got, tc.want)
		}
	}
	if got := FirstSample(3, 200, 80, true); got != 240 {
		t.Errorf("FirstSample snip: %d, want 240", got)
	}
	if got := FirstSample(0, 200, 80, false); got != -60 {
		t.Errorf("FirstSample centred frame 0: %d, want -60", got)
	}
	// The centre of a centred frame is t·hop + hop/2.
	if got := FirstSample(5, 200, 80, false) + 100; got != 5*80+40 {
		t.Errorf("centre of centred frame 5: %d, want %d", got, 5*80+40)
	}
}

func TestReflectIndex(t *testing.T) {
	// x = a b c; reflected: ... c b a | a b c | c b a a b c ...
	want := map[int]int{-1: 0, -2: 1, -3: 2, -4: 2, -5: 1, -6: 0, -7: 0, 0: 0, 2: 2, 3: 2, 4: 1, 5: 0, 6: 0, 7: 1, 9: 2}
	for i, w := range want {
		if got := reflectIndex(i, 3); got != w {
			t.Errorf("reflectIndex(%d, 3) = %d, want %d", i, got, w)
		}
	}
	if got := reflectIndex(-5, 1); got != 0 {
		t.Errorf("reflectIndex(-5, 1) = %d, want 0", got)
	}
}

// A signal shorter than one window: no frames with snip_edges; with
// centred frames, reflection fills windows longer than the signal.
func TestShortSignals(t *testing.T) {
	snip, _ := New(DefaultFbank(8000))
	if out, n := snip.Compute(nil, make([]float32, 199)); n != 0 || len(out) != 0 {
		t.Errorf("199 samples, snip_edges: %d frames", n)
	}
	cfg := DefaultMFCC(8000)
	cfg.SnipEdges = false
	centred, _ := New(cfg)
	wave := make([]float32, 50)
	for i := range wave {
		wave[i] = float32(math.Sin(float64(i))) / 4
	}
	out, n := centred.Compute(nil, wave)
	if n != 1 || len(out) != 13 {
		t.Fatalf("50 samples centred: %d frames, %d values", n, len(out))
	}
	for _, v := range out {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("non-finite feature %v", out)
		}
	}
}

// Digital silence hits every floor: log(ε) for the filterbank, the energy
// floor (log 1 = 0) for the energy.
func TestSilenceFloors(t *testing.T) {
	cfg := DefaultFbank(8000)
	cfg.UseEnergy = true
	ex, _ := New(cfg)
	out, n := ex.Compute(nil, make([]float32, 400))
	if n != 3 {
		t.Fatalf("%d frames", n)
	}
	if out[0] != 0 {
		t.Errorf("log energy of silence %v, want the floor log(1) = 0", out[0])
	}
	if want := float32(math.Log(float32Epsilon)); out[1] != want {
		t.Errorf("log mel of silence %v, want log(eps) = %v", out[1], want)
	}
}

func TestDitherSeeded(t *testing.T) {
	wave, _ := readTestWAV(t, filepath.Join("testdata", "6_yweweler_3.wav"))
	cfg := DefaultFbank(8000)
	cfg.Dither = 1
	cfg.DitherSeed = 7
	a, _ := New(cfg)
	b, _ := New(cfg)
	first, _ := a.Compute(nil, wave)
	b.Compute(nil, wave[:500]) // another utterance first must not matter
	second, _ := b.Compute(nil, wave)
	again, _ := a.Compute(nil, wave)
	for i := range first {
		if first[i] != second[i] || first[i] != again[i] {
			t.Fatalf("value %d differs between runs with the same seed: %v %v %v", i, first[i], second[i], again[i])
		}
	}
	cfg.DitherSeed = 8
	c, _ := New(cfg)
	other, _ := c.Compute(nil, wave)
	cfg.Dither = 0
	d, _ := New(cfg)
	clean, _ := d.Compute(nil, wave)
	same, changed := true, false
	for i := range first {
		same = same && first[i] == other[i]
		changed = changed || first[i] != clean[i]
	}
	if same {
		t.Error("seeds 7 and 8 gave identical dither")
	}
	if !changed {
		t.Error("dither 1 changed nothing")
	}
}

// Compute appends: reusing one Extractor for several utterances gives the
// same values as fresh ones.
func TestReuseAndAppend(t *testing.T) {
	w1, _ := readTestWAV(t, filepath.Join("testdata", "1_george_37.wav"))
	w2, _ := readTestWAV(t, filepath.Join("testdata", "2_theo_34.wav"))
	ex, _ := New(DefaultMFCC(8000))
	buf, n1 := ex.Compute([]float32{42}, w1)
	buf, n2 := ex.Compute(buf, w2)
	fresh, _ := New(DefaultMFCC(8000))
	want2, _ := fresh.Compute(nil, w2)
	if buf[0] != 42 || len(buf) != 1+(n1+n2)*13 {
		t.Fatalf("append: len %d, first %v", len(buf), buf[0])
	}
	for i, v := range want2 {
		if buf[1+n1*13+i] != v {
			t.Fatalf("value %d of the second utterance differs after reuse", i)
		}
	}
}

func TestValidate(t *testing.T) {
	bad := map[string]func(*Config){
		"kind":        func(c *Config) { c.Kind = "plp" },
		"rate":        func(c *Config) { c.SampleFrequency = 0 },
		"nan rate":    func(c *Config) { c.SampleFrequency = math.NaN() },
		"window":      func(c *Config) { c.FrameLengthMs = 0.1 },
		"shift":       func(c *Config) { c.FrameShiftMs = -1 },
		"odd fft":     func(c *Config) { c.RoundToPowerOfTwo = false; c.FrameLengthMs = 25.125 },
		"window type": func(c *Config) { c.WindowType = "kaiser" },
		"preemph":     func(c *Config) { c.PreemphasisCoefficient = 1.5 },
		"dither":      func(c *Config) { c.Dither = -1 },
		"bins":        func(c *Config) { c.NumMelBins = 3 },
		"high freq":   func(c *Config) { c.HighFreq = 5000 },
		"low freq":    func(c *Config) { c.LowFreq = 4000 },
		"ceps":        func(c *Config) { c.NumCeps = 24 },
		"lifter":      func(c *Config) { c.CepstralLifter = -1 },
		"floor":       func(c *Config) { c.EnergyFloor = math.Inf(1) },
	}
	for name, mutate := range bad {
		c := DefaultMFCC(8000)
		mutate(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: New accepted %v", name, c)
		}
	}
	// Too many bins for the FFT: some triangles cover no FFT bin.
	c := DefaultFbank(8000)
	c.NumMelBins = 120
	if _, err := New(c); err == nil {
		t.Error("120 mel bins on a 256-point FFT accepted")
	}
	for _, c := range []Config{DefaultFbank(8000), DefaultMFCC(16000)} {
		if _, err := New(c); err != nil {
			t.Errorf("default rejected: %v", err)
		}
	}
}

func TestConfigJSONRoundTrip(t *testing.T) {
	c := DefaultMFCC(16000)
	c.Dither = 1
	c.DitherSeed = 3
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back Config
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != c {
		t.Fatalf("round trip changed the config:\n%+v\n%+v", c, back)
	}
	if c.WindowSize() != 400 || c.WindowShift() != 160 || c.PaddedWindowSize() != 512 || c.Dim() != 13 {
		t.Errorf("16 kHz sizes: %d %d %d %d", c.WindowSize(), c.WindowShift(), c.PaddedWindowSize(), c.Dim())
	}
}

// BenchmarkFbank reports throughput in samples/s on a 1.2 s utterance at
// 8 kHz with Kaldi's default fbank options.
func BenchmarkFbank(b *testing.B) {
	benchmarkKind(b, DefaultFbank(8000))
}

// BenchmarkMFCC is BenchmarkFbank for 13 MFCCs.
func BenchmarkMFCC(b *testing.B) {
	benchmarkKind(b, DefaultMFCC(8000))
}

func benchmarkKind(b *testing.B, cfg Config) {
	wave := make([]float32, 9600)
	for i := range wave {
		wave[i] = float32(0.3*math.Sin(float64(i)*0.05) + 0.01*math.Sin(float64(i)*1.3))
	}
	ex, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var buf []float32
	b.ResetTimer()
	for b.Loop() {
		buf, _ = ex.Compute(buf[:0], wave)
	}
	b.ReportMetric(float64(len(wave))*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}

func Example() {
	ex, err := New(DefaultFbank(8000))
	if err != nil {
		panic(err)
	}
	wave := make([]float32, 8000) // one second at 8 kHz
	feats, frames := ex.Compute(nil, wave)
	fmt.Println(frames, "frames of", ex.Dim(), "values:", len(feats))
	// Output: 98 frames of 23 values: 2254
}
