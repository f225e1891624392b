package audio

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func clipOf(rate int, x []float32) *Clip {
	return &Clip{Name: "test.wav", Info: Info{Format: "pcm", Bits: 16, Channels: 1, SampleRate: rate, Frames: int64(len(x))}, Samples: x}
}

func TestApplyPeakNormalizationAndDC(t *testing.T) {
	x := sine(4000, 8000, 440, 0.3)
	for i := range x {
		x[i] += 0.1
	}
	orig := append([]float32(nil), x...)
	y, rep, err := DefaultSettings().Apply(clipOf(8000, x))
	if err != nil {
		t.Fatal(err)
	}
	st := Measure(y)
	if math.Abs(st.Peak-0.95) > 1e-6 || math.Abs(st.DC) > 1e-6 {
		t.Errorf("after apply: %+v, want peak 0.95 and no DC", st)
	}
	if math.Abs(rep.DC-0.1) > 1e-4 || math.Abs(rep.Gain-0.95/0.3) > 1e-3 || rep.Samples != 4000 || rep.Resampled {
		t.Errorf("report %+v", rep)
	}
	if !equalSamples(x, orig) {
		t.Error("Apply modified the clip")
	}
}

func TestApplySilenceHasNoNaN(t *testing.T) {
	for _, mode := range []string{NormalizePeak, NormalizeRMS} {
		s := DefaultSettings()
		s.Normalize = mode
		for _, level := range []float32{0, 0.5} { // all zero; constant (zero after DC removal)
			x := make([]float32, 100)
			for i := range x {
				x[i] = level
			}
			y, rep, err := s.Apply(clipOf(8000, x))
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range y {
				if v != 0 {
					t.Fatalf("%s, constant %g: sample %d = %g", mode, level, i, v)
				}
			}
			if rep.Gain != 1 {
				t.Errorf("%s: gain %g for silence", mode, rep.Gain)
			}
		}
	}
}

func TestApplyRMSNormalization(t *testing.T) {
	s := DefaultSettings()
	s.Normalize = NormalizeRMS
	y, _, err := s.Apply(clipOf(8000, sine(8000, 8000, 300, 0.02)))
	if err != nil {
		t.Fatal(err)
	}
	if st := Measure(y); math.Abs(st.RMS-0.1) > 1e-4 {
		t.Errorf("RMS %g, want 0.1", st.RMS)
	}
	// One click in silence: reaching RMS 0.1 would need a peak far above
	// full scale, so the peak ceiling wins.
	x := make([]float32, 8000)
	x[4000] = 0.01
	s.RemoveDC = false
	y, _, err = s.Apply(clipOf(8000, x))
	if err != nil {
		t.Fatal(err)
	}
	if st := Measure(y); math.Abs(st.Peak-0.95) > 1e-6 {
		t.Errorf("peak %g, want the 0.95 ceiling", st.Peak)
	}
}

func TestApplyRate(t *testing.T) {
	x := sine(16000, 16000, 440, 0.5)
	_, _, err := DefaultSettings().Apply(clipOf(16000, x))
	if err == nil || !strings.Contains(err.Error(), "test.wav: sample rate is 16000 Hz but the model's is 8000 Hz") {
		t.Errorf("rate mismatch: %v", err)
	}
	s := DefaultSettings()
	s.Resample = true
	y, rep, err := s.Apply(clipOf(16000, x))
	if err != nil {
		t.Fatal(err)
	}
	if len(y) != 8000 || !rep.Resampled {
		t.Errorf("%d samples, report %+v", len(y), rep)
	}
	if a := toneAmplitude(y, 8000, 440); math.Abs(a-0.95) > 0.01 {
		t.Errorf("resampled tone amplitude %g", a)
	}
}

func TestApplyTrim(t *testing.T) {
	x := make([]float32, 800+1600+800) // 0.1 s silence, 0.2 s tone, 0.1 s silence
	copy(x[800:], sine(1600, 8000, 440, 0.5))
	x[100] = 0.001 // a faint tick, -60 dBFS, well below the threshold
	s := DefaultSettings()
	s.TrimDB = -40
	y, rep, err := s.Apply(clipOf(8000, x))
	if err != nil {
		t.Fatal(err)
	}
	if rep.TrimmedStart != 800 || rep.TrimmedEnd != 800 || len(y) != 1600 || rep.Samples != 1600 {
		t.Errorf("trimmed %d + %d, kept %d; want 800 + 800, 1600", rep.TrimmedStart, rep.TrimmedEnd, len(y))
	}
	_, _, err = s.Apply(clipOf(8000, make([]float32, 500)))
	if err == nil || !strings.Contains(err.Error(), "test.wav: every 10 ms frame is below the -40 dBFS") {
		t.Errorf("all-silent file: %v", err)
	}
	_, _, err = s.Apply(clipOf(8000, nil))
	if err == nil || !strings.Contains(err.Error(), "test.wav: no samples") {
		t.Errorf("empty file: %v", err)
	}
}

