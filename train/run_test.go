package train

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/kernels"
	"github.com/nextsample/nextsample/causalconv/modelfile"
	"github.com/nextsample/nextsample/causalconv/safetensors"
)

// tinyConfig is a model small enough for unit tests: RF 9, 16 classes.
func tinyConfig() causalconv.Config {
	return causalconv.Config{
		QuantizationChannels: 16, InputEncoding: causalconv.InputOneHot, InputKernelSize: 1,
		ResidualChannels: 4, DilationChannels: 4, SkipChannels: 8, EndChannels: 8,
		KernelSize: 2, Dilations: []int{1, 2, 4, 1}, Bias: true,
	}
}

// tinyData is a few files of noisy sine waves quantized to 16 classes.
func tinyData(seed uint64) Data {
	r := rand.New(rand.NewPCG(seed, 3))
	file := func(n int) []int32 {
		s := make([]int32, n)
		f := 0.05 + 0.2*r.Float64()
		for i := range s {
			v := math.Sin(f*float64(i)) + 0.1*r.NormFloat64()
			s[i] = int32(min(15, max(0, int((v+1)*8))))
		}
		return s
	}
	var d Data
	var train Classes
	for _, n := range []int{40, 130, 75, 1, 200, 61} {
		train = append(train, file(n))
	}
	d.Train = train
	d.Valid = Classes{file(90), file(33)}
	d.Key = "tiny"
	return d
}

func tinyOptions(optimizer string) Options {
	o := DefaultOptions(optimizer)
	o.Steps, o.Batch, o.Crop, o.Chunk = 8, 3, 50, 20
	o.EvalEvery, o.SaveEvery = 2, 3
	o.Warmup = 2
	o.Threads = 2
	if optimizer == SGD {
		o.LR = 0.1
	} else {
		o.LR = 0.01
	}
	return o
}

func newTinyRun(t *testing.T, out string, o Options) *Run {
	t.Helper()
	return newTinyRunOf(t, out, o, tinyConfig(), tinyData(1))
}

func newTinyRunOf(t *testing.T, out string, o Options, cfg causalconv.Config, d Data) *Run {
	t.Helper()
	m, err := causalconv.NewRandom(cfg, o.Seed)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(m, d, o, Setup{Out: out, Meta: map[string]string{"audio": `{"sample_rate":8000}`}})
	if err != nil {
		t.Fatal(err)
	}
	r.noPlot = true
	return r
}

// tensorsOf returns every tensor of a safetensors file by name.
func tensorsOf(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, ts := range f.Tensors {
		out[ts.Name] = ts.Data
	}
	return out
}

func sameTensors(t *testing.T, a, b string) {
	t.Helper()
	ta, tb := tensorsOf(t, a), tensorsOf(t, b)
	if len(ta) != len(tb) {
		t.Fatalf("%s has %d tensors, %s has %d", a, len(ta), b, len(tb))
	}
	for name, d := range ta {
		if !bytes.Equal(d, tb[name]) {
			t.Fatalf("tensor %s differs between %s and %s", name, a, b)
		}
	}
}

// bf16Kernels is the kernel set the bf16 tests run on: the fastest, if it
// has the bf16 GEMMs, else Reference, whose float64 twins always do.
func bf16Kernels() kernels.Set {
	if k := kernels.Best(); causalconv.CheckPrecision(causalconv.PrecisionBF16, k) == nil {
		return k
	}
	return kernels.Reference()
}

