package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/featio"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/features"
	"github.com/nextsample/nextsample/causalconv/modelfile"
)

// featuresCorpus writes eight short 8 kHz WAVs of two speakers with a
// manifest (train and test splits) and returns the manifest's path.
func featuresCorpus(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	rows := []string{"path,speaker,label,split"}
	for i := range 8 {
		x := make([]float32, 900+137*i)
		for n := range x {
			x[n] = float32(0.4 * math.Sin(2*math.Pi*float64(150+50*i)*float64(n)/8000))
		}
		name := fmt.Sprintf("wav/u%d.wav", i)
		if i == 5 {
			name = "wav/u 5.wav" // its key is wav/u_5, in features and in probe alike
		}
		if err := os.MkdirAll(filepath.Join(dir, "wav"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := audio.WriteFile(filepath.Join(dir, name), x, 8000, audio.PCM16); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, fmt.Sprintf("%s,s%d,%d,%s", name, i%2, i%3, []string{"train", "test"}[i%2]))
	}
	manifest := filepath.Join(dir, "manifest.csv")
	if err := os.WriteFile(manifest, []byte(strings.Join(rows, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return manifest
}

// featuresModel saves a tiny random model with the default audio
// settings, as the trainer would, and returns its path.
func featuresModel(t *testing.T, withAudio bool) string {
	t.Helper()
	c := causalconv.Config{QuantizationChannels: 256, InputEncoding: "onehot", InputKernelSize: 1,
		ResidualChannels: 4, DilationChannels: 3, SkipChannels: 5, EndChannels: 6,
		KernelSize: 2, Dilations: []int{1, 2, 4, 8}, Bias: true}
	m, err := causalconv.NewRandom(c, 7)
	if err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{}
	if withAudio {
		a, err := modelfile.AudioMeta(audio.DefaultSettings())
		if err != nil {
			t.Fatal(err)
		}
		meta[modelfile.KeyAudio] = a
	}
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := modelfile.SaveFile(path, m, meta, nil); err != nil {
		t.Fatal(err)
	}
	return path
}

func runFeaturesCLI(ctx context.Context, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(ctx, append([]string{"nextsample", "features"}, args...), strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestFeaturesFbankThenProbe(t *testing.T) {
	manifest := featuresCorpus(t)
	out := filepath.Join(t.TempDir(), "fbank")
	code, stdout, stderr := runFeaturesCLI(context.Background(), "--kind", "fbank", "--data", manifest, "--format", "npy", "--out", out, "--threads", "3")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"Kaldi fbank, 23 dims per frame (200-sample windows every 80 samples at 8000 Hz, snip-edges)", "8 files"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(stdout, "features: 8 files") {
		t.Errorf("stdout: %q", stdout)
	}
	set, err := featio.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	if set.Sidecar.Kind != featio.KindFbank || set.Sidecar.Dims != 23 || len(set.Entries) != 8 || set.Entries[0].Key != "wav/u0" {
		t.Errorf("sidecar %+v, entries %+v", set.Sidecar, set.Entries)
	}
	if _, err := os.Stat(filepath.Join(out, "wav", "u3.npy")); err != nil {
		t.Error(err)
	}
	var pout, perr bytes.Buffer
	if code := run(context.Background(), []string{"nextsample", "probe", "--features", out, "--data", manifest, "--label", "label"},
		strings.NewReader(""), &pout, &perr); code != 0 {
		t.Fatalf("probe exit %d: %s", code, perr.String())
	}
	if !strings.Contains(pout.String(), "split: train 4, test 4") || !strings.Contains(pout.String(), "8 utterances") {
		t.Errorf("probe: %s", pout.String())
	}
}

func TestFeaturesLearnedShards(t *testing.T) {
	manifest := featuresCorpus(t)
	model := featuresModel(t, true)
	sum, err := features.FileSHA256(model)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := range 3 {
		out := filepath.Join(t.TempDir(), fmt.Sprintf("shard%d", i))
		code, stdout, stderr := runFeaturesCLI(context.Background(), "--model", model, "--layers", "z:1,skip", "--pool", "max",
			"--snip-edges=false", "--data", manifest, "--shard", fmt.Sprintf("%d/3", i), "--format", "htk", "--out", out)
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
		}
		set, err := featio.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		sc := set.Sidecar
		if sc.Kind != featio.KindLearned || sc.Dims != 8 || sc.Pooling != "max" || sc.SnipEdges || sc.Shard != fmt.Sprintf("%d/3", i) ||
			sc.ModelSHA256 == nil || *sc.ModelSHA256 != sum || !slices.Equal(sc.Layers, []string{"z1", "skip"}) || sc.Model != model {
			t.Errorf("shard %d: sidecar %+v", i, sc)
		}
		for j, e := range set.Entries {
			keys = append(keys, e.Key)
			m, err := set.Load(j)
			if err != nil {
				t.Fatal(err)
			}
			if m.Cols != 8 || m.Rows == 0 {
				t.Errorf("%s: %d×%d", e.Key, m.Rows, m.Cols)
			}
		}
	}
	slices.Sort(keys)
	want := []string{"wav/u0", "wav/u1", "wav/u2", "wav/u3", "wav/u4", "wav/u6", "wav/u7", "wav/u_5"}
	if !slices.Equal(keys, want) {
		t.Errorf("the shards hold %v, want %v", keys, want)
	}
}

func TestFeaturesRefuses(t *testing.T) {
	manifest := featuresCorpus(t)
	model := featuresModel(t, true)
	bare := featuresModel(t, false)
	out := filepath.Join(t.TempDir(), "out")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--kind", "plp", "--data", manifest, "--out", out}, `unknown --kind "plp"`},
		{[]string{"--model", model, "--kind", "fbank", "--data", manifest, "--out", out}, "does not go with it"},
		{[]string{"--kind", "fbank", "--layers", "z:all", "--data", manifest, "--out", out}, "--layers is for learned features"},
		{[]string{"--model", model, "--sample-rate", "16000", "--data", manifest, "--out", out}, "not the --sample-rate 16000 given"},
		{[]string{"--model", model, "--layers", "z:9", "--data", manifest, "--out", out}, "layer 9 does not exist"},
		{[]string{"--model", model, "--pool", "median", "--data", manifest, "--out", out}, `pooling "median"`},
		{[]string{"--model", bare, "--data", manifest, "--out", out}, "give it with --sample-rate"},
		{[]string{"--kind", "fbank", "--shard", "3/3", "--data", manifest, "--out", out}, "shard \"3/3\""},
		{[]string{"--kind", "fbank", "--format", "csv", "--data", manifest, "--out", out}, `unknown --format "csv"`},
		{[]string{"--kind", "fbank", "--format", "npy", "--ark-text", "--data", manifest, "--out", out}, "--ark-text goes with --format ark"},
		{[]string{"--kind", "fbank", "--split", "dev", "--data", manifest, "--out", out}, `split "dev" has no files`},
		{[]string{"--kind", "fbank", "--sample-rate", "16000", "--data", manifest, "--out", out}, "enable it with --resample"},
	} {
		code, _, stderr := runFeaturesCLI(context.Background(), c.args...)
		if code != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", c.args, code, stderr, c.want)
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused run created %s", out)
	}
}

func TestFeaturesInterrupted(t *testing.T) {
	manifest := featuresCorpus(t)
	out := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	code, _, stderr := runFeaturesCLI(ctx, "--model", featuresModel(t, true), "--data", manifest, "--out", out)
	if code != exitInterrupted || !strings.Contains(stderr, "interrupted") {
		t.Errorf("exit %d, stderr %q; want %d", code, stderr, exitInterrupted)
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the interrupted run left %s", out)
	}
}
