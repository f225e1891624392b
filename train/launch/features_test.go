package launch

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/causalconv/modelfile"
	"github.com/nextsample/nextsample/train"
)

func TestUpsampleScales(t *testing.T) {
	for hop, want := range map[int][]int{80: {4, 4, 5}, 160: {4, 5, 8}, 200: {5, 5, 8}, 256: {4, 8, 8}, 6: {2, 3}, 7: {7}, 1: {1}, 2000: {2, 10, 10, 10}} {
		got, err := UpsampleScales(hop)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("hop %d: %v %v, want %v", hop, got, err, want)
		}
	}
	if _, err := UpsampleScales(110); err == nil || !strings.Contains(err.Error(), "prime factor 11") {
		t.Errorf("hop 110: %v", err)
	}
}

func TestFbankDefaults(t *testing.T) {
	for rate, bins := range map[int]int{8000: 40, 16000: 80, 22050: 80} {
		c, err := FbankOptions{}.Config(rate)
		if err != nil || c.NumMelBins != bins || !c.SnipEdges || c.Dither != 0 || c.FrameLengthMs != 25 || c.FrameShiftMs != 10 {
			t.Errorf("%d Hz: %+v %v", rate, c, err)
		}
	}
}

// A run conditioned on fbank features and speakers starts, records its
// feature settings and the training split's statistics, resumes, and
// eval scores it given the same features (the run's own validation).
func TestStartResumeEvaluateFbank(t *testing.T) {
	manifest, config := writeCorpus(t, 11, true)
	out := filepath.Join(t.TempDir(), "run")
	cache := CacheOptions{Dir: t.TempDir()}
	run := func(req Request) *Plan {
		t.Helper()
		plan, err := Prepare(req)
		if err != nil {
			t.Fatal(err)
		}
		d, err := plan.Open(context.Background(), cache)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		r, err := plan.Start(d, train.Setup{})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := r.Train(context.Background()); err != nil {
			t.Fatal(err)
		}
		return plan
	}
	first := run(Request{Out: out, Data: &manifest, ConfigFile: config, Threads: 1, Condition: "fbank,speaker", GCChannels: 3,
		Fbank:   FbankOptions{Bins: 6},
		Options: OptionChanges{Steps: ptr(int64(2)), Batch: ptr(2), Crop: ptr(100), EvalEvery: ptr(int64(1)), Seed: ptr(uint64(5))}})
	lc := first.Model.Config.LocalCondition
	if lc == nil || lc.Channels != 6 || lc.Hop != 80 || lc.Window != 200 || !lc.SnipEdges || !slices.Equal(lc.UpsampleScales, []int{4, 4, 5}) ||
		len(lc.Mean) != 6 || len(lc.Std) != 6 || first.Model.Config.Speakers() != 2 {
		t.Fatalf("local condition %+v, %d speakers", lc, first.Model.Config.Speakers())
	}
	second := run(Request{Out: out, Resume: true, Options: OptionChanges{Steps: ptr(int64(3))}})
	if *second.Features != *first.Features || !second.Model.Config.LocalCondition.Equal(lc) {
		t.Errorf("resumed with features %+v, %+v", second.Features, second.Model.Config.LocalCondition)
	}
	mf, err := modelfile.Load(filepath.Join(out, train.BestFile))
	if err != nil {
		t.Fatal(err)
	}
	fc, err := modelfile.Features(mf.Metadata, mf.Model.Config)
	if err != nil || fc == nil || *fc != *first.Features {
		t.Fatalf("recorded features %+v, %v", fc, err)
	}
	table := first.Speakers
	rep, err := Evaluate(context.Background(), EvalRequest{Model: mf.Model, Metadata: mf.Metadata, Path: mf.Path, Audio: first.Audio, Cache: cache,
		Speakers: func(files []corpus.Entry) ([]int, error) {
			r, _, err := SpeakerRows(table, files, modelfile.SpeakerPolicy{Own: true})
			return r.Rows, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	var best struct {
		ValBits float64 `json:"val_bits"`
	}
	if err := json.Unmarshal([]byte(mf.Metadata[modelfile.KeyBest]), &best); err != nil {
		t.Fatal(err)
	}
	if math.Abs(rep.BitsPerSample()-best.ValBits) > 1e-6 {
		t.Errorf("Evaluate: %.6f bits; the run recorded %.6f", rep.BitsPerSample(), best.ValBits)
	}
	// Without its feature settings the model cannot be scored.
	meta := map[string]string{}
	for k, v := range mf.Metadata {
		if k != modelfile.KeyFeatures {
			meta[k] = v
		}
	}
	_, err = Evaluate(context.Background(), EvalRequest{Model: mf.Model, Metadata: meta, Path: mf.Path, Audio: first.Audio, Cache: cache,
		Speakers: func(files []corpus.Entry) ([]int, error) { return make([]int, len(files)), nil }})
	if err == nil || !strings.Contains(err.Error(), "records no feature settings") {
		t.Errorf("a conditioned model without feature settings: %v", err)
	}
}
