package features

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
	"time"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/audio/featio"
	"github.com/nextsample/nextsample/audio/kaldifeat"
	"github.com/nextsample/nextsample/causalconv"
)

// makeCorpus writes a small corpus of synthetic WAVs at 8 kHz into a new
// folder (two subfolders, lengths from shorter than one frame to several
// chunks) and returns it opened.
func makeCorpus(t *testing.T) *corpus.Corpus {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "corpus")
	lengths := []int{3000, 150, 800, 4321, 200, 2500, 999, 1700, 60, 3600, 1234}
	utts := syntheticUtterances(9, len(lengths), 4321, 8000)
	for i, n := range lengths {
		sub := []string{"a", "b"}[i%2]
		path := filepath.Join(dir, sub, fmt.Sprintf("utt %02d.wav", i)) // a space: keys must replace it
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := audio.WriteFile(path, utts[i][:n], 8000, audio.PCM16); err != nil {
			t.Fatal(err)
		}
	}
	c, err := corpus.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tinyRecipe returns a learned-features recipe of a tiny random model.
func tinyRecipe(t *testing.T, spec string, chunk int, snip bool) *Recipe {
	t.Helper()
	c := tinyConfigs()["k2bias"]
	m, err := causalconv.NewRandom(c, 11)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := ParseLayers(spec, c.Layers())
	if err != nil {
		t.Fatal(err)
	}
	fr, err := FramingMs(8000, 25, 10, snip)
	if err != nil {
		t.Fatal(err)
	}
	s := audio.DefaultSettings()
	s.Quantization = c.QuantizationChannels
	s.TrimDB = -40 // stored by a model trained with trimming; features must ignore it
	r, err := Learned(m, s, Options{Layers: ls, Framing: fr, Chunk: chunk}, "tiny.safetensors", "00ff")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func fbankRecipe(t *testing.T) *Recipe {
	t.Helper()
	r, err := Kaldi(kaldifeat.DefaultFbank(8000), KaldiSettings(8000, false))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// readFolder returns every file under dir (relative path → bytes).
func readFolder(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestShardsPartitionTheCorpus(t *testing.T) {
	var all []corpus.Entry
	for i := range 23 {
		all = append(all, corpus.Entry{Key: fmt.Sprintf("k%02d", i)})
	}
	for n := 1; n <= 25; n++ {
		seen := map[string]int{}
		for i := range n {
			sh, err := ParseShard(fmt.Sprintf("%d/%d", i, n))
			if err != nil {
				t.Fatal(err)
			}
			part := sh.Select(all)
			if !slices.IsSortedFunc(part, func(a, b corpus.Entry) int { return strings.Compare(a.Key, b.Key) }) {
				t.Errorf("shard %v is not in corpus order", sh)
			}
			if len(part) < len(all)/n || len(part) > len(all)/n+1 {
				t.Errorf("shard %v has %d of %d entries: not balanced", sh, len(part), len(all))
			}
			for _, e := range part {
				seen[e.Key]++
			}
		}
		for _, e := range all {
			if seen[e.Key] != 1 {
				t.Fatalf("%d shards: %s is in %d of them", n, e.Key, seen[e.Key])
			}
		}
	}
	if sh, err := ParseShard(""); err != nil || sh != (Shard{0, 1}) {
		t.Errorf(`ParseShard("") = %v, %v`, sh, err)
	}
	for _, bad := range []string{"1", "2/2", "-1/3", "0/0", "a/b", "1/2/3"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
}

// TestOutputIndependentOfThreads writes the same corpus with 1, 2 and 5
// workers, small chunks and every format, and compares the bytes.
func TestOutputIndependentOfThreads(t *testing.T) {
	corp := makeCorpus(t)
	for _, format := range []string{featio.FormatArk, featio.FormatNpy, featio.FormatHTK} {
		for name, r := range map[string]*Recipe{"learned": tinyRecipe(t, "skip,z:all", 500, true), "fbank": fbankRecipe(t)} {
			var first map[string][]byte
			dir := filepath.Join(t.TempDir(), "out") // the same path each time: feats.scp holds it
			for _, threads := range []int{1, 2, 5} {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				opts := CorpusOptions{Format: format, RunOptions: RunOptions{Threads: threads}, ArkText: true}
				prog, err := WriteCorpus(context.Background(), r, corp.Entries, dir, opts)
				if err != nil {
					t.Fatal(err)
				}
				if prog.Done != len(corp.Entries) || prog.Total != len(corp.Entries) {
					t.Errorf("progress %+v, want %d utterances done", prog, len(corp.Entries))
				}
				files := readFolder(t, dir)
				if first == nil {
					first = files
					continue
				}
				if len(files) != len(first) {
					t.Fatalf("%s %s: %d threads wrote %d files, 1 thread %d", name, format, threads, len(files), len(first))
				}
				for p, b := range first {
					if !bytes.Equal(files[p], b) {
						t.Fatalf("%s %s: %s differs between 1 and %d threads", name, format, p, threads)
					}
				}
			}
		}
	}
}

// TestReadBackEqualsDirect writes learned and fbank features and checks,
// through featio.Open, that every utterance is there under its key with
// the values a direct computation gives, and that features.json says
// what they are.
func TestReadBackEqualsDirect(t *testing.T) {
	corp := makeCorpus(t)
	for _, snip := range []bool{true, false} {
		for name, r := range map[string]*Recipe{"learned": tinyRecipe(t, "z:0,skip", 700, snip), "fbank": fbankRecipe(t)} {
			if name == "fbank" && !snip {
				cfg := kaldifeat.DefaultFbank(8000)
				cfg.SnipEdges = false
				var err error
				if r, err = Kaldi(cfg, KaldiSettings(8000, false)); err != nil {
					t.Fatal(err)
				}
			}
			for _, format := range []string{featio.FormatArk, featio.FormatNpy, featio.FormatHTK} {
				dir := filepath.Join(t.TempDir(), "out")
				if _, err := WriteCorpus(context.Background(), r, corp.Entries, dir, CorpusOptions{Format: format}); err != nil {
					t.Fatal(err)
				}
				set, err := featio.Open(dir)
				if err != nil {
					t.Fatal(err)
				}
				sc := set.Sidecar
				if sc.Kind != r.Sidecar.Kind || sc.Dims != r.Dim || sc.SnipEdges != snip || sc.WindowSamples != 200 || sc.HopSamples != 80 || sc.SampleRate != 8000 || sc.Count != len(corp.Entries) {
					t.Errorf("%s %s: sidecar %+v", name, format, sc)
				}
				if name == "learned" && (sc.ModelSHA256 == nil || *sc.ModelSHA256 != "00ff" || !slices.Equal(sc.Layers, []string{"z0", "skip"}) || sc.Pooling != PoolMean) {
					t.Errorf("learned sidecar %+v", sc)
				}
				comp, err := r.NewComputer()
				if err != nil {
					t.Fatal(err)
				}
				for i, e := range set.Entries {
					ce := corp.Entries[i]
					if e.Key != ce.Key || strings.ContainsAny(e.Key, " \t") {
						t.Fatalf("entry %d: key %q, corpus key %q", i, e.Key, ce.Key)
					}
					got, err := set.Load(i)
					if err != nil {
						t.Fatal(err)
					}
					x, _, err := r.Settings.Load(ce.Path)
					if err != nil {
						t.Fatal(err)
					}
					want, frames, err := comp.Compute(nil, x)
					if err != nil {
						t.Fatal(err)
					}
					if got.Rows != frames || got.Rows != r.Framing.NumFrames(int(ce.Info.Frames)) || (frames > 0 && got.Cols != r.Dim) {
						t.Fatalf("%s %s %s: %d×%d, want %d frames of %d", name, format, e.Key, got.Rows, got.Cols, frames, r.Dim)
					}
					if !slices.Equal(got.Data, want) {
						t.Fatalf("%s %s %s: values differ from a direct computation", name, format, e.Key)
					}
				}
			}
		}
	}
}

// TestLearnedPreparesAudioLikeTraining checks that learned features see
// the model's preprocessing (here: DC removed, peak normalized to 0.95)
// except trimming, which would move the frames.
func TestLearnedPreparesAudioLikeTraining(t *testing.T) {
	r := tinyRecipe(t, "skip", 0, true)
	if r.Settings.TrimDB != 0 || r.Settings.Normalize != audio.NormalizePeak || !r.Settings.RemoveDC {
		t.Fatalf("settings %+v: want the model's, without trimming", r.Settings)
	}
	corp := makeCorpus(t)
	e := corp.Entries[0]
	clip, err := audio.ReadFile(e.Path, audio.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	x, _, err := r.Settings.Load(e.Path)
	if err != nil {
		t.Fatal(err)
	}
	var peak float64
	for _, v := range x {
		peak = math.Max(peak, math.Abs(float64(v)))
	}
	if len(x) != len(clip.Samples) || math.Abs(peak-0.95) > 1e-6 {
		t.Errorf("%d samples with peak %g; the file has %d, the model wants peak 0.95", len(x), peak, len(clip.Samples))
	}
}

// TestInterruptLeavesNothing cancels a run after its first utterance and
// checks that nothing is left: no folder if the run created it, and an
// earlier complete run's output untouched otherwise.
func TestInterruptLeavesNothing(t *testing.T) {
	corp := makeCorpus(t)
	r := fbankRecipe(t)
	for _, format := range []string{featio.FormatArk, featio.FormatNpy, featio.FormatHTK} {
		dir := filepath.Join(t.TempDir(), "out")
		interrupt := func() (Progress, error) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			return WriteCorpus(ctx, r, corp.Entries, dir, CorpusOptions{Format: format, RunOptions: RunOptions{
				Threads:  2,
				Progress: func(p Progress) { cancel() },
			}})
		}
		prog, err := interrupt()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: error %v, want context.Canceled", format, err)
		}
		if prog.Done != 1 {
			t.Errorf("%s: %d utterances done after the interrupt, want 1", format, prog.Done)
		}
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: the interrupted run left %s behind (%v)", format, dir, err)
		}
		// Over a complete earlier run: it survives as it was.
		if _, err := WriteCorpus(context.Background(), r, corp.Entries, dir, CorpusOptions{Format: format}); err != nil {
			t.Fatal(err)
		}
		before := readFolder(t, dir)
		if _, err := interrupt(); !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: error %v, want context.Canceled", format, err)
		}
		after := readFolder(t, dir)
		if len(after) != len(before) {
			t.Errorf("%s: %d files before the interrupted run, %d after", format, len(before), len(after))
		}
		for p, b := range before {
			if !bytes.Equal(after[p], b) {
				t.Errorf("%s: %s changed", format, p)
			}
		}
	}
}

// TestBadFileLeavesNothing puts a broken WAV in the corpus: the run fails,
// names the file, and leaves nothing.
func TestBadFileLeavesNothing(t *testing.T) {
	corp := makeCorpus(t)
	bad := corp.Entries[len(corp.Entries)/2]
	b, err := os.ReadFile(bad.Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad.Path, b[:len(b)-101], 0o644); err != nil { // truncated data
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	_, err = WriteCorpus(context.Background(), fbankRecipe(t), corp.Entries, dir, CorpusOptions{Format: featio.FormatNpy})
	if err == nil || !strings.Contains(err.Error(), bad.Path) {
		t.Fatalf("error %v, want one naming %s", err, bad.Path)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the failed run left %s behind", dir)
	}
	// A rate the recipe does not take is refused before any work.
	r, err := Kaldi(kaldifeat.DefaultFbank(16000), KaldiSettings(16000, false))
	if err != nil {
		t.Fatal(err)
	}
	_, err = WriteCorpus(context.Background(), r, corp.Entries[:1], dir, CorpusOptions{Format: featio.FormatNpy})
	if err == nil || !strings.Contains(err.Error(), "8000 Hz") {
		t.Errorf("error %v, want one about the 8000 Hz file", err)
	}
}

func TestShardSidecar(t *testing.T) {
	corp := makeCorpus(t)
	r := fbankRecipe(t)
	var keys []string
	for i := range 3 {
		sh := Shard{i, 3}
		dir := filepath.Join(t.TempDir(), "out")
		if _, err := WriteCorpus(context.Background(), r, sh.Select(corp.Entries), dir, CorpusOptions{Format: featio.FormatArk, Shard: sh}); err != nil {
			t.Fatal(err)
		}
		set, err := featio.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if set.Sidecar.Shard != sh.String() {
			t.Errorf("shard %v recorded as %q", sh, set.Sidecar.Shard)
		}
		for _, e := range set.Entries {
			keys = append(keys, e.Key)
		}
	}
	slices.Sort(keys)
	var want []string
	for _, e := range corp.Entries {
		want = append(want, e.Key)
	}
	if !slices.Equal(keys, want) {
		t.Errorf("the shards hold %v, the corpus %v", keys, want)
	}
}

func TestProgressLeft(t *testing.T) {
	for _, c := range []struct {
		p    Progress
		want time.Duration
	}{
		{Progress{Done: 0, Total: 4, Elapsed: time.Second}, 0},
		{Progress{Done: 1, Total: 4, Elapsed: time.Second}, 3 * time.Second},
		{Progress{Done: 3, Total: 4, Elapsed: 6 * time.Second}, 2 * time.Second},
		{Progress{Done: 4, Total: 4, Elapsed: time.Second}, 0},
	} {
		if got := c.p.Left(); got != c.want {
			t.Errorf("%+v: Left() = %v, want %v", c.p, got, c.want)
		}
	}
}
