package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/kernels"
	"github.com/nextsample/nextsample/train"
	"github.com/nextsample/nextsample/train/mpi"
)

// defaultManifest is the bundled corpus that `nextsample train` uses when
// --data is not given.
const defaultManifest = "samples/fsdd/manifest.csv"

// defaultOut is the run directory when --out is not given.
const defaultOut = "runs/latest"

func trainCommand() *cli.Command {
	sgd, adam := train.DefaultOptions(train.SGD), train.DefaultOptions(train.Adam)
	def := train.DefaultOptions("")
	perOpt := func(s, a any) string { return fmt.Sprintf("%v (adam), %v (sgd)", a, s) }
	return &cli.Command{
		Name:      "train",
		Usage:     "train a model on a folder or manifest of WAV files",
		ArgsUsage: " ",
		Description: "Trains the network to predict the next μ-law sample of speech. Each step takes\n" +
			"--batch files of the training split in a seeded order, reshuffled every epoch,\n" +
			"and from each a random window of at most --crop scored samples with the\n" +
			"receptive field of real audio in front of it as context (whole files when\n" +
			"shorter); the loss is the mean cross-entropy over the scored samples.\n\n" +
			"Every --eval-every steps it prints the validation NLL in bits per sample beside\n" +
			"two baselines, the uniform distribution (log2 Q = 8 bits) and the unigram\n" +
			"entropy of the training classes. In --out it keeps last.safetensors (to\n" +
			"resume), best.safetensors (lowest validation bits), step-NNNNNN.safetensors\n" +
			"every --save-every steps, train_log.csv and loss.png. Ctrl-C finishes the step,\n" +
			"saves and exits with status 130; --resume continues up to --steps, bit for bit.\n\n" +
			optimizerDefaults(sgd, adam) + "\n\n" +
			"Examples:\n" +
			"  nextsample train                                  # bundled samples, a few minutes\n" +
			"  nextsample train --data /data/fsdd/manifest.csv --val-split test --steps 650 --out runs/fsdd\n" +
			"  nextsample train --out runs/fsdd --resume --steps 2000",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Usage: "training corpus: a `DIR` of audio files (WAV, FLAC, SPHERE), a Kaldi data directory (with wav.scp) or a manifest.csv (default: the bundled " + defaultManifest + ", looked up from the current directory upwards and beside the executable)"},
			&cli.StringFlag{Name: "out", Usage: "run `DIR` for checkpoints, log and plot", Value: defaultOut},
			&cli.StringFlag{Name: "config", Usage: "model configuration `FILE`: the reference's config.json or just its model object (default: the built-in skip256 model)"},
			&cli.BoolFlag{Name: "resume", Usage: "continue the run in --out from its last.safetensors, up to --steps"},
			&cli.Int64Flag{Name: "steps", Usage: "total training steps of the run", Value: def.Steps},
			&cli.IntFlag{Name: "batch", Usage: "files per step", Value: def.Batch},
			&cli.IntFlag{Name: "crop", Usage: "at most this many scored samples per file and step", Value: def.Crop},
			&cli.StringFlag{Name: "optimizer", Usage: "adam or sgd (with momentum)", Value: train.DefaultOptimizer},
			&cli.Float64Flag{Name: "lr", Usage: "peak learning rate", DefaultText: perOpt(sgd.LR, adam.LR)},
			&cli.Float64Flag{Name: "momentum", Usage: "SGD momentum", Value: sgd.Momentum},
			&cli.BoolFlag{Name: "nesterov", Usage: "Nesterov momentum (SGD)"},
			&cli.Float64Flag{Name: "weight-decay", Usage: "L2 penalty added to the gradient (torch semantics)"},
			&cli.Int64Flag{Name: "warmup", Usage: "steps of linear learning-rate warm-up", DefaultText: perOpt(sgd.Warmup, adam.Warmup)},
			&cli.StringFlag{Name: "decay", Usage: "learning-rate decay after the warm-up: cosine or constant", DefaultText: perOpt(sgd.Decay, adam.Decay)},
			&cli.Float64Flag{Name: "lr-floor", Usage: "final learning rate of the cosine decay, as a fraction of --lr", DefaultText: perOpt(sgd.LRFloor, adam.LRFloor)},
			&cli.Float64Flag{Name: "clip", Usage: "clip the gradient's global L2 norm to this (0: off)", DefaultText: perOpt(sgd.Clip, adam.Clip)},
			&cli.Uint64Flag{Name: "seed", Usage: "seed of the initial weights and the data order", Value: def.Seed},
			&cli.IntFlag{Name: "threads", Usage: "worker threads (results do not depend on it)", DefaultText: "all cores"},
			&cli.StringFlag{Name: "precision", Usage: "arithmetic of the matrix products: fp32, or bf16 (mixed precision: operands rounded to bfloat16, float32 sums; needs AVX512_BF16; fixed for a run)", Value: def.Precision.String()},
			&cli.Int64Flag{Name: "eval-every", Usage: "validate every `N` steps (0: never)", Value: def.EvalEvery},
			&cli.Int64Flag{Name: "save-every", Usage: "keep step-NNNNNN.safetensors every `N` steps (0: never)", Value: def.SaveEvery},
			&cli.StringFlag{Name: "val-split", Usage: "manifest split to validate on", DefaultText: "the first of valid, validation, dev, test present"},
			&cli.Int64Flag{Name: "val-samples", Usage: "validate on at most about `N` samples of the validation set: whole files, chosen by a hash of their keys (0: all of it)"},
			&cli.StringFlag{Name: "val-data", Usage: "validate on this separate corpus: a `DIR` (a Kaldi data directory, or of audio files) or a manifest.csv (with --val-split: that split of it)", DefaultText: "a split of --data"},
			cacheFlag(),
			&cli.StringFlag{Name: "condition", Usage: "condition the model on each file's `speaker` (WaveNet global conditioning; the table is the sorted speakers of the training files)"},
			&cli.IntFlag{Name: "gc-channels", Usage: "embedding channels G of the speaker table (with --condition)", Value: 32},
			&cli.IntFlag{Name: "chunk", Usage: "largest number of scored samples one thread computes at once (fixed for a run)", Value: def.Chunk, Hidden: true},
			&cli.IntFlag{Name: "sample-rate", Usage: "model sample rate in `Hz`", DefaultText: "the corpus's rate"},
			&cli.BoolFlag{Name: "resample", Usage: "resample files at other rates instead of refusing them"},
			&cli.IntFlag{Name: "channel", Usage: "channel to use, from 1 (0: average all channels)"},
			&cli.StringFlag{Name: "normalize", Usage: "level normalization per file: peak, rms or none", Value: audio.DefaultSettings().Normalize},
			&cli.Float64Flag{Name: "trim-db", Usage: "trim leading and trailing 10 ms frames quieter than this many `dBFS` (0: off)"},
		},
		Action: runTrain,
	}
}