func TestResumeIsBitIdentical(t *testing.T) {
	for _, tc := range []struct {
		optimizer string
		prec      causalconv.Precision
		lc        bool // locally conditioned
	}{{SGD, causalconv.PrecisionFP32, false}, {Adam, causalconv.PrecisionFP32, false}, {Adam, causalconv.PrecisionBF16, false},
		{Adam, causalconv.PrecisionFP32, true}, {Adam, causalconv.PrecisionBF16, true}} {
		optimizer := tc.optimizer
		name := optimizer + "_" + tc.prec.String()
		cfg, data := tinyConfig(), func() Data { return tinyData(1) }
		if tc.lc {
			name += "_lc"
			cfg, data = tinyLCConfig(), tinyLCData
		}
		t.Run(name, func(t *testing.T) {
			o := tinyOptions(optimizer)
			if tc.prec == causalconv.PrecisionBF16 {
				o.Precision, o.Kernels = tc.prec, bf16Kernels()
			}
			whole := t.TempDir()
			r := newTinyRunOf(t, whole, o, cfg, data())
			if err := r.Train(context.Background()); err != nil {
				t.Fatal(err)
			}
			r.Close()

			// The same run, interrupted after step 5 (as by Ctrl-C) and resumed.
			split := t.TempDir()
			r = newTinyRunOf(t, split, o, cfg, data())
			ctx, cancel := context.WithCancel(context.Background())
			r.afterStep = func(step int64) {
				if step == 5 {
					cancel()
				}
			}
			err := r.Train(ctx)
			r.Close()
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted run returned %v", err)
			}
			ck, err := ReadCheckpoint(filepath.Join(split, LastFile))
			if err != nil {
				t.Fatal(err)
			}
			if ck.Step() != 5 {
				t.Fatalf("interrupted run saved step %d, want 5", ck.Step())
			}
			if ck.Options.Precision != tc.prec {
				t.Fatalf("checkpoint stored precision %v, want %v", ck.Options.Precision, tc.prec)
			}
			o2 := ck.Options
			o2.Threads = 1 // the thread count must not matter
			o2.Kernels = o.Kernels
			r, err = Resume(ck, data(), o2, Setup{Out: split, Meta: map[string]string{"audio": `{"sample_rate":8000}`}})
			if err != nil {
				t.Fatal(err)
			}
			r.noPlot = true
			if err := r.Train(context.Background()); err != nil {
				t.Fatal(err)
			}
			r.Close()
			sameTensors(t, filepath.Join(whole, LastFile), filepath.Join(split, LastFile))
			sameTensors(t, filepath.Join(whole, StepFile(6)), filepath.Join(split, StepFile(6)))

			// The log of the resumed run has one row per step plus step 0.
			rows, err := readLog(filepath.Join(split, LogFile))
			if err != nil {
				t.Fatal(err)
			}
			wantRows, _ := readLog(filepath.Join(whole, LogFile))
			if len(rows) != int(o.Steps)+1 || len(wantRows) != len(rows) {
				t.Fatalf("logs have %d and %d rows, want %d", len(wantRows), len(rows), o.Steps+1)
			}
			for i := range rows {
				same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
				if rows[i].Step != wantRows[i].Step || !same(rows[i].TrainBits, wantRows[i].TrainBits) || !same(rows[i].ValBits, wantRows[i].ValBits) {
					t.Fatalf("log row %d: resumed %+v, whole %+v", i, rows[i], wantRows[i])
				}
			}
		})
	}
}

func TestRunLearnsAndWritesItsFiles(t *testing.T) {
	o := tinyOptions(Adam)
	o.Steps, o.EvalEvery = 30, 10
	out := t.TempDir()
	r := newTinyRun(t, out, o)
	r.noPlot = false
	var log strings.Builder
	r.setup.Log = &log
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Close()
	rows, err := readLog(filepath.Join(out, LogFile))
	if err != nil {
		t.Fatal(err)
	}
	first, last := rows[0].ValBits, rows[len(rows)-1].ValBits
	if !(last < first-0.3) || !(last < r.Baselines().Unigram) {
		t.Fatalf("validation went from %.3f to %.3f bits (unigram %.3f): not learning\n%s", first, last, r.Baselines().Unigram, log.String())
	}
	for _, name := range []string{LastFile, BestFile, LogFile, PlotFile, StepFile(3), StepFile(30)} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
	// best.safetensors is a plain model file with the caller's metadata.
	mf, err := modelfile.Load(filepath.Join(out, BestFile))
	if err != nil {
		t.Fatal(err)
	}
	if mf.Metadata["audio"] != `{"sample_rate":8000}` || mf.Metadata[modelfile.KeyBest] == "" || mf.Metadata[modelfile.KeyTrain] != "" {
		t.Fatalf("best.safetensors metadata: %v", mf.Metadata)
	}
	if _, err := ReadCheckpoint(filepath.Join(out, BestFile)); err == nil {
		t.Fatal("best.safetensors accepted as a resumable checkpoint")
	}
	for _, want := range []string{"baselines: uniform 4.000", "validation", "(best)"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
	// A second run into the same directory is refused.
	m, _ := causalconv.NewRandom(tinyConfig(), 1)
	if _, err := New(m, tinyData(1), o, Setup{Out: out}); err == nil {
		t.Fatal("New overwrote an existing run")
	}
}

func TestResumeRefusesIncompatibleRuns(t *testing.T) {
	o := tinyOptions(SGD)
	o.Steps = 2
	out := t.TempDir()
	r := newTinyRun(t, out, o)
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Close()
	ck, err := ReadCheckpoint(filepath.Join(out, LastFile))
	if err != nil {
		t.Fatal(err)
	}
	other := tinyData(2)
	other.Train = other.Train.(Classes)[1:]
	adam := ck.Options
	adam.Optimizer = Adam
	seed := ck.Options
	seed.Seed = 99
	prec := ck.Options
	prec.Precision = causalconv.PrecisionBF16
	for name, c := range map[string]struct {
		o    Options
		d    Data
		want string
	}{
		"optimizer": {adam, tinyData(1), "sgd"},
		"seed":      {seed, tinyData(1), "seed"},
		"precision": {prec, tinyData(1), "precision fp32"},
		"data":      {ck.Options, other, "other data"},
	} {
		r, err := Resume(ck, c.d, c.o, Setup{Out: out})
		if err == nil {
			r.Close()
			t.Errorf("%s: resumed an incompatible run", name)
		} else if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", name, err, c.want)
		}
	}
	if _, err := ReadCheckpoint(filepath.Join(out, "missing.safetensors")); !errors.Is(err, ErrNoCheckpoint) {
		t.Errorf("missing checkpoint gave %v", err)
	}
}

