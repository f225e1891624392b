package launch

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/kernels"
	"github.com/nextsample/nextsample/train"
)

func TestCacheEventString(t *testing.T) {
	ev := CacheEvent{What: "train", Rate: 8000, Done: 3, Total: 40, Samples: 24800, Planned: 96, Elapsed: 1400 * time.Millisecond}
	if got, want := ev.String(), "preparing train classes: 3/40 files, 3.1 s of ≈1.6 min, 1s"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	ev.Planned = 0
	if got, want := ev.String(), "preparing train classes: 3/40 files, 3.1 s, 1s"; got != want {
		t.Errorf("without a plan: got %q, want %q", got, want)
	}
}

func TestEvalReportScope(t *testing.T) {
	flags := func(o string) string { return map[string]string{"ValSamples": "--val-samples"}[o] }
	for _, c := range []struct {
		rep  EvalReport
		name OptionName
		want string
	}{
		{EvalReport{Corpus: "c.csv"}, nil, "c.csv, all files"},
		{EvalReport{Corpus: "c.csv", Split: "test"}, nil, "c.csv, split test"},
		{EvalReport{Corpus: "c.csv", Validation: "dev"}, nil, "c.csv, validation: dev"},
		{EvalReport{Corpus: "c.csv", Validation: "dev", Bound: &Bound{Kept: 2, Of: 9, Limit: 500}}, nil,
			"c.csv, validation: dev; 2 of its 9 files, chosen by key hash for ValSamples 500"},
		{EvalReport{Corpus: "c.csv", Validation: "dev", Bound: &Bound{Kept: 2, Of: 9, Limit: 500}}, flags,
			"c.csv, validation: dev; 2 of its 9 files, chosen by key hash for --val-samples 500"},
	} {
		if got := c.rep.Scope(c.name); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
	rep := EvalReport{EvalResult: train.EvalResult{Nats: 0, Samples: 1, Files: 1}, Model: "m.safetensors", Uniform: 8, Corpus: "c.csv"}
	var b strings.Builder
	if err := rep.WriteText(&b, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "m.safetensors on c.csv, all files: 0.0000 bits/sample (0.0000 nats) over 1 samples in 1 files [uniform 8.000 bits]\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestPrecisionNote: precision bf16 gets a note on a machine where it is
// slower than fp32, and on no other.
func TestPrecisionNote(t *testing.T) {
	emr := kernels.Machine{Vendor: "GenuineIntel", Family: 6, Model: 207, AVX512: true, BF16: true, Kind: kernels.KindIntelAVX512}
	zen4 := kernels.Machine{Vendor: "AuthenticAMD", Family: 25, Model: 17, AVX512: true, BF16: true, Kind: kernels.KindZen4}
	flag := func(o string) string { return "--" + strings.ToLower(o) }
	const want = "on this CPU (GenuineIntel family 6 model 207) bf16 dot products run at half the fp32 rate: --precision bf16 trains slower than fp32 here"
	for _, c := range []struct {
		m    kernels.Machine
		prec causalconv.Precision
		want []string
	}{
		{emr, causalconv.PrecisionBF16, []string{want}},
		{emr, causalconv.PrecisionFP32, nil},
		{zen4, causalconv.PrecisionBF16, nil},
		{kernels.Machine{}, causalconv.PrecisionBF16, nil},
	} {
		p := &Plan{Machine: c.m}
		p.Options.Precision = c.prec
		if got := p.Notes(flag); !slices.Equal(got, c.want) {
			t.Errorf("%s, %s: notes %q, want %q", c.m, c.prec, got, c.want)
		}
	}
	p := &Plan{Machine: emr}
	p.Options.Precision = causalconv.PrecisionBF16
	if got := p.Notes(nil); len(got) != 1 || !strings.Contains(got[0], ": Precision bf16 trains slower") {
		t.Errorf("Go names: %q", got)
	}
}
