package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/audio/featio"
	"github.com/nextsample/nextsample/audio/humanize"
	"github.com/nextsample/nextsample/audio/kaldifeat"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/features"
	"github.com/nextsample/nextsample/causalconv/kernels"
	"github.com/nextsample/nextsample/causalconv/modelfile"
)

func vocodeCommand() *cli.Command {
	return &cli.Command{
		Name:      "vocode",
		Usage:     "turn frame features back into speech with a locally conditioned model",
		ArgsUsage: " ",
		Description: "Copy-synthesis: for every utterance, a locally conditioned model (a vocoder,\n" +
			"config.json's \"local_condition\") generates the speech its frame features\n" +
			"describe, one sample at a time from silence, as long as the utterance (its\n" +
			"frames times the hop, or the audio's length with --data).\n\n" +
			"The features are given with --features (a features folder written by\n" +
			"`nextsample features`, a Kaldi .scp or .ark, or one .npy of frames × dims, keyed by\n" +
			"its file name), or computed from the audio of --data with the model's feature\n" +
			"settings: Kaldi fbank with the model's channels as mel bins and its hop and\n" +
			"window as frame shift and length (dither 0, so they are reproducible).\n\n" +
			"Utterances are vocoded together in groups of " + strconv.Itoa(causalconv.BatchStreams) + " of similar length (the rest one by\n" +
			"one), shared among --threads goroutines; the samples depend on the model, the\n" +
			"features, --seed and --temperature and the set of utterances, not on --threads.\n" +
			"Each utterance is written to OUT/<key>.wav, atomically, once every utterance\n" +
			"is complete; on an error or Ctrl-C nothing is written. It prints samples per\n" +
			"second and the real-time factor.\n\n" +
			"The model speaks at the level it was trained on (the preparation's peak or RMS\n" +
			"normalisation). With --data, each file is given back its original's level\n" +
			"(the normalisation's gain undone; --level model keeps the model's); features\n" +
			"given with --features carry no level, so those files stay at the model's.\n\n" +
			"Examples:\n" +
			"  nextsample vocode --model vocoder.safetensors --data samples/fsdd --out resynth/\n" +
			"  nextsample vocode --model vocoder.safetensors --features feats.scp --out resynth/",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "locally conditioned model `FILE` (.safetensors)", Required: true},
			&cli.StringFlag{Name: "features", Usage: "the features: a features `FOLDER`, a Kaldi .scp or .ark, or a .npy"},
			&cli.StringFlag{Name: "data", Usage: "compute the features from this corpus's audio (a `FOLDER` or manifest)"},
			&cli.StringFlag{Name: "split", Usage: "with --data: only the files of this split"},
			&cli.StringFlag{Name: "out", Usage: "output `FOLDER` for <key>.wav", Required: true},
			&cli.Float64Flag{Name: "temperature", Usage: "softmax temperature: 1 samples the model's distribution, 0 always takes the most likely sample", Value: 1},
			&cli.Uint64Flag{Name: "seed", Usage: "seed of the sampling; the same seed gives the same audio", Value: 1},
			&cli.StringFlag{Name: "speaker", Usage: "speaker-conditioned models: the speaker `NAME` to speak as"},
			&cli.BoolFlag{Name: "float", Usage: "write 32-bit float WAV instead of 16-bit PCM"},
			&cli.StringFlag{Name: "level", Usage: "with --data: original (each file at its original's level) or model (the level the model was trained on)", Value: levelOriginal},
			&cli.BoolFlag{Name: "bf16", Usage: "round the weight matrices to bfloat16 (faster; an approximation: every utterance then runs alone)"},
			&cli.IntFlag{Name: "threads", Usage: "goroutines sharing the utterances", DefaultText: "all cores"},
			sampleRateFlag(),
		},
		Action: runVocode,
	}
}

// vocodeJob is what vocode generates from: the model, its audio settings
// and the utterances with their keys.
type vocodeJob struct {
	mf       *modelfile.File
	settings audio.Settings
	keys     []string
	utts     []causalconv.Utterance
	// gains[i] is the factor utterance i's audio was normalised by
	// before its features were computed (with --data and --level
	// original; nil otherwise): its output is divided by it.
	gains []float64
}