func TestRunStopsAfterRepeatedNonFiniteSteps(t *testing.T) {
	o := tinyOptions(Adam)
	o.Steps, o.EvalEvery, o.SaveEvery = 20, 0, 0
	out := t.TempDir()
	m, _ := causalconv.NewRandom(tinyConfig(), 1)
	m.Params[len(m.Params)-1] = float32(math.NaN()) // a bias of the output layer
	var log strings.Builder
	r, err := New(m, tinyData(1), o, Setup{Out: out, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	err = r.Train(context.Background())
	if err == nil || !strings.Contains(err.Error(), "5 non-finite steps in a row") {
		t.Fatalf("Train returned %v", err)
	}
	if r.Step() != 5 || r.st.LRScale != 1.0/32 || r.st.Updates != 0 {
		t.Fatalf("after the guard: step %d, lr scale %g, %d updates", r.Step(), r.st.LRScale, r.st.Updates)
	}
	if n := strings.Count(log.String(), "not finite; step skipped"); n != 5 {
		t.Fatalf("%d skipped-step messages:\n%s", n, log.String())
	}
	if _, err := os.Stat(filepath.Join(out, LastFile)); !os.IsNotExist(err) {
		t.Fatalf("a checkpoint was written for a non-finite model: %v", err)
	}
	if err := writeModelFile(filepath.Join(out, "x.safetensors"), m, nil, nil); err == nil || !strings.Contains(err.Error(), "not finite") {
		t.Fatalf("saving a non-finite model: %v", err)
	}
}

// Setup.Progress receives a Status after every step, with the step's
// figures as the log records them (to its 6 digits); Status.String is the
// CLI's line.
func TestRunReportsProgress(t *testing.T) {
	o := tinyOptions(Adam)
	o.Steps, o.EvalEvery, o.SaveEvery = 5, 0, 0
	out := t.TempDir()
	r := newTinyRun(t, out, o)
	var got []Status
	r.setup.Progress = func(s Status) { got = append(got, s) }
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Close()
	rows, err := readLog(filepath.Join(out, LogFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || len(rows) != 5 {
		t.Fatalf("%d statuses and %d log rows for 5 steps", len(got), len(rows))
	}
	for i, s := range got {
		row := rows[i]
		if s.Step != int64(i+1) || s.Steps != 5 || s.ETA < 0 || s.ETA%time.Second != 0 ||
			math.Abs(s.TrainBits-row.TrainBits) > 1e-4 || math.Abs(s.LR-row.LR) > 1e-9 || math.Abs(s.GradNorm-row.GradNorm) > 1e-4 {
			t.Errorf("status %d: %+v, log row %+v", i, s, row)
		}
	}
	s := Status{Step: 40, Steps: 300, TrainBits: 7.41549, LR: 0.001, GradNorm: 0.31849, SamplesPerSecond: 41512.4, ETA: 72 * time.Second}
	if want := "step 40/300  train 7.415 bits  lr 0.001  |g| 0.318  41512 samples/s  eta 1m12s"; s.String() != want {
		t.Errorf("Status.String() = %q, want %q", s.String(), want)
	}
}

// The error of a batch that does not divide over the processes names the
// option, so that a CLI can name its flag.
func TestBatchOverProcessesIsAnOptionError(t *testing.T) {
	o := tinyOptions(Adam)
	o.Batch = 3
	m, _ := causalconv.NewRandom(tinyConfig(), 1)
	_, err := New(m, tinyData(1), o, Setup{Out: t.TempDir(), Comm: newLoopback(2)[0]})
	var oe *OptionError
	if !errors.As(err, &oe) || oe.Option != "Batch" || oe.Named("--batch") != "--batch 3 does not divide over 2 processes: use a multiple of 2" {
		t.Fatalf("New with batch 3 over 2 processes: %v", err)
	}
}

func TestMemoryString(t *testing.T) {
	m := Memory{Model: 1 << 20, Optimizer: 3 << 20, Gradients: 512, Workspaces: 2 << 30, Batches: 2048, Validation: 0, Index: 16}
	want := "2.00 GiB in buffers: model 1.0 MiB, optimizer and gradient 3.0 MiB, gradient slots 512 B, workspaces 2.00 GiB, read-ahead 2.0 KiB, validation 0 B, file index 16 B"
	if got := m.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
