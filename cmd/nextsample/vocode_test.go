package main

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/featio"
	"github.com/nextsample/nextsample/causalconv/modelfile"
)

// vocodeFixture is a directory with the PyTorch-built locally conditioned
// model of causalconv/testdata (23 fbank channels, hop 80, window 200 at
// 8 kHz) saved with audio settings, a corpus folder of three FSDD
// recordings, and features of the model's dims in a Kaldi ark and scp.
type vocodeFixture struct {
	dir, model, corpus, ark, scp string
	lengths                      map[string]int // the recordings' samples, by key
	frames                       map[string]int // the ark's frames, by key
}

func newVocodeFixture(t *testing.T) vocodeFixture {
	t.Helper()
	dir := t.TempDir()
	f := vocodeFixture{dir: dir, model: filepath.Join(dir, "lc.safetensors"), corpus: filepath.Join(dir, "corpus"),
		ark: filepath.Join(dir, "feats.ark"), scp: filepath.Join(dir, "feats.scp"),
		lengths: map[string]int{}, frames: map[string]int{}}
	mf, err := modelfile.Load("../../causalconv/testdata/lc_small.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	s := audio.DefaultSettings()
	s.SampleRate = 8000
	meta, err := modelfile.AudioMeta(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := modelfile.SaveFile(f.model, mf.Model, map[string]string{modelfile.KeyAudio: meta}, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(f.corpus, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"0_george_0", "3_jackson_1", "7_theo_0"} {
		b := mustRead(t, filepath.Join("../../samples/fsdd/recordings", name+".wav"))
		if err := os.WriteFile(filepath.Join(f.corpus, name+".wav"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		f.lengths[name] = len(readWAV(t, filepath.Join(f.corpus, name+".wav")).Samples)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var ark, scp bytes.Buffer
	for i, key := range []string{"a", "b"} {
		m := featio.NewMatrix(9+5*i, 23) // frames × dims
		for j := range m.Data {
			m.Data[j] = float32(10 + 3*rng.NormFloat64())
		}
		off := int64(ark.Len() + len(key) + 1)
		if _, err := featio.WriteArkEntry(&ark, key, m); err != nil {
			t.Fatal(err)
		}
		scp.WriteString(key + " " + f.ark + ":" + strconv.FormatInt(off, 10) + "\n")
		f.frames[key] = m.Rows
	}
	if err := os.WriteFile(f.ark, ark.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.scp, scp.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// vocode runs the command and fails the test unless it succeeds.
func (f vocodeFixture) vocode(t *testing.T, args ...string) (stderr string) {
	t.Helper()
	code, _, errOut := runCLI("", append([]string{"vocode", "--model", f.model}, args...)...)
	if code != 0 {
		t.Fatalf("vocode %v: exit %d: %s", args, code, errOut)
	}
	return errOut
}

// Copy-synthesis of a corpus folder: one WAV per recording, as long as the
// recording, at the model's rate; the same bytes with 1 and 2 threads; the
// fbank settings said on stderr, and samples/s and the real-time factor.
func TestVocodeCorpus(t *testing.T) {
	f := newVocodeFixture(t)
	one, two := filepath.Join(f.dir, "one"), filepath.Join(f.dir, "two")
	stderr := f.vocode(t, "--data", f.corpus, "--out", one, "--threads", "1")
	f.vocode(t, "--data", f.corpus, "--out", two, "--threads", "2")
	for _, want := range []string{"records no feature settings", "23 mel bins", "samples/s", "real time at 8000 Hz", "wrote 3 files"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	for key, n := range f.lengths {
		a, b := filepath.Join(one, key+".wav"), filepath.Join(two, key+".wav")
		if !bytes.Equal(mustRead(t, a), mustRead(t, b)) {
			t.Errorf("%s: --threads 1 and 2 differ", key)
		}
		c := readWAV(t, a)
		if c.Info.SampleRate != 8000 || len(c.Samples) != n {
			t.Errorf("%s: %d Hz, %d samples; want 8000 Hz, %d", key, c.Info.SampleRate, len(c.Samples), n)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(one, ".vocode-*")); len(left) > 0 {
		t.Errorf("the staging folder was left: %v", left)
	}
}

// With --data each file is given back its original's level: the model's
// output divided by the gain the peak normalisation applied (0.95/peak),
// the same draws as --level model otherwise (float WAVs, compared sample
// by sample); with --features --level original is refused.
func TestVocodeLevel(t *testing.T) {
	f := newVocodeFixture(t)
	// A model that records its feature settings, as trained ones do: its
	// features come from the audio prepared (normalised) as in training.
	mf, err := modelfile.Load(f.model)
	if err != nil {
		t.Fatal(err)
	}
	_, cfg, err := vocodeFbank(mf.Model.Config.LocalCondition, 8000)
	if err != nil {
		t.Fatal(err)
	}
	fm, err := modelfile.FeaturesMeta(cfg)
	if err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{modelfile.KeyAudio: mf.Metadata[modelfile.KeyAudio], modelfile.KeyFeatures: fm}
	f.model = filepath.Join(f.dir, "recorded.safetensors")
	if err := modelfile.SaveFile(f.model, mf.Model, meta, nil); err != nil {
		t.Fatal(err)
	}
	orig, model := filepath.Join(f.dir, "orig"), filepath.Join(f.dir, "model")
	f.vocode(t, "--data", f.corpus, "--out", orig, "--float")
	f.vocode(t, "--data", f.corpus, "--out", model, "--float", "--level", "model")
	for key := range f.lengths {
		ref := readWAV(t, filepath.Join(f.corpus, key+".wav")).Samples
		var peak float64
		for _, v := range ref {
			peak = max(peak, math.Abs(float64(v)))
		}
		gain := 0.95 / peak
		a, b := readWAV(t, filepath.Join(orig, key+".wav")).Samples, readWAV(t, filepath.Join(model, key+".wav")).Samples
		if len(a) != len(b) {
			t.Fatalf("%s: %d and %d samples", key, len(a), len(b))
		}
		// One factor for the whole file (the preparation's gain, computed
		// after DC removal: within 1% of 0.95/peak of the raw file).
		r := float64(a[0]) / float64(b[0])
		if math.Abs(r*gain-1) > 0.01 {
			t.Errorf("%s: scaled by %g; want about 1/gain = %g", key, r, 1/gain)
		}
		for n := range a {
			if want := float32(float64(b[n]) * r); math.Abs(float64(a[n]-want)) > 1e-6*math.Abs(float64(want))+1e-9 {
				t.Fatalf("%s: sample %d is %g at the original level, %g at the model's: want %g (factor %g)", key, n, a[n], b[n], want, r)
			}
		}
	}
	code, _, stderr := runCLI("", "vocode", "--model", f.model, "--features", f.scp, "--level", "original", "--out", filepath.Join(f.dir, "x"))
	if code != 1 || !strings.Contains(stderr, "--level original goes with --data") {
		t.Errorf("--features --level original: exit %d, stderr %q", code, stderr)
	}
}

// Given features (scp or ark): one WAV per key, frames × hop samples long,
// the same from the scp as from the ark it points at.
func TestVocodeFeatures(t *testing.T) {
	f := newVocodeFixture(t)
	fromScp, fromArk := filepath.Join(f.dir, "scp"), filepath.Join(f.dir, "ark")
	f.vocode(t, "--features", f.scp, "--out", fromScp)
	f.vocode(t, "--features", f.ark, "--out", fromArk)
	for key, frames := range f.frames {
		a := filepath.Join(fromScp, key+".wav")
		if c := readWAV(t, a); len(c.Samples) != frames*80 {
			t.Errorf("%s: %d samples, want %d frames × 80", key, len(c.Samples), frames)
		}
		if !bytes.Equal(mustRead(t, a), mustRead(t, filepath.Join(fromArk, key+".wav"))) {
			t.Errorf("%s: the scp and the ark give different audio", key)
		}
	}
}

// Bad input gets one line naming what is wrong, exit status 1 and no
// output: features of other dims than the model's, a NaN, a model without
// local conditioning, no features, both sources.
func TestVocodeRefuses(t *testing.T) {
	f := newVocodeFixture(t)
	g := newGenFixture(t) // an unconditioned model
	writeArk := func(name string, m featio.Matrix) string {
		var b bytes.Buffer
		if _, err := featio.WriteArkEntry(&b, "u1", m); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(f.dir, name)
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	dims := writeArk("dims.ark", featio.NewMatrix(5, 22))
	nan := featio.NewMatrix(5, 23)
	nan.Data[30] = float32(math.NaN())
	nanArk := writeArk("nan.ark", nan)
	out := filepath.Join(f.dir, "out")
	for _, c := range []struct {
		model  string
		args   []string
		phrase string
	}{
		{f.model, []string{"--features", dims}, "u1: features of 22 dims; the model takes 23"},
		{f.model, []string{"--features", nanArk}, "u1: feature 7 of frame 1 is NaN"},
		{g.model, []string{"--features", f.scp}, "is not locally conditioned"},
		{f.model, nil, "--features SPEC"},
		{f.model, []string{"--features", f.scp, "--data", f.corpus}, "not both"},
		{f.model, []string{"--features", filepath.Join(f.dir, "none.scp")}, "none.scp"},
	} {
		code, _, stderr := runCLI("", append([]string{"vocode", "--model", c.model, "--out", out}, c.args...)...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != 1 || !strings.Contains(stderr, c.phrase) || len(lines) != 1 {
			t.Errorf("vocode %v: exit %d, stderr %q; want 1 and one line with %q", c.args, code, stderr, c.phrase)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused command created its output folder")
	}
}

// Ctrl-C (a cancelled context) stops vocoding with status 130 and writes
// nothing.
func TestVocodeInterrupted(t *testing.T) {
	f := newVocodeFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := filepath.Join(f.dir, "out")
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"nextsample", "vocode", "--model", f.model, "--features", f.scp, "--out", out}, strings.NewReader(""), &stdout, &stderr)
	if code != exitInterrupted || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("exit %d, stderr %q; want %d and \"interrupted\"", code, stderr.String(), exitInterrupted)
	}
	if entries, _ := os.ReadDir(out); len(entries) > 0 {
		t.Errorf("an interrupted run left %d entries in %s", len(entries), out)
	}
}