// optimizerDefaults describes the per-optimizer defaults for the help text.
func optimizerDefaults(sgd, adam train.Options) string {
	describe := func(o train.Options) string {
		d := fmt.Sprintf("lr %g", o.LR)
		if o.Optimizer == train.SGD {
			d += fmt.Sprintf(", momentum %g", o.Momentum)
		}
		if o.Warmup > 0 {
			d += fmt.Sprintf(", %d warm-up steps", o.Warmup)
		}
		if o.Decay == train.DecayCosine {
			d += fmt.Sprintf(", cosine decay to %g%%", 100*o.LRFloor)
		} else {
			d += ", constant"
		}
		if o.Clip > 0 {
			d += fmt.Sprintf(", gradient norm clipped to %g", o.Clip)
		} else {
			d += ", no clipping"
		}
		return d
	}
	return "Defaults depend on --optimizer. adam (the default): " + describe(adam) +
		"; with --batch 8 --crop 4000 this is the reference's FSDD recipe.\nsgd: " + describe(sgd) + "."
}

// optionsFromFlags returns base with every flag the user set applied.
func optionsFromFlags(c *cli.Context, base train.Options) (train.Options, error) {
	o := base
	if c.IsSet("precision") {
		p, err := causalconv.ParsePrecision(c.String("precision"))
		if err != nil {
			return o, err
		}
		o.Precision = p
	}
	if c.IsSet("steps") {
		o.Steps = c.Int64("steps")
	}
	if c.IsSet("batch") {
		o.Batch = c.Int("batch")
	}
	if c.IsSet("crop") {
		o.Crop = c.Int("crop")
	}
	if c.IsSet("optimizer") {
		o.Optimizer = c.String("optimizer")
	}
	if c.IsSet("lr") {
		o.LR = c.Float64("lr")
	}
	if c.IsSet("momentum") {
		o.Momentum = c.Float64("momentum")
	}
	if c.IsSet("nesterov") {
		o.Nesterov = c.Bool("nesterov")
	}
	if c.IsSet("weight-decay") {
		o.WeightDecay = c.Float64("weight-decay")
	}
	if c.IsSet("warmup") {
		o.Warmup = c.Int64("warmup")
	}
	if c.IsSet("decay") {
		o.Decay = c.String("decay")
	}
	if c.IsSet("lr-floor") {
		o.LRFloor = c.Float64("lr-floor")
	}
	if c.IsSet("clip") {
		o.Clip = c.Float64("clip")
	}
	if c.IsSet("seed") {
		o.Seed = c.Uint64("seed")
	}
	if c.IsSet("eval-every") {
		o.EvalEvery = c.Int64("eval-every")
	}
	if c.IsSet("save-every") {
		o.SaveEvery = c.Int64("save-every")
	}
	if c.IsSet("chunk") {
		o.Chunk = c.Int("chunk")
	}
	o.Threads = c.Int("threads")
	if o.Threads <= 0 {
		o.Threads = runtime.NumCPU()
	}
	return o, nil
}