// The values of vocode's --level.
const (
	levelOriginal = "original"
	levelModel    = "model"
)

func runVocode(c *cli.Context) error {
	ctx, stderr := c.Context, c.App.ErrWriter
	if c.NArg() > 0 {
		return fmt.Errorf("vocode: unexpected argument %q", c.Args().First())
	}
	job, err := prepareVocode(c)
	if err != nil {
		return fmt.Errorf("vocode: %w", err)
	}
	opts := causalconv.ContinueOptions{
		Temperature: c.Float64("temperature"), Seed: c.Uint64("seed"), Threads: runtime.NumCPU(),
		Kernels: kernels.Best(), BF16: c.Bool("bf16"),
	}
	if c.IsSet("threads") {
		opts.Threads = c.Int("threads")
	}
	if opts.Speakers, err = streamSpeakers(c.String("speaker"), job.mf, len(job.utts)); err != nil {
		return fmt.Errorf("vocode: %w", err)
	}
	rate := job.settings.SampleRate
	status := newStatusLine(stderr, 500*time.Millisecond, logEvery).firstAfterInterval()
	opts.Progress = vocodeProgress(status, rate)
	silence := job.settings.MuLaw().Silence()
	res, err := causalconv.Vocode(ctx, job.mf.Model.Packed(), []int32{silence}, job.utts, opts)
	status.clear()
	if err != nil {
		return interrupted(ctx, fmt.Errorf("vocode: %w; nothing written", utteranceKey(err, job.keys)))
	}
	var n int64
	for _, cl := range res.Classes {
		n += int64(len(cl)) + 1
	}
	sps := float64(n) / res.Elapsed.Seconds()
	fmt.Fprintf(stderr, "vocoded %d utterances, %d samples (%.2f s of audio) in %.2f s: %s samples/s, %.2f× real time at %d Hz\n",
		len(res.Classes), n, float64(n)/float64(rate), res.Elapsed.Seconds(), humanize.Thousands(sps), sps/float64(rate), rate)
	if err := ctx.Err(); err != nil {
		return interrupted(ctx, fmt.Errorf("vocode: %w; nothing written", err))
	}
	if err := writeVocoded(c, job, silence, res.Classes); err != nil {
		return interrupted(ctx, fmt.Errorf("vocode: %w", err))
	}
	fmt.Fprintf(stderr, "wrote %d files to %s\n", len(res.Classes), c.String("out"))
	return nil
}

// utteranceKey names the utterance of a causalconv.UtteranceError by its key.
func utteranceKey(err error, keys []string) error {
	var ue *causalconv.UtteranceError
	if errors.As(err, &ue) && ue.Index < len(keys) {
		return fmt.Errorf("%s: %w", keys[ue.Index], ue.Err)
	}
	return err
}

// vocodeProgress draws vocoding's progress on status.
func vocodeProgress(status *statusLine, rate int) func(causalconv.ContinueProgress) {
	return func(p causalconv.ContinueProgress) {
		sps := p.SamplesPerSecond()
		status.draw(fmt.Sprintf("vocoding: %.2f of %.2f s of audio (%3.0f%%), %s samples/s, %.2f× real time",
			float64(p.Done)/float64(rate), float64(p.Total)/float64(rate), 100*float64(p.Done)/float64(max(p.Total, 1)),
			humanize.Thousands(sps), sps/float64(rate)), false)
	}
}

