package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/modelfile"
)

// genFixture is a directory with a small random model file (8 kHz, the
// default audio settings in its metadata) and an 8 kHz prompt.
type genFixture struct {
	dir, model, prompt string
	promptLen          int
}

func newGenFixture(t *testing.T) genFixture {
	t.Helper()
	dir := t.TempDir()
	c := causalconv.Config{
		QuantizationChannels: 256, InputEncoding: causalconv.InputOneHot, InputKernelSize: 1,
		ResidualChannels: 8, DilationChannels: 8, SkipChannels: 16, EndChannels: 16,
		KernelSize: 2, Dilations: []int{1, 2, 4, 8, 16, 1, 2}, Bias: true,
	}
	m, err := causalconv.NewRandom(c, 3)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := modelfile.AudioMeta(audio.DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	f := genFixture{dir: dir, model: filepath.Join(dir, "model.safetensors"), prompt: filepath.Join(dir, "prompt.wav"), promptLen: 1200}
	if err := modelfile.SaveFile(f.model, m, map[string]string{modelfile.KeyAudio: meta}, nil); err != nil {
		t.Fatal(err)
	}
	x := make([]float32, f.promptLen)
	for i := range x {
		x[i] = float32(0.3 * math.Sin(2*math.Pi*220*float64(i)/8000))
	}
	if err := audio.WriteFile(f.prompt, x, 8000, audio.PCM16); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f genFixture) path(name string) string { return filepath.Join(f.dir, name) }

func readWAV(t *testing.T, path string) *audio.Clip {
	t.Helper()
	c, err := audio.ReadFile(path, audio.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// generate runs the command and fails the test unless it succeeds.
func (f genFixture) generate(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	code, out, errOut := runCLI("", append([]string{"generate", "--model", f.model}, args...)...)
	if code != 0 {
		t.Fatalf("generate %v: exit %d: %s", args, code, errOut)
	}
	return out, errOut
}

// TestGenerateOutputs: the WAV holds the prompt as the model saw it and
// then the continuation, at the model's rate; --continuation-only holds
// the same continuation alone; the spectrogram is drawn; the progress and
// final lines report samples/s and the real-time factor.
func TestGenerateOutputs(t *testing.T) {
	f := newGenFixture(t)
	const n = 700
	_, stderr := f.generate(t, "--prompt", f.prompt, "--samples", "700", "--out", f.path("full.wav"), "--spectrogram", f.path("full.png"), "--seed", "5")
	if !strings.Contains(stderr, "samples/s") || !strings.Contains(stderr, "real time") {
		t.Errorf("stderr lacks the rate and real-time factor:\n%s", stderr)
	}
	full := readWAV(t, f.path("full.wav"))
	if full.Info.SampleRate != 8000 || full.Info.Bits != 16 || full.Info.Format != "pcm" || len(full.Samples) != f.promptLen+n {
		t.Fatalf("full output: %+v with %d samples, want 16-bit PCM at 8000 Hz with %d", full.Info, len(full.Samples), f.promptLen+n)
	}
	// The prompt part is the prompt after the model's preprocessing
	// (DC removed, peak normalized to 0.95) and μ-law quantization.
	settings := audio.DefaultSettings()
	want, _, err := settings.Load(f.prompt)
	if err != nil {
		t.Fatal(err)
	}
	mu := settings.MuLaw()
	for i, v := range want {
		q := mu.Centre(mu.EncodeOne(v))
		if math.Abs(float64(full.Samples[i]-q)) > 1.0/32768 {
			t.Fatalf("prompt sample %d is %v, want the μ-law centre %v of %v", i, full.Samples[i], q, v)
		}
	}
	if png := mustRead(t, f.path("full.png")); !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Error("the spectrogram is not a PNG")
	}

	f.generate(t, "--prompt", f.prompt, "--samples", "700", "--out", f.path("cont.wav"), "--seed", "5", "--continuation-only", "--float")
	cont := readWAV(t, f.path("cont.wav"))
	if cont.Info.Format != "float" || len(cont.Samples) != n {
		t.Fatalf("continuation-only: %+v with %d samples, want float with %d", cont.Info, len(cont.Samples), n)
	}
	for i, v := range cont.Samples {
		if math.Abs(float64(v-full.Samples[f.promptLen+i])) > 1.0/32768 {
			t.Fatalf("continuation sample %d: %v alone, %v after the prompt", i, v, full.Samples[f.promptLen+i])
		}
	}

	// Without a prompt: the continuation alone, from silence; to stdout.
	stdout, _ := f.generate(t, "--seconds", "0.05", "--out", "-")
	clip, err := audio.Decode(strings.NewReader(stdout), "stdout", audio.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(clip.Samples) != 400 {
		t.Errorf("0.05 s from silence gave %d samples, want 400", len(clip.Samples))
	}
}

// TestGenerateReproducible: the same seed gives the same bytes, another
// seed other samples; with --count the continuations differ from each
// other and do not depend on --threads; the pattern numbers them.
func TestGenerateReproducible(t *testing.T) {
	f := newGenFixture(t)
	args := []string{"--prompt", f.prompt, "--samples", "1500"}
	f.generate(t, append(args, "--out", f.path("a.wav"), "--seed", "9")...)
	f.generate(t, append(args, "--out", f.path("b.wav"), "--seed", "9")...)
	f.generate(t, append(args, "--out", f.path("c.wav"), "--seed", "10")...)
	a, b, c := mustRead(t, f.path("a.wav")), mustRead(t, f.path("b.wav")), mustRead(t, f.path("c.wav"))
	if !bytes.Equal(a, b) {
		t.Error("the same seed gave different outputs")
	}
	if bytes.Equal(a, c) {
		t.Error("seeds 9 and 10 gave the same output")
	}

	f.generate(t, append(args, "--count", "11", "--threads", "1", "--out", f.path("one-{i}.wav"), "--seed", "3")...)
	f.generate(t, append(args, "--count", "11", "--threads", "3", "--out", f.path("three-{i}.wav"), "--seed", "3")...)
	for _, i := range []string{"00", "04", "10"} {
		x, y := mustRead(t, f.path("one-"+i+".wav")), mustRead(t, f.path("three-"+i+".wav"))
		if !bytes.Equal(x, y) {
			t.Errorf("continuation %s differs between --threads 1 and 3", i)
		}
	}
	if bytes.Equal(mustRead(t, f.path("one-00.wav")), mustRead(t, f.path("one-01.wav"))) {
		t.Error("continuations 0 and 1 are the same")
	}
	if _, err := os.Stat(f.path("one-11.wav")); err == nil {
		t.Error("11 continuations wrote a 12th file")
	}
	// Fewer than 8 continuations are computed one by one, each exactly
	// as a lone one: continuation 0 of 3 is the --count 1 output.
	f.generate(t, append(args, "--count", "3", "--out", f.path("few-{i}.wav"), "--seed", "9")...)
	if !bytes.Equal(mustRead(t, f.path("few-0.wav")), a) {
		t.Error("continuation 0 of 3 differs from the single continuation with the same seed")
	}
}

// TestGenerateBF16: --bf16 writes what was asked for, reproducibly. (Its
// arithmetic is checked in causalconv's TestBF16MatchesRoundedModel.)
func TestGenerateBF16(t *testing.T) {
	f := newGenFixture(t)
	args := []string{"--prompt", f.prompt, "--samples", "300", "--continuation-only", "--count", "2", "--seed", "4"}
	f.generate(t, append(args, "--out", f.path("b-{i}.wav"), "--bf16")...)
	f.generate(t, append(args, "--out", f.path("c-{i}.wav"), "--bf16")...)
	if !bytes.Equal(mustRead(t, f.path("b-1.wav")), mustRead(t, f.path("c-1.wav"))) {
		t.Error("--bf16 is not reproducible")
	}
	if got := readWAV(t, f.path("b-0.wav")); len(got.Samples) != 300 {
		t.Errorf("--bf16 wrote %d samples, want 300", len(got.Samples))
	}
}

// TestGenerateRefuses: bad command lines, prompts and models get a clear
// error before anything is generated, and nothing is written.
func TestGenerateRefuses(t *testing.T) {
	f := newGenFixture(t)
	at16k := f.path("16k.wav")
	if err := audio.WriteFile(at16k, make([]float32, 1600), 16000, audio.PCM16); err != nil {
		t.Fatal(err)
	}
	noAudio := f.path("bare.safetensors")
	m, _ := causalconv.NewRandom(causalconv.DefaultConfig(), 1)
	if err := modelfile.SaveFile(noAudio, m, nil, nil); err != nil {
		t.Fatal(err)
	}
	out := f.path("out.wav")
	for _, c := range []struct {
		args   []string
		phrase string
	}{
		{[]string{"--samples", "10", "--seconds", "1", "--out", out}, "not both"},
		{[]string{"--out", out}, "--seconds or --samples"},
		{[]string{"--samples", "0", "--out", out}, "--samples 0"},
		{[]string{"--seconds", "-1", "--out", out}, "--seconds -1"},
		{[]string{"--samples", "10", "--temperature", "-0.5", "--out", out}, "--temperature"},
		{[]string{"--samples", "10", "--count", "2", "--out", out}, "{i}"},
		{[]string{"--samples", "10", "--count", "2", "--out", "-"}, "standard output"},
		{[]string{"--samples", "10", "--count", "2", "--out", f.path("x{i}.wav"), "--spectrogram", f.path("s.png")}, "{i}"},
		{[]string{"--samples", "10", "--out", out, "--spectrogram", "-"}, "--spectrogram -"},
		{[]string{"--samples", "10", "--out", out, "--spectrogram", out}, "written twice"},
		{[]string{"--samples", "10", "--out", f.path("missing/out.wav")}, "missing"},
		{[]string{"--samples", "10", "--out", f.dir}, "is a directory"},
		{[]string{"--samples", "10", "--out", out, "--threads", "0"}, "--threads 0"},
		{[]string{"--samples", "10", "--out", out, "--prompt", at16k}, "16000 Hz"},
		{[]string{"--samples", "10", "--out", out, "--prompt", f.path("none.wav")}, "none.wav"},
		{[]string{"--samples", "10", "--out", out, "--prompt", f.model}, "model.safetensors"},
		{[]string{"--samples", "10", "--out", out, "extra"}, "unexpected argument"},
		{[]string{"--samples", "300000000", "--count", "2", "--out", f.path("big-{i}.wav")}, "in memory"},
	} {
		code, _, stderr := runCLI("", append([]string{"generate", "--model", f.model}, c.args...)...)
		if code != 1 || !strings.Contains(stderr, c.phrase) {
			t.Errorf("generate %v: exit %d, stderr %q; want 1 and a message with %q", c.args, code, stderr, c.phrase)
		}
	}
	code, _, stderr := runCLI("", "generate", "--model", noAudio, "--samples", "10", "--out", out)
	if code != 1 || !strings.Contains(stderr, "bare.safetensors") || !strings.Contains(stderr, "audio") {
		t.Errorf("a model without audio settings: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused command wrote its output")
	}
	// --resample overrides the model's refusal of other rates.
	f.generate(t, "--samples", "10", "--out", out, "--prompt", at16k, "--resample")
	if got := readWAV(t, out); got.Info.SampleRate != 8000 || len(got.Samples) != 800+10 {
		t.Errorf("resampled prompt: %d Hz, %d samples; want 8000 Hz, 810", got.Info.SampleRate, len(got.Samples))
	}
}

// TestGenerateInterrupted: Ctrl-C (a cancelled context) stops generation
// with status 130 and writes nothing.
func TestGenerateInterrupted(t *testing.T) {
	f := newGenFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"nextsample", "generate", "--model", f.model, "--prompt", f.prompt, "--samples", "5000",
		"--count", "2", "--out", f.path("o-{i}.wav"), "--spectrogram", f.path("o-{i}.png")}, strings.NewReader(""), &stdout, &stderr)
	if code != exitInterrupted || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("exit %d, stderr %q; want %d and \"interrupted\"", code, stderr.String(), exitInterrupted)
	}
	entries, _ := os.ReadDir(f.dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "o-") || strings.Contains(e.Name(), ".tmp") {
			t.Errorf("an interrupted run left %s", e.Name())
		}
	}
}