// findDefaultData looks for the bundled manifest in the current directory
// and its parents (so the command works from anywhere inside a checkout),
// then beside the executable and its parents (a binary built into or next
// to the checkout).
func findDefaultData() (string, error) {
	if p, ok := findRepoFile(defaultManifest); ok {
		return p, nil
	}
	return "", fmt.Errorf("no --data given, and the bundled corpus %s is not in the current directory, its parents or beside the executable; run from the nextsample repository or pass --data DIR|manifest.csv", defaultManifest)
}

func mustGetwd() string {
	wd, _ := os.Getwd()
	return wd
}

// loadModelConfig returns the architecture of --config, or the default.
func loadModelConfig(path string) (causalconv.Config, error) {
	if path == "" {
		return causalconv.DefaultConfig(), nil
	}
	return modelConfig(path, "")
}

// metaData is the metadata key where a run records its corpus, so that
// --resume without --data finds it again.
const metaData = "train_data"

type dataSource struct {
	Data     string `json:"data"`
	ValSplit string `json:"val_split"`
	ValData  string `json:"val_data,omitempty"` // a separate validation corpus
	// ValSamples bounds the validation set: files taken in the order of
	// a hash of their keys until they hold this many samples (0: all).
	ValSamples int64 `json:"val_samples,omitempty"`
}

// boundValidation keeps the files of valSet that a validation of at most
// limit samples (by their headers; files of unknown length count as one
// second) covers, chosen by the FNV-1a hash of their keys, so that the
// choice depends on the keys alone and adding files moves few others. It
// returns the kept files in corpus order and how many samples they hold.
func boundValidation(valSet []corpus.Entry, limit int64, rate int) []corpus.Entry {
	if limit <= 0 {
		return valSet
	}
	type item struct {
		h uint64
		i int
	}
	order := make([]item, len(valSet))
	for i, e := range valSet {
		h := fnv.New64a()
		h.Write([]byte(e.Key))
		order[i] = item{h.Sum64(), i}
	}
	slices.SortFunc(order, func(a, b item) int { return cmp.Compare(a.h, b.h) })
	var total int64
	keep := make([]bool, len(valSet))
	for _, it := range order {
		if total >= limit {
			break
		}
		n := int64(valSet[it.i].Info.Frames)
		if r := valSet[it.i].Info.SampleRate; r > 0 && rate > 0 && r != rate {
			n = n * int64(rate) / int64(r)
		}
		if n <= 0 {
			n = int64(rate)
		}
		total += n
		keep[it.i] = true
	}
	var out []corpus.Entry
	for i, e := range valSet {
		if keep[i] {
			out = append(out, e)
		}
	}
	return out
}

// openSplits opens the run's corpus and returns its training and
// validation entries (see chooseSplits). With a separate validation corpus
// (--val-data) the training set is the corpus's train split (all of a
// Kaldi data directory) and validation is the other corpus (its
// --val-split, if given, else all of it).
func openSplits(src dataSource) (corp *corpus.Corpus, trainSet, valSet []corpus.Entry, valName string, err error) {
	corp, err = corpus.Open(src.Data)
	if err != nil {
		return nil, nil, nil, "", err
	}
	if src.ValData == "" {
		trainSet, valSet, valName, err = chooseSplits(corp, src.ValSplit)
		return corp, trainSet, valSet, valName, err
	}
	trainSet = corp.Split(corpus.Train)
	if corp.Kaldi {
		trainSet = corp.Entries
	}
	if len(trainSet) == 0 {
		return nil, nil, nil, "", fmt.Errorf("%s: no files in split %q (splits: %s)", corp.Source, corpus.Train, splitList(corp))
	}
	vc, err := corpus.Open(src.ValData)
	if err != nil {
		return nil, nil, nil, "", fmt.Errorf("--val-data: %w", err)
	}
	valSet, valName = vc.Entries, vc.Source
	if src.ValSplit != "" {
		if valSet = vc.Split(src.ValSplit); len(valSet) == 0 {
			return nil, nil, nil, "", fmt.Errorf("%s: --val-split %q has no files (splits: %s)", vc.Source, src.ValSplit, splitList(vc))
		}
		valName += ", split " + src.ValSplit
	}
	return corp, trainSet, valSet, valName, nil
}

