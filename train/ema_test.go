package train

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/modelfile"
)

// The warm-up and the update, against numbers worked by hand.
func TestEMAUpdateByHand(t *testing.T) {
	for _, c := range []struct {
		decay float64
		t     int64
		want  float32
	}{
		{0.999, 0, 0.1},                  // 1/10
		{0.999, 10, float32(11.0 / 20)},  // 0.55
		{0.999, 90, float32(91.0 / 100)}, // 0.91
		{0.5, 90, 0.5},                   // the decay caps it
		{0.999, 1e6, 0.999},
	} {
		if got := emaDecay(c.decay, c.t); got != c.want {
			t.Errorf("emaDecay(%g, %d) = %v, want %v", c.decay, c.t, got, c.want)
		}
	}
	// s = 0.1·s + 0.9·w: 0.1·1 + 0.9·3 = 2.8, 0.1·(−2) + 0.9·0 = −0.2.
	s, w := []float32{1, -2}, []float32{3, 0}
	emaUpdate(s, w, 0.1)
	if s[0] != float32(float32(0.1)*1)+float32(float32(0.9)*3) || math.Abs(float64(s[0])-2.8) > 1e-6 || math.Abs(float64(s[1])+0.2) > 1e-6 {
		t.Fatalf("after one update: %v, want [2.8 -0.2]", s)
	}
	// Then d = 0.55: 0.55·2.8 + 0.45·3 = 2.89.
	emaUpdate(s, w, emaDecay(0.999, 10))
	if math.Abs(float64(s[0])-2.89) > 1e-6 {
		t.Fatalf("after two updates: %v, want 2.89", s[0])
	}
}

// A run with an average: its files hold the average as the model and the
// raw weights as training state; the average is the one a replay of the
// formula over the raw weights of every step gives; the log has both
// validations; and stopping after step 5 and resuming gives every file
// bit for bit.
func TestEMARunAndResume(t *testing.T) {
	o := tinyOptions(Adam)
	o.EMA = 0.9
	whole := t.TempDir()
	r := newTinyRun(t, whole, o)
	// Replay the average from the raw weights after every step.
	shadow := append([]float32(nil), r.model.Params...)
	var updates int64
	r.afterStep = func(int64) {
		emaUpdate(shadow, r.model.Params, emaDecay(o.EMA, updates))
		updates++
	}
	var log strings.Builder
	r.setup.Log = &log
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	raw := append([]float32(nil), r.model.Params...)
	r.Close()

	last, err := ReadCheckpoint(filepath.Join(whole, LastFile))
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range last.Model.Params {
		if x != shadow[i] {
			t.Fatalf("last.safetensors parameter %d is %v; the average replayed is %v", i, x, shadow[i])
		}
	}
	got := make([]float32, len(raw))
	if err := last.loadRaw(got); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != raw[i] {
			t.Fatalf("raw weight %d: stored %v, trained %v", i, got[i], raw[i])
		}
	}
	// nextsample model finds it resumable (the raw weights included).
	if p := resumeProblem(last.File, last.Options); p != "" {
		t.Errorf("resume problem of an averaged checkpoint: %s", p)
	}
	best, err := modelfile.Load(filepath.Join(whole, BestFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(best.Extra) != 0 {
		t.Errorf("best.safetensors holds %d training tensors", len(best.Extra))
	}
	rows, err := readLog(filepath.Join(whole, LogFile))
	if err != nil {
		t.Fatal(err)
	}
	end := rows[len(rows)-1]
	if math.IsNaN(end.ValBits) || math.IsNaN(end.ValRawBits) || end.ValBits == end.ValRawBits {
		t.Errorf("last log row: val %v, raw %v; want two different validations", end.ValBits, end.ValRawBits)
	}
	if !strings.Contains(log.String(), "(raw ") {
		t.Errorf("the log does not show the raw weights' validation:\n%s", log.String())
	}

	// Stopped after step 5 and resumed with one thread.
	split := t.TempDir()
	r = newTinyRun(t, split, o)
	ctx, cancel := context.WithCancel(context.Background())
	r.afterStep = func(step int64) {
		if step == 5 {
			cancel()
		}
	}
	if err := r.Train(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run returned %v", err)
	}
	r.Close()
	ck, err := ReadCheckpoint(filepath.Join(split, LastFile))
	if err != nil {
		t.Fatal(err)
	}
	o2 := ck.Options
	o2.Threads = 1
	if _, err := Resume(ck, tinyData(1), func() Options { x := o2; x.EMA = 0; return x }(), Setup{Out: split}); err == nil || !strings.Contains(err.Error(), "EMA") {
		t.Fatalf("resuming an averaged run without its average: %v", err)
	}
	ck, _ = ReadCheckpoint(filepath.Join(split, LastFile))
	r, err = Resume(ck, tinyData(1), o2, Setup{Out: split, Meta: map[string]string{"audio": `{"sample_rate":8000}`}})
	if err != nil {
		t.Fatal(err)
	}
	r.noPlot = true
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Close()
	for _, f := range []string{LastFile, BestFile, StepFile(6)} {
		sameTensors(t, filepath.Join(whole, f), filepath.Join(split, f))
	}
}

// Without an average nothing changes: no raw tensors, no raw column.
func TestNoEMANoRawWeights(t *testing.T) {
	o := tinyOptions(SGD)
	o.Steps = 2
	out := t.TempDir()
	r := newTinyRun(t, out, o)
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Close()
	for name := range tensorsOf(t, filepath.Join(out, LastFile)) {
		if strings.HasPrefix(name, optimizerPrefix+rawBuffer+".") {
			t.Fatalf("a run without an average stored %s", name)
		}
	}
	rows, _ := readLog(filepath.Join(out, LogFile))
	for _, row := range rows {
		if !math.IsNaN(row.ValRawBits) {
			t.Fatalf("log row %+v has a raw validation", row)
		}
	}
}

func TestEMAOptionRefused(t *testing.T) {
	for _, d := range []float64{-0.1, 1, 1.5, math.NaN()} {
		o := tinyOptions(Adam)
		o.EMA = d
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "ema") {
			t.Errorf("EMA %v: %v", d, err)
		}
	}
}