func TestSettingsValidateAndJSON(t *testing.T) {
	good := DefaultSettings()
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []func(*Settings){
		func(s *Settings) { s.SampleRate = 0 },
		func(s *Settings) { s.Normalize = "loud" },
		func(s *Settings) { s.PeakLevel = 0 },
		func(s *Settings) { s.PeakLevel = 1.5 },
		func(s *Settings) { s.Normalize, s.RMSLevel = NormalizeRMS, 0 },
		func(s *Settings) { s.TrimDB = 3 },
		func(s *Settings) { s.TrimDB = math.NaN() },
		func(s *Settings) { s.Quantization = 1 },
	} {
		s := good
		bad(&s)
		if s.Validate() == nil {
			t.Errorf("accepted %+v", s)
		}
	}
	b, err := json.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"sample_rate":8000,"channel":0,"resample":false,"remove_dc":true,"normalize":"peak","peak_level":0.95,"rms_level":0.1,"trim_db":0,"quantization":256}`
	if string(b) != want {
		t.Errorf("JSON %s\nwant %s", b, want)
	}
	var back Settings
	if err := json.Unmarshal(b, &back); err != nil || back != good {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}

func TestLoadGoldenFile(t *testing.T) {
	y, rep, err := DefaultSettings().Load(wavPath("sox_s16_stereo.wav"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Info.Channels != 2 || len(y) != 2000 || math.Abs(Measure(y).Peak-0.95) > 1e-6 {
		t.Errorf("report %+v, %d samples", rep, len(y))
	}
	_, _, err = DefaultSettings().Load(wavPath("bad_alaw.wav"))
	if err == nil || !strings.HasPrefix(err.Error(), wavPath("bad_alaw.wav")+": ") {
		t.Errorf("bad file: %v", err)
	}
}

// TestLoadPrompt: a prompt is the recording as Load prepares it, μ-law
// quantized; Then appends a continuation's class centres; Describe says
// what was done; a silent prompt is one silence class and outputs nothing.
func TestLoadPrompt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.wav")
	if err := WriteFile(path, sine(1600, 16000, 440, 0.3), 16000, PCM16); err != nil {
		t.Fatal(err)
	}
	s := DefaultSettings()
	if _, err := s.LoadPrompt(context.Background(), path); err == nil || !strings.Contains(err.Error(), "16000 Hz") {
		t.Fatalf("a prompt at another rate without resampling: %v", err)
	}
	s.Resample = true
	p, err := s.LoadPrompt(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	x, _, err := s.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	mu := s.MuLaw()
	if len(p.Classes) != len(x) || len(p.Samples) != len(x) || p.Rate != 8000 || !p.Report.Resampled {
		t.Fatalf("prompt of %d classes, %d samples at %d Hz (%+v); want %d at 8000 Hz, resampled", len(p.Classes), len(p.Samples), p.Rate, p.Report, len(x))
	}
	for i, v := range x {
		if c := mu.EncodeOne(v); p.Classes[i] != c || p.Samples[i] != mu.Centre(c) {
			t.Fatalf("sample %d: class %d (centre %v), want %d (%v)", i, p.Classes[i], p.Samples[i], c, mu.Centre(c))
		}
	}
	full := p.Then([]int32{0, 255})
	if len(full) != len(x)+2 || full[len(x)] != mu.Centre(0) || full[len(x)+1] != mu.Centre(255) || full[0] != p.Samples[0] {
		t.Errorf("Then: %d samples ending %v", len(full), full[len(x):])
	}
	if got, want := p.Describe(100), "800 samples, 0.10 s at 8000 Hz, resampled from 16000 Hz; the last 100 (the receptive field) condition the continuation"; got != want {
		t.Errorf("Describe: %q, want %q", got, want)
	}
	silent := DefaultSettings().SilentPrompt()
	if len(silent.Classes) != 1 || silent.Classes[0] != mu.Silence() || len(silent.Samples) != 0 {
		t.Errorf("silent prompt %+v", silent)
	}
	if got := silent.Then([]int32{128}); len(got) != 1 || got[0] != mu.Centre(128) {
		t.Errorf("silence then one class: %v", got)
	}
}
