package bench

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// tinyConfig is a configuration small enough to measure in a test.
const tinyConfig = `{
  "format": "wavenet-bench-config/v1",
  "model": {"quantization_channels": 16, "input_encoding": "onehot", "input_kernel_size": 1,
            "residual_channels": 4, "dilation_channels": 4, "skip_channels": 8, "end_channels": 8,
            "kernel_size": 2, "dilations": [1, 2, 4], "bias": true, "residual_on_last_layer": false},
  "variants": {"tiny": {}, "tinyk3": {"kernel_size": 3}},
  "train": {"optimizer": "sgd", "learning_rate": 0.01, "shapes": [{"batch": 2, "samples": 100}, {"batch": 1, "samples": 50}],
            "warmup_steps": 1, "min_steps": 3, "min_seconds": 0},
  "generate": {"batch": 2, "temperature": 0.8, "naive_warmup_samples": 1, "naive_samples": 3,
               "fast_warmup_samples": 10, "fast_samples": 60, "fast_block_samples": 20},
  "data": {"source": "synthetic", "sample_rate": 8000},
  "runtime": {"threads": 1, "seed": 7, "statistic": "median"}
}`

// TestParseConfig: the sections, the names in the reference's order, the
// defaults, a bare model object and a bad optimizer.
func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(tinyConfig))
	if err != nil {
		t.Fatal(err)
	}
	if c.Train.Optimizer != "sgd" || len(c.Train.Shapes) != 2 || c.Generate.FastBlockSamples != 20 ||
		c.SampleRate() != 8000 || c.Seed() != 7 || len(c.Variants) != 2 || c.Variants[1].Model.KernelSize != 3 {
		t.Errorf("parsed %+v", c)
	}
	want := []string{"train_tiny_b2x100", "train_tiny_b1x50", "gen_naive_tiny", "gen_fast_tiny",
		"train_tinyk3_b2x100", "train_tinyk3_b1x50", "gen_naive_tinyk3", "gen_fast_tinyk3",
		"vocode_tiny", "vocode_tinyk3", "features_tiny", "features_tinyk3", "features_fbank"}
	if got := c.Names(); !slices.Equal(got, want) {
		t.Errorf("names %q, want %q", got, want)
	}
	o := c.Resolve(Options{})
	if o.Threads != 1 || o.Statistic != "median" || o.Kernels.Name != kernels.Best().Name {
		t.Errorf("defaults %+v", o)
	}
	if o := c.Resolve(Options{Threads: 3, Statistic: "best"}); o.Threads != 3 || o.Statistic != "best" {
		t.Errorf("given options overridden: %+v", o)
	}

	bare, err := ParseConfig([]byte(`{"quantization_channels": 16, "input_encoding": "onehot", "input_kernel_size": 1,
		"residual_channels": 4, "dilation_channels": 4, "skip_channels": 8, "end_channels": 8, "kernel_size": 2, "dilations": [1]}`))
	if err != nil {
		t.Fatal(err)
	}
	if o := bare.Resolve(Options{}); o.Threads != 2 || o.Statistic != "best" || bare.SampleRate() != 16000 {
		t.Errorf("a bare model object: %+v, rate %d", o, bare.SampleRate())
	}
	if got := bare.Names(); !slices.Equal(got, []string{"gen_naive_model", "gen_fast_model", "vocode_model", "features_model", "features_fbank"}) {
		t.Errorf("a bare model object's names: %q", got)
	}
	for bad, want := range map[string]string{
		strings.Replace(tinyConfig, `"sgd"`, `"rmsprop"`, 1):                   `train.optimizer "rmsprop"`,
		strings.Replace(tinyConfig, `[{"batch"`, `"x", "y": [{"batch"`, 1):     "train.shapes",
		strings.Replace(tinyConfig, `"kernel_size": 3`, `"kernel_size": 1`, 1): "variants.tinyk3",
	} {
		if _, err := ParseConfig([]byte(bad)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want one with %q", err, want)
		}
	}
}

// TestMeasure runs the training and generation measurements of both
// variants and checks that each result is sane and summarised with the
// statistic asked for; a deterministic loss goes into the note.
func TestMeasure(t *testing.T) {
	c, err := ParseConfig([]byte(tinyConfig))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range c.Names() {
		if strings.HasPrefix(name, "features_") {
			continue // at least 3 s each
		}
		r, err := Measure(context.Background(), c, name, Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.Name != name || !(r.SamplesPerS > 0) || !(r.GFLOPs > 0) || r.N < 3 || !(r.BestS <= r.MedianS && r.MedianS <= r.MaxS) {
			t.Errorf("%s: implausible %+v", name, r)
		}
		if got := float64(r.Unit) / r.MedianS; got < 0.999*r.SamplesPerS || got > 1.001*r.SamplesPerS {
			t.Errorf("%s: %v samples/s, but unit/median = %v", name, r.SamplesPerS, got)
		}
		// vocode_ generates with the default 8 kHz fbank conditioning.
		if strings.HasPrefix(name, "vocode_") != strings.Contains(r.Note, " features=40x80") {
			t.Errorf("%s: note %q", name, r.Note)
		}
		train := strings.HasPrefix(name, "train_")
		if train != strings.Contains(r.Note, " loss ") || train != (r.Precision == "fp32") {
			t.Errorf("%s: note %q, precision %q", name, r.Note, r.Precision)
		}
		if train {
			again, _ := Measure(context.Background(), c, name, Options{})
			if lossOf(again.Note) != lossOf(r.Note) {
				t.Errorf("%s: the losses %q, then %q", name, lossOf(r.Note), lossOf(again.Note))
			}
		}
	}
	if _, err := Measure(context.Background(), c, "gen_fast_other", Options{}); err == nil || !strings.Contains(err.Error(), "no such measurement") {
		t.Errorf("an unknown measurement: %v", err)
	}
	if _, err := Measure(context.Background(), c, "gen_fast_tiny", Options{Statistic: "mean"}); err == nil || !strings.Contains(err.Error(), "best or median") {
		t.Errorf("statistic mean: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Measure(ctx, c, "train_tiny_b2x100", Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// lossOf is the "loss a->b" part of a training note.
func lossOf(note string) string {
	f := strings.Fields(note)
	if len(f) < 2 {
		return ""
	}
	return f[1]
}