// settingsFromFlags returns the preprocessing of a new run: the defaults,
// the corpus's sample rate, and the audio flags.
func settingsFromFlags(c *cli.Context, corpusRate int, q int) audio.Settings {
	s := audio.DefaultSettings()
	s.SampleRate = corpusRate
	if c.IsSet("sample-rate") {
		s.SampleRate = c.Int("sample-rate")
	}
	s.Resample = c.Bool("resample")
	s.Channel = c.Int("channel")
	s.Normalize = c.String("normalize")
	s.TrimDB = c.Float64("trim-db")
	s.Quantization = q
	return s
}

// checkAudioFlags refuses audio flags that contradict a resumed run's
// stored preprocessing.
func checkAudioFlags(c *cli.Context, s audio.Settings) error {
	want := s
	if c.IsSet("sample-rate") {
		want.SampleRate = c.Int("sample-rate")
	}
	if c.IsSet("resample") {
		want.Resample = c.Bool("resample")
	}
	if c.IsSet("channel") {
		want.Channel = c.Int("channel")
	}
	if c.IsSet("normalize") {
		want.Normalize = c.String("normalize")
	}
	if c.IsSet("trim-db") {
		want.TrimDB = c.Float64("trim-db")
	}
	if want != s {
		a, _ := json.Marshal(s)
		return fmt.Errorf("the run was trained with audio settings %s; the audio flags given differ, and a run cannot change its preprocessing", a)
	}
	return nil
}

// commonRate returns the most frequent sample rate of entries (the lowest
// on a tie), the default model rate.
func commonRate(entries []corpus.Entry) int {
	n := map[int]int{}
	best := 0
	for _, e := range entries {
		r := e.Info.SampleRate
		if r == 0 {
			continue // a pipe entry of a Kaldi directory: known only once decoded
		}
		n[r]++
		if best == 0 || n[r] > n[best] || n[r] == n[best] && r < best {
			best = r
		}
	}
	return best
}

// valSplitNames are the split names taken for validation, in order of
// preference, when --val-split is not given.
var valSplitNames = []string{"valid", "validation", "dev", "test"}

// chooseSplits returns the training and validation entries of a corpus:
// split "train", and the split named by valSplit (or the first of
// valSplitNames present). A corpus with no validation split gives up the
// training files that corpus.AssignSplit puts in its validation share.
//
// A Kaldi data directory is one split (data/train, data/dev are separate
// directories): all of it is training data, less the validation share
// held out by key hash.
func chooseSplits(corp *corpus.Corpus, valSplit string) (trainSet, valSet []corpus.Entry, valName string, err error) {
	trainSet = corp.Split(corpus.Train)
	if corp.Kaldi {
		if valSplit != "" {
			return nil, nil, "", fmt.Errorf("%s: a Kaldi data directory is a single split, so --val-split does not apply to it", corp.Source)
		}
		trainSet = corp.Entries
	}
	if len(trainSet) == 0 {
		return nil, nil, "", fmt.Errorf("%s: no files in split %q (splits: %s)", corp.Source, corpus.Train, splitList(corp))
	}
	if valSplit != "" {
		valSet = corp.Split(valSplit)
		if len(valSet) == 0 {
			return nil, nil, "", fmt.Errorf("%s: --val-split %q has no files (splits: %s)", corp.Source, valSplit, splitList(corp))
		}
		return trainSet, valSet, valSplit, nil
	}
	for _, name := range valSplitNames {
		if v := corp.Split(name); len(v) > 0 {
			return trainSet, v, name, nil
		}
	}
	var kept []corpus.Entry
	for _, e := range trainSet {
		if corpus.AssignSplit(e.Key) == corpus.Validation {
			valSet = append(valSet, e)
		} else {
			kept = append(kept, e)
		}
	}
	if len(kept) == 0 || len(valSet) == 0 {
		return trainSet, nil, "", nil
	}
	return kept, valSet, "held out from train by key hash", nil
}