// prepareVocode reads the model, checks that it is locally conditioned,
// and reads or computes the utterances' features.
func prepareVocode(c *cli.Context) (*vocodeJob, error) {
	spec, data := c.String("features"), c.String("data")
	switch {
	case spec == "" && data == "":
		return nil, errors.New("give the features with --features SPEC or the audio to compute them from with --data CORPUS")
	case spec != "" && data != "":
		return nil, errors.New("give --features or --data, not both")
	case spec != "" && c.IsSet("split"):
		return nil, errors.New("--split goes with --data")
	case c.String("level") != levelOriginal && c.String("level") != levelModel:
		return nil, fmt.Errorf("--level %q: want %s or %s", c.String("level"), levelOriginal, levelModel)
	case spec != "" && c.IsSet("level") && c.String("level") == levelOriginal:
		return nil, errors.New("--level original goes with --data: features carry no level")
	}
	mf, err := modelfile.Load(c.String("model"))
	if err != nil {
		return nil, err
	}
	lc := mf.Model.Config.LocalCondition
	if lc == nil {
		return nil, fmt.Errorf("%s is not locally conditioned: it takes no features to vocode from (its config.json has no \"local_condition\")", mf.Path)
	}
	job := &vocodeJob{mf: mf}
	if job.settings, err = modelSettings(c, mf); err != nil {
		return nil, err
	}
	if spec != "" {
		err = job.readFeatures(spec, lc.Channels)
	} else {
		err = job.computeFeatures(c, data)
	}
	if err != nil {
		return nil, err
	}
	if len(job.utts) == 0 {
		return nil, errors.New("no utterances to vocode")
	}
	return job, nil
}

// add appends one utterance of frames × dims features m (featio's layout)
// as the dims × frames matrix the model takes.
func (j *vocodeJob) add(name, key string, m featio.Matrix, samples, channels int) error {
	if err := vocodeKey(key); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if slices.Contains(j.keys, key) {
		return fmt.Errorf("%s: key %s twice", name, key)
	}
	if m.Cols != channels {
		return fmt.Errorf("%s: %s: features of %d dims; the model takes %d", name, key, m.Cols, channels)
	}
	if m.Rows < 1 {
		return fmt.Errorf("%s: %s: no frames", name, key)
	}
	t := causalconv.Matrix{Rows: m.Cols, Cols: m.Rows, Stride: m.Rows, Data: make([]float32, m.Rows*m.Cols)}
	for f := 0; f < m.Rows; f++ {
		for d, v := range m.Row(f) {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("%s: %s: feature %d of frame %d is %g", name, key, d, f, v)
			}
			t.Data[d*m.Rows+f] = v
		}
	}
	j.keys = append(j.keys, key)
	j.utts = append(j.utts, causalconv.Utterance{Features: t, Samples: samples})
	return nil
}

// vocodeKey refuses a key that cannot name a file under the output
// folder (a corpus key may hold folders: recordings/0_george_0).
func vocodeKey(key string) error {
	if err := featio.CheckKey(key); err != nil {
		return err
	}
	if !filepath.IsLocal(filepath.FromSlash(key)) {
		return fmt.Errorf("key %q cannot name a file (<key>.wav) under the output folder", key)
	}
	return nil
}

// readFeatures reads the features of spec: a features folder, a Kaldi
// scp or ark, or one npy file (keyed by its base name; featio.Keyed).
func (j *vocodeJob) readFeatures(spec string, channels int) error {
	k, err := featio.OpenKeyed(spec)
	if err != nil {
		return err
	}
	for i, key := range k.Keys {
		m, err := k.Load(i)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", spec, key, err)
		}
		if err := j.add(spec, key, m, 0, channels); err != nil {
			return err
		}
	}
	return nil
}

// vocodeFbank is the Kaldi fbank recipe of a locally conditioned model
// that records no feature settings: the model's channels as mel bins, its
// hop and window as frame shift and length, its frame convention, and
// compute-fbank-feats' other defaults but dither 0 (reproducible).
func vocodeFbank(lc *causalconv.LocalCondition, rate int) (*features.Recipe, kaldifeat.Config, error) {
	cfg := kaldifeat.DefaultFbank(float64(rate))
	cfg.NumMelBins = lc.Channels
	cfg.FrameShiftMs = 1000 * float64(lc.Hop) / float64(rate)
	cfg.FrameLengthMs = 1000 * float64(lc.Window) / float64(rate)
	cfg.SnipEdges = lc.SnipEdges
	cfg.Dither = 0
	r, err := features.Kaldi(cfg, features.KaldiSettings(rate, false))
	return r, cfg, err
}