// Samples while training: the files of every period and of the end,
// the same for the same weights, and the run's weights the same as
// without samples.
func TestSamplesWhileTraining(t *testing.T) {
	for _, lc := range []bool{false, true} {
		name := "continue"
		cfg, data := tinyConfig(), func() Data { return tinyData(1) }
		if lc {
			name = "vocode"
			cfg, data = tinyLCConfig(), tinyLCData
		}
		t.Run(name, func(t *testing.T) {
			o := tinyOptions(Adam)
			o.Steps, o.SampleEvery, o.SampleSeconds, o.SamplePrompts = 5, 2, 0.01, 2
			run := func(o Options, plot bool) string {
				out := t.TempDir()
				m, err := causalconv.NewRandom(cfg, o.Seed)
				if err != nil {
					t.Fatal(err)
				}
				r, err := New(m, data(), o, Setup{Out: out, SampleRate: 1000})
				if err != nil {
					t.Fatal(err)
				}
				r.noPlot = !plot
				if err := r.Train(context.Background()); err != nil {
					t.Fatal(err)
				}
				r.Close()
				return out
			}
			out := run(o, true)
			for _, s := range []int64{2, 4, 5} {
				for k := range 2 {
					for _, ext := range []string{".wav", ".png"} {
						if _, err := os.Stat(filepath.Join(out, SamplesDir, SampleFile(s, k, ext))); err != nil {
							t.Error(err)
						}
					}
				}
			}
			clip, err := audio.ReadFile(filepath.Join(out, SamplesDir, SampleFile(4, 0, ".wav")), audio.DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if clip.Info.SampleRate != 1000 || len(clip.Samples) < 10 {
				t.Errorf("sample: %d samples at %d Hz", len(clip.Samples), clip.Info.SampleRate)
			}
			again := run(o, false)
			wavA, _ := os.ReadFile(filepath.Join(out, SamplesDir, SampleFile(5, 1, ".wav")))
			wavB, _ := os.ReadFile(filepath.Join(again, SamplesDir, SampleFile(5, 1, ".wav")))
			if len(wavA) == 0 || string(wavA) != string(wavB) {
				t.Error("the same run wrote different samples")
			}
			o.SampleEvery = 0
			sameTensors(t, filepath.Join(out, LastFile), filepath.Join(run(o, false), LastFile))
		})
	}
	// Without the rate no samples can be written: refused up front.
	m, _ := causalconv.NewRandom(tinyConfig(), 1)
	o := tinyOptions(Adam)
	o.SampleEvery = 2
	if _, err := New(m, tinyData(1), o, Setup{Out: t.TempDir()}); err == nil {
		t.Error("a run that samples without a sample rate was accepted")
	}
}