func splitList(corp *corpus.Corpus) string {
	var parts []string
	for name, n := range corp.Splits() {
		parts = append(parts, fmt.Sprintf("%s %d", name, n))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// dataKey identifies a training set by its files' keys and lengths.
func dataKey(entries []corpus.Entry, split train.Dataset) string {
	h := fnv.New64a()
	for i, e := range entries {
		fmt.Fprintf(h, "%s\x00%d\x00", e.Key, split.Len(i))
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// audioLength formats n samples at rate Hz as hours, minutes or seconds.
func audioLength(n int64, rate int) string {
	sec := float64(n) / float64(rate)
	switch {
	case sec >= 3600:
		return fmt.Sprintf("%.2f h", sec/3600)
	case sec >= 60:
		return fmt.Sprintf("%.1f min", sec/60)
	}
	return fmt.Sprintf("%.1f s", sec)
}

// openClassCache returns the class cache of a split's entries, building
// it with a progress line on stderr (redrawn on a terminal, every 10 s
// otherwise) when it does not exist yet.
// Unless announce is set, a cache that was already built is used silently.
func openClassCache(ctx context.Context, stderr io.Writer, what string, entries []corpus.Entry, s audio.Settings, dir string, threads int, announce bool) (*corpus.ClassCache, error) {
	t0 := time.Now()
	tty := isTerminal(stderr)
	var last time.Time
	var planned float64
	for _, e := range entries {
		planned += e.Seconds()
	}
	progress := func(done, total int, samples int64) {
		final := done == total
		if !tty && !final && time.Since(last) < 10*time.Second {
			return
		}
		last = time.Now()
		line := fmt.Sprintf("  preparing %s classes: %d/%d files, %s", what, done, total, audioLength(samples, s.SampleRate))
		if planned > 0 {
			line += fmt.Sprintf(" of ≈%s", audioLength(int64(planned*float64(s.SampleRate)), s.SampleRate))
		}
		line += fmt.Sprintf(", %.0fs", time.Since(t0).Seconds())
		if tty {
			fmt.Fprintf(stderr, "\r\033[K%s", line)
			if final {
				fmt.Fprintln(stderr)
			}
		} else {
			fmt.Fprintln(stderr, line)
		}
	}
	cc, built, err := corpus.OpenClassCache(ctx, entries, s, corpus.CacheOptions{Dir: dir, Threads: threads, Progress: progress})
	if err != nil {
		return nil, err
	}
	verb := "reused"
	if !built && !announce {
		return cc, nil
	}
	if built {
		verb = fmt.Sprintf("built in %.1fs", time.Since(t0).Seconds())
	}
	fmt.Fprintf(stderr, "  %s classes: %s (%s, %s)\n", what, cc.Path(), byteSize(cc.Bytes()), verb)
	return cc, nil
}

// cacheFlag is the --cache-dir flag of the commands that read a corpus's
// classes through a class cache.
func cacheFlag() cli.Flag {
	return &cli.StringFlag{Name: "cache-dir", Usage: "`DIR` of the prepared μ-law classes (1 byte per sample, built once per corpus and audio settings, reused by later runs)",
		EnvVars: []string{"NEXTSAMPLE_CACHE_DIR"}, DefaultText: "$XDG_CACHE_HOME/nextsample or ~/.cache/nextsample"}
}

// cacheDirFlag returns --cache-dir, or the default cache directory.
func cacheDirFlag(c *cli.Context) (string, error) {
	if d := c.String("cache-dir"); d != "" {
		return d, nil
	}
	d, err := corpus.DefaultCacheDir()
	if err != nil {
		return "", fmt.Errorf("%w (--cache-dir)", err)
	}
	return d, nil
}

// byteSize formats n bytes for people.
func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func runTrain(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("train: unexpected argument %q (the corpus is given with --data)", c.Args().First())
	}
	comm, err := mpi.Init()
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if comm.Size() == 1 {
		err = trainWith(c, nil)
		return errors.Join(err, comm.Finalize())
	}
	// One process of an MPI job: rank 0 prints and writes; an error on
	// any rank ends the whole job at once (the others would wait in the
	// next sum), after printing it with the rank.
	err = trainWith(c, comm)
	if err != nil && !errors.Is(err, errInterrupted) {
		fmt.Fprintf(c.App.ErrWriter, "nextsample: rank %d of %d: %v\n", comm.Rank(), comm.Size(), err)
		comm.Abort(1)
	}
	return errors.Join(err, comm.Finalize())
}

// trainWith runs the train command, as one process of an MPI job when
// comm is set.
func trainWith(c *cli.Context, comm *mpi.Comm) error {
	ctx := c.Context
	stdout, stderr := c.App.Writer, c.App.ErrWriter
	if comm != nil && comm.Rank() != 0 {
		stdout, stderr = io.Discard, io.Discard
	}
	out := c.String("out")

	var (
		model    *causalconv.Model
		opts     train.Options
		settings audio.Settings
		ck       *train.Checkpoint
		src      dataSource
	)
	if c.Bool("resume") {
		var err error
		ck, err = train.ReadCheckpoint(filepath.Join(out, train.LastFile))
		if errors.Is(err, train.ErrNoCheckpoint) {
			return fmt.Errorf("train --resume: %s holds no %s to resume from", out, train.LastFile)
		}
		if err != nil {
			return fmt.Errorf("train --resume: %w", err)
		}
		model = ck.Model
		if c.IsSet("config") {
			cfg, err := loadModelConfig(c.String("config"))
			if err != nil {
				return fmt.Errorf("train: %w", err)
			}
			if !train.SameConfig(cfg, model.Config) {
				return fmt.Errorf("train --resume: %s describes a different model than the run in %s", c.String("config"), out)
			}
		}
		if settings, err = train.AudioSettings(ck.Metadata, model); err != nil {
			return fmt.Errorf("train --resume: %s: %w", ck.Path, err)
		}
		if err := checkAudioFlags(c, settings); err != nil {
			return fmt.Errorf("train --resume: %w", err)
		}
		_ = json.Unmarshal([]byte(ck.Metadata[metaData]), &src)
		if opts, err = optionsFromFlags(c, ck.Options); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	} else {
		cfg, err := loadModelConfig(c.String("config"))
		if err != nil {
			return fmt.Errorf("train: %w", err)
		}
		if opts, err = optionsFromFlags(c, train.DefaultOptions(c.String("optimizer"))); err != nil {
			return fmt.Errorf("train: %w", err)
		}
		if err := opts.Validate(); err != nil {
			return fmt.Errorf("train: %w", err)
		}
		if model, err = causalconv.NewRandom(cfg, opts.Seed); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	}
	// Before the corpus is loaded: a precision this CPU cannot run.
	if err := causalconv.CheckPrecision(opts.Precision, kernels.Best()); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if c.IsSet("data") || src.Data == "" {
		src.Data = c.String("data")
		if src.Data == "" {
			p, err := findDefaultData()
			if err != nil {
				return fmt.Errorf("train: %w", err)
			}
			src.Data = p
		}
	}
	if c.IsSet("val-split") || ck == nil {
		src.ValSplit = c.String("val-split")
	}
	if c.IsSet("val-data") || ck == nil {
		src.ValData = c.String("val-data")
		if abs, err := filepath.Abs(src.ValData); err == nil && src.ValData != "" {
			src.ValData = abs
		}
	}
	if c.IsSet("val-samples") || ck == nil {
		if src.ValSamples = c.Int64("val-samples"); src.ValSamples < 0 {
			return fmt.Errorf("train: --val-samples %d: want 0 (all) or a positive count", src.ValSamples)
		}
	}
	corp, trainSet, valSet, valName, err := openSplits(src)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if ck == nil {
		settings = settingsFromFlags(c, commonRate(trainSet), model.Config.QuantizationChannels)
		if err := settings.Validate(); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	}
	if src.ValSamples > 0 {
		if kept := boundValidation(valSet, src.ValSamples, settings.SampleRate); len(kept) < len(valSet) {
			valName = fmt.Sprintf("%s; %d of its %d files, chosen by key hash for --val-samples %d", valName, len(kept), len(valSet), src.ValSamples)
			valSet = kept
		}
	}
	// Speaker conditioning: the table is fixed at the start (sorted
	// speaker names of the training files) and kept by --resume.
	var speakers []string
	if ck != nil && model.Config.Speakers() > 0 {
		if speakers, err = train.ModelSpeakers(ck.Metadata, model.Config); err != nil {
			return fmt.Errorf("train --resume: %s: %w", ck.Path, err)
		}
	}
	if ck == nil {
		switch cond := c.String("condition"); cond {
		case "":
		case "speaker":
			if speakers, err = speakerTable(trainSet); err != nil {
				return fmt.Errorf("train --condition speaker: %w", err)
			}
			g := c.Int("gc-channels")
			cfg := model.Config
			cfg.GlobalCondition = &causalconv.GlobalCondition{Channels: g, Cardinality: len(speakers)}
			if model, err = causalconv.NewRandom(cfg, opts.Seed); err != nil {
				return fmt.Errorf("train --condition speaker: %w", err)
			}
		default:
			return fmt.Errorf("train: --condition %q: the only condition is \"speaker\"", cond)
		}
	}
	var trainSpk, valSpk []int
	if speakers != nil {
		var unknown []string
		if trainSpk, unknown = speakerIDs(trainSet, speakers); len(unknown) > 0 {
			return fmt.Errorf("train: the model's speaker table (%d speakers) does not hold the speakers of these training files: %s", len(speakers), strings.Join(unknown, ", "))
		}
		if valSpk, unknown = speakerIDs(valSet, speakers); len(unknown) > 0 {
			// A conditioned model scores only speakers it knows.
			var kept []corpus.Entry
			var ids []int
			for i, e := range valSet {
				if valSpk[i] >= 0 {
					kept, ids = append(kept, e), append(ids, valSpk[i])
				}
			}
			fmt.Fprintf(stderr, "note: validation leaves out %d of its %d files, of speakers not in the training set (%s)\n", len(valSet)-len(kept), len(valSet), firstFew(unknown, 3))
			valSet, valSpk = kept, ids
		}
	}
	rf := model.Config.ReceptiveField()
	fmt.Fprintf(stderr, "model: %d layers, receptive field %d samples (%.1f ms at %d Hz), %d parameters, %.2f MFLOP per trained sample\n",
		model.Config.Layers(), rf, 1000*float64(rf)/float64(settings.SampleRate), settings.SampleRate, model.NumParams(), float64(model.Config.FLOPs().Train())/1e6)
	fmt.Fprintf(stderr, "data: %s (%d files)\n", corp.Source, len(corp.Entries))

	t0 := time.Now()
	cacheDir, err := cacheDirFlag(c)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	var data train.Data
	if comm != nil && comm.Rank() != 0 {
		// Rank 0 builds the caches first; where the cache directory is
		// shared the others then find them, else each host builds its own.
		if err := comm.Barrier(); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	}
	trainCache, err := openClassCache(ctx, stderr, "train", trainSet, settings, cacheDir, opts.Threads, true)
	if err != nil {
		return interrupted(ctx, fmt.Errorf("train: %w", err))
	}
	defer trainCache.Close()
	data.Train = trainCache
	if speakers != nil {
		data.Train = train.WithSpeakers(trainCache, trainSpk)
	}
	var valCache *corpus.ClassCache
	if len(valSet) > 0 {
		if valCache, err = openClassCache(ctx, stderr, "validation", valSet, settings, cacheDir, opts.Threads, true); err != nil {
			return interrupted(ctx, fmt.Errorf("train: %w", err))
		}
		defer valCache.Close()
		data.Valid = valCache
		if speakers != nil {
			data.Valid = train.WithSpeakers(valCache, valSpk)
		}
	}
	if comm != nil && comm.Rank() == 0 {
		if err := comm.Barrier(); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	}
	data.Key = dataKey(trainSet, trainCache)
	length := func(n int64) string { return audioLength(n, settings.SampleRate) }
	fmt.Fprintf(stderr, "  train: %d files, %s, %d samples", trainCache.Files(), length(trainCache.Samples()), trainCache.Samples())
	if n := trainCache.Resampled(); n > 0 {
		fmt.Fprintf(stderr, " (%d resampled)", n)
	}
	fmt.Fprintln(stderr)
	if valCache != nil {
		fmt.Fprintf(stderr, "  validation (%s): %d files, %s, %d samples\n", valName, valCache.Files(), length(valCache.Samples()), valCache.Samples())
	} else {
		fmt.Fprintf(stderr, "  validation: none (the corpus has no validation split)\n")
	}
	a, _ := json.Marshal(settings)
	fmt.Fprintf(stderr, "  audio: %s (ready in %.1fs)\n", a, time.Since(t0).Seconds())

	audioMeta, err := train.AudioMeta(settings)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if abs, err := filepath.Abs(src.Data); err == nil {
		src.Data = abs
	}
	srcMeta, _ := json.Marshal(src)
	meta := map[string]string{train.MetaAudio: audioMeta, metaData: string(srcMeta)}
	if speakers != nil {
		b, _ := json.Marshal(speakers)
		meta[train.MetaSpeakers] = string(b)
		fmt.Fprintf(stderr, "conditioned on %d speakers (%s), %d channels\n", len(speakers), firstFew(speakers, 5), model.Config.GlobalCondition.Channels)
	}
	status := newStatusLine(stderr, 100*time.Millisecond, 0)
	setup := train.Setup{
		Out:      out,
		Meta:     meta,
		Log:      status,
		Progress: trainProgress(status),
	}
	if comm != nil {
		setup.Comm = comm
		fmt.Fprintf(stderr, "processes: %d (MPI), each %d threads and %d of the %d files of a batch\n", comm.Size(), threadsOrCPUs(opts.Threads), opts.Batch/max(1, comm.Size()), opts.Batch)
	}
	var run *train.Run
	if ck != nil {
		run, err = train.Resume(ck, data, opts, setup)
	} else {
		run, err = train.New(model, data, opts, setup)
	}
	if err != nil {
		return commandError("train", err)
	}
	defer run.Close()
	fmt.Fprintf(stderr, "optimizer: %s, lr %g", opts.Optimizer, opts.LR)
	if opts.Optimizer == train.SGD {
		fmt.Fprintf(stderr, ", momentum %g", opts.Momentum)
		if opts.Nesterov {
			fmt.Fprint(stderr, " (Nesterov)")
		}
	}
	fmt.Fprintf(stderr, ", warm-up %d, decay %s", opts.Warmup, opts.Decay)
	if opts.Decay == train.DecayCosine {
		fmt.Fprintf(stderr, " to %g×", opts.LRFloor)
	}
	if opts.Clip > 0 {
		fmt.Fprintf(stderr, ", clip %g", opts.Clip)
	}
	if opts.WeightDecay > 0 {
		fmt.Fprintf(stderr, ", weight decay %g", opts.WeightDecay)
	}
	fmt.Fprintf(stderr, "; %d steps of %d files × ≤%d samples; %s; %d threads; run in %s\n", opts.Steps, opts.Batch, opts.Crop, opts.Precision, opts.Threads, out)
	m := run.Memory()
	fmt.Fprintf(stderr, "memory: %s in buffers: model %s, optimizer and gradient %s, gradient slots %s, workspaces %s, read-ahead %s, validation %s, file index %s\n",
		byteSize(m.Total()), byteSize(m.Model), byteSize(m.Optimizer), byteSize(m.Gradients), byteSize(m.Workspaces), byteSize(m.Batches), byteSize(m.Validation), byteSize(m.Index))

	err = run.Train(ctx)
	// Stopped by a signal to this process, or (MPI) to another rank.
	if err != nil && (ctx.Err() != nil || errors.Is(err, context.Canceled)) {
		fmt.Fprintf(stderr, "train: %v\n", err)
		return fmt.Errorf("train: %w", errInterrupted)
	}
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	base := run.Baselines()
	if bits, step, ok := run.BestVal(); ok {
		verdict := "below"
		if bits >= base.Unigram {
			verdict = "NOT below"
		}
		fmt.Fprintf(stdout, "best validation: %.4f bits/sample at step %d, %.2f bits %s the unigram baseline (%.3f; uniform %.3f)\n",
			bits, step, math.Abs(base.Unigram-bits), verdict, base.Unigram, base.Uniform)
		fmt.Fprintf(stdout, "model: %s\n", filepath.Join(out, train.BestFile))
	} else {
		fmt.Fprintf(stdout, "model: %s\n", filepath.Join(out, train.LastFile))
	}
	return nil
}

// trainProgress returns the train.Setup.Progress that shows a run's steps
// on s: a bar redrawn at most every 100 ms on a terminal, else a line
// every few steps (50 lines a run at most, and the first and last step).
func trainProgress(s *statusLine) func(train.Status) {
	return func(st train.Status) {
		final := st.Step == st.Steps
		if s.tty {
			s.draw("["+progressBar(st.Step, st.Steps, 24)+"] "+st.String(), final)
			return
		}
		every := max(1, min(50, st.Steps/50))
		if st.Step%every == 0 || final || st.Step == 1 {
			s.draw(st.String(), final)
		}
	}
}

// interrupted marks err as a Ctrl-C stop when ctx was cancelled.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", errInterrupted, err)
	}
	return err
}

// threadsOrCPUs is the thread count a run uses for --threads n.
func threadsOrCPUs(n int) int {
	if n <= 0 {
		return runtime.NumCPU()
	}
	return n
}

// speakerTable returns the sorted distinct speakers of entries, refusing
// entries without one.
func speakerTable(entries []corpus.Entry) ([]string, error) {
	seen := map[string]bool{}
	var missing []string
	for _, e := range entries {
		if e.Speaker == "" {
			missing = append(missing, e.Name())
			continue
		}
		seen[e.Speaker] = true
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%d training files have no speaker (a manifest's speaker column, a Kaldi directory's utt2spk): %s", len(missing), firstFew(missing, 5))
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

// speakerIDs returns each entry's row in table (-1 when its speaker is not
// there) and the distinct speakers not found.
func speakerIDs(entries []corpus.Entry, table []string) ([]int, []string) {
	row := make(map[string]int, len(table))
	for i, s := range table {
		row[s] = i
	}
	ids := make([]int, len(entries))
	var unknown []string
	seen := map[string]bool{}
	for i, e := range entries {
		r, ok := row[e.Speaker]
		if !ok {
			r = -1
			name := e.Speaker
			if name == "" {
				name = "(none: " + e.Name() + ")"
			}
			if !seen[name] {
				seen[name] = true
				unknown = append(unknown, name)
			}
		}
		ids[i] = r
	}
	return ids, unknown
}

// firstFew joins the first n of names, saying how many more there are.
func firstFew(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}