// fbank is the recipe of the model's features: the settings its
// "features" metadata records, computed from the audio prepared as the
// model's "audio" metadata says (as training computed them), or for a
// model that records none, vocodeFbank's. It says on w which.
func (j *vocodeJob) fbank(w io.Writer) (*features.Recipe, error) {
	lc, rate := j.mf.Model.Config.LocalCondition, j.settings.SampleRate
	recorded, err := modelfile.Features(j.mf.Metadata, j.mf.Model.Config)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", j.mf.Path, err)
	}
	if recorded != nil {
		r, err := features.Kaldi(*recorded, j.settings)
		if err != nil {
			return nil, fmt.Errorf("%s: its feature settings: %w", j.mf.Path, err)
		}
		fmt.Fprintf(w, "vocode: features as %s records them: Kaldi fbank, %d mel bins, frame shift %g ms, length %g ms, snip_edges %v, from the audio prepared as in training (%s)\n",
			j.mf.Path, recorded.NumMelBins, recorded.FrameShiftMs, recorded.FrameLengthMs, recorded.SnipEdges, j.settings.Describe())
		return r, nil
	}
	r, cfg, err := vocodeFbank(lc, rate)
	if err != nil {
		return nil, fmt.Errorf("%s: the fbank of its local_condition: %w", j.mf.Path, err)
	}
	fmt.Fprintf(w, "vocode: %s records no feature settings: computing Kaldi fbank with its local_condition: %d mel bins, frame shift %g ms (%d samples), length %g ms (%d samples), snip_edges %v, dither 0, at %d Hz\n",
		j.mf.Path, cfg.NumMelBins, cfg.FrameShiftMs, lc.Hop, cfg.FrameLengthMs, lc.Window, cfg.SnipEdges, rate)
	return r, nil
}

// computeFeatures computes the features of the corpus data's audio
// (--split's files), each utterance as long as its audio.
func (j *vocodeJob) computeFeatures(c *cli.Context, data string) error {
	corp, err := corpus.Open(data)
	if err != nil {
		return err
	}
	entries, err := corp.Select(c.String("split"))
	if err != nil {
		return err
	}
	lc := j.mf.Model.Config.LocalCondition
	recipe, err := j.fbank(c.App.ErrWriter)
	if err != nil {
		return err
	}
	status := newStatusLine(c.App.ErrWriter, ttyEvery, logEvery).firstAfterInterval()
	restore := c.String("level") == levelOriginal
	_, err = features.Run(c.Context, recipe, entries, func(u features.Utterance) error {
		if restore {
			j.gains = append(j.gains, u.Gain)
		}
		return j.add(corp.Source, u.Entry.Key, u.Matrix, u.Samples, lc.Channels)
	}, features.RunOptions{Threads: c.Int("threads"), Progress: progressPrinter(status)})
	status.clear()
	return err
}

// writeVocoded writes every utterance (the silence it starts from, then
// its generated samples) to OUT/<key>.wav: all into a staging folder in
// OUT first, then each renamed into place, so that an error or Ctrl-C
// while writing leaves no file behind.
func writeVocoded(c *cli.Context, job *vocodeJob, silence int32, classes [][]int32) error {
	out := c.String("out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	stage, err := os.MkdirTemp(out, ".vocode-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	enc := audio.PCM16
	if c.Bool("float") {
		enc = audio.Float32
	}
	mu := job.settings.MuLaw()
	for i, cl := range classes {
		if err := c.Context.Err(); err != nil {
			return fmt.Errorf("%w; nothing written", err)
		}
		x := make([]float32, len(cl)+1)
		x[0] = mu.Centre(silence)
		mu.Decode(cl, x[1:])
		if job.gains != nil && job.gains[i] > 0 && job.gains[i] != 1 {
			inv := 1 / job.gains[i]
			for n := range x {
				x[n] = float32(float64(x[n]) * inv)
			}
		}
		path := filepath.Join(stage, filepath.FromSlash(job.keys[i])+".wav")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := audio.WriteFile(path, x, job.settings.SampleRate, enc); err != nil {
			return err
		}
	}
	for _, key := range job.keys {
		name := filepath.FromSlash(key) + ".wav"
		if err := os.MkdirAll(filepath.Dir(filepath.Join(out, name)), 0o755); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(stage, name), filepath.Join(out, name)); err != nil {
			return err
		}
	}
	return nil
}
