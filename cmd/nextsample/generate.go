package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/atomicfile"
	"github.com/nextsample/nextsample/audio/humanize"
	"github.com/nextsample/nextsample/audio/spectrogram"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/kernels"
	"github.com/nextsample/nextsample/causalconv/modelfile"
)

// streamPlaceholder is what an output pattern holds where the stream
// number goes.
const streamPlaceholder = "{i}"

// maxStreams bounds --count, and maxHeldSamples the samples of all
// continuations together (2 GiB of classes): every stream holds its whole
// output in memory.
const (
	maxStreams     = 1024
	maxHeldSamples = 1 << 29
)

func generateCommand() *cli.Command {
	return &cli.Command{
		Name:      "generate",
		Usage:     "continue a prompt WAV with a trained model",
		ArgsUsage: " ",
		Description: "Generates audio one sample at a time: each new μ-law sample is drawn from the\n" +
			"model's predicted distribution (softmax of the logits divided by --temperature)\n" +
			"and fed back as the next input. The network keeps per-layer queues of its past\n" +
			"activations, so a sample costs one time step of work per layer.\n\n" +
			"The prompt is prepared exactly as the model's training data were, with the\n" +
			"settings stored in the model file (channel, rate, DC, normalization, trimming,\n" +
			"μ-law); a prompt at another sample rate is refused unless the model was trained\n" +
			"with resampling or --resample is given. Only the last receptive field of a long\n" +
			"prompt can influence the continuation, so only that part is run through the\n" +
			"network. Without --prompt the model starts from silence.\n\n" +
			"The output is a WAV file at the model's sample rate (16-bit PCM, or 32-bit float\n" +
			"with --float) holding the prompt as the model saw it (μ-law quantized) followed\n" +
			"by the continuation, or the continuation alone with --continuation-only. --out -\n" +
			"writes it to standard output. --count N generates N independent continuations\n" +
			"of the same prompt together (their matrix-vector products become small matrix\n" +
			"products); --out and --spectrogram must then be patterns holding " + streamPlaceholder + ",\n" +
			"which becomes the continuation's number (0, 1, … zero-padded to equal width).\n" +
			"Continuations are computed in groups of " + strconv.Itoa(causalconv.BatchStreams) + " (the rest one by one) shared among\n" +
			"--threads goroutines (a single continuation runs on two cores when --threads\n" +
			"allows); the samples depend on the model, prompt, --seed, --temperature and\n" +
			"--count, not on --threads.\n\n" +
			"Progress (samples per second and the real-time factor) goes to standard error.\n" +
			"Files are written only when every continuation is complete, each atomically;\n" +
			"Ctrl-C stops without writing anything and exits with status 130.\n\n" +
			"Examples:\n" +
			"  nextsample generate --model runs/latest/best.safetensors --prompt samples/fsdd/recordings/0_george_0.wav \\\n" +
			"      --seconds 2 --out continuation.wav --spectrogram continuation.png\n" +
			"  nextsample generate --model best.safetensors --seconds 5 --count 8 --temperature 0.9 --out 'babble-{i}.wav'\n" +
			"  nextsample generate --model best.safetensors --prompt in.wav --samples 8000 --out - | play -",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "model `FILE` (.safetensors) written by nextsample train", DefaultText: "the bundled base model, " + BundledModel},
			&cli.StringFlag{Name: "prompt", Usage: "WAV `FILE` to continue (- for standard input)", DefaultText: "silence"},
			&cli.Float64Flag{Name: "seconds", Usage: "length of each continuation in seconds (or give --samples)"},
			&cli.IntFlag{Name: "samples", Usage: "length of each continuation in samples (or give --seconds)"},
			&cli.Float64Flag{Name: "temperature", Usage: "softmax temperature: 1 samples the model's distribution, lower is more conservative, 0 always takes the most likely sample", Value: 1},
			&cli.Uint64Flag{Name: "seed", Usage: "seed of the sampling; the same seed gives the same audio", Value: 1},
			&cli.IntFlag{Name: "count", Usage: "number of independent continuations, computed together", Value: 1},
			&cli.StringFlag{Name: "speaker", Usage: "speaker-conditioned models: the speaker `NAME` to speak as, or one per continuation (a,b,c with --count 3)"},
			&cli.StringFlag{Name: "out", Usage: "output WAV `PATH`, - for standard output; with --count > 1 a pattern holding " + streamPlaceholder, Required: true},
			&cli.BoolFlag{Name: "continuation-only", Usage: "write only the generated samples, without the prompt"},
			&cli.StringFlag{Name: "spectrogram", Usage: "also draw the spectrogram of prompt + continuation, with a marker where the continuation starts, as a PNG at `PATH` (a pattern with --count > 1)"},
			&cli.BoolFlag{Name: "float", Usage: "write 32-bit float WAV instead of 16-bit PCM"},
			&cli.BoolFlag{Name: "resample", Usage: "resample a prompt at another sample rate even if the model was trained without resampling"},
			&cli.BoolFlag{Name: "bf16", Usage: "round the weight matrices to bfloat16, which halves the bytes each sample reads (faster; an approximation: every continuation then runs alone)"},
			&cli.IntFlag{Name: "threads", Usage: "goroutines sharing the continuations (a continuation, or a group of " + strconv.Itoa(causalconv.BatchStreams) + ", runs on one, or on two when there are twice as many threads as groups)", DefaultText: "all cores"},
			sampleRateFlag(),
		},
		Action: runGenerate,
	}
}

// genRequest is a checked generate command line.
type genRequest struct {
	modelPath, promptPath string
	seconds               float64 // --seconds; 0 with --samples
	// opts are Continue's options; Samples is set by --samples or, once
	// the model's rate is known, from --seconds, and Speakers, a
	// conditioned model's table row per continuation, from --speaker.
	opts             causalconv.ContinueOptions
	outs, pngs       []string // one per continuation; pngs nil without --spectrogram
	continuationOnly bool
	encoding         audio.Encoding
	resample         bool
}

// expandPattern returns the count paths of an output pattern.
func expandPattern(flag, pattern string, count int) ([]string, error) {
	has := strings.Contains(pattern, streamPlaceholder)
	if count > 1 {
		if pattern == "-" {
			return nil, fmt.Errorf("--%s -: standard output takes one continuation, not --count %d", flag, count)
		}
		if !has {
			return nil, fmt.Errorf("--%s %q: with --count %d it must be a pattern holding %s, the continuation's number (like out-%s.wav)", flag, pattern, count, streamPlaceholder, streamPlaceholder)
		}
	}
	width := len(strconv.Itoa(count - 1))
	paths := make([]string, count)
	for i := range paths {
		paths[i] = strings.ReplaceAll(pattern, streamPlaceholder, fmt.Sprintf("%0*d", width, i))
	}
	return paths, nil
}

func parseGenerate(c *cli.Context) (*genRequest, error) {
	if c.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (the prompt is given with --prompt)", c.Args().First())
	}
	model, merr := modelPath(c, "generate")
	if merr != nil {
		return nil, merr
	}
	r := &genRequest{
		modelPath:  model,
		promptPath: c.String("prompt"),
		opts: causalconv.ContinueOptions{
			Count: c.Int("count"), Temperature: c.Float64("temperature"), Seed: c.Uint64("seed"),
			Threads: runtime.NumCPU(), Kernels: kernels.Best(), BF16: c.Bool("bf16"),
		},
		continuationOnly: c.Bool("continuation-only"),
		resample:         c.Bool("resample"),
	}
	if c.Bool("float") {
		r.encoding = audio.Float32
	}
	switch secs, samps := c.IsSet("seconds"), c.IsSet("samples"); {
	case secs && samps:
		return nil, errors.New("give --seconds or --samples, not both")
	case secs:
		r.seconds = c.Float64("seconds")
		if !(r.seconds > 0) || math.IsInf(r.seconds, 0) {
			return nil, fmt.Errorf("--seconds %v: must be a positive number", r.seconds)
		}
	case samps:
		r.opts.Samples = c.Int("samples")
		if r.opts.Samples < 1 {
			return nil, fmt.Errorf("--samples %d: must be at least 1", r.opts.Samples)
		}
	default:
		return nil, errors.New("say how much to generate with --seconds or --samples")
	}
	if t := r.opts.Temperature; !(t >= 0) || math.IsInf(t, 0) {
		return nil, fmt.Errorf("--temperature %v: must be a finite number ≥ 0", t)
	}
	if n := r.opts.Count; n < 1 || n > maxStreams {
		return nil, fmt.Errorf("--count %d: must be between 1 and %d", n, maxStreams)
	}
	if c.IsSet("threads") {
		r.opts.Threads = c.Int("threads")
		if r.opts.Threads < 1 {
			return nil, fmt.Errorf("--threads %d: must be at least 1", r.opts.Threads)
		}
	}
	var err error
	if r.outs, err = expandPattern("out", c.String("out"), r.opts.Count); err != nil {
		return nil, err
	}
	if png := c.String("spectrogram"); png != "" {
		if png == "-" {
			return nil, errors.New("--spectrogram -: the picture must go to a file")
		}
		if r.pngs, err = expandPattern("spectrogram", png, r.opts.Count); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	for _, p := range append(append([]string(nil), r.outs...), r.pngs...) {
		if p == "-" {
			continue
		}
		if err := atomicfile.CheckTarget(p); err != nil {
			return nil, err
		}
		if seen[filepath.Clean(p)] {
			return nil, fmt.Errorf("%s would be written twice; give --out and --spectrogram different names", p)
		}
		seen[filepath.Clean(p)] = true
	}
	return r, nil
}

// runGenerate checks the command line, reads the model and the prompt,
// generates with causalconv.Continue while drawing its progress, and
// writes the files once every continuation is complete.
func runGenerate(c *cli.Context) error {
	ctx, stderr := c.Context, c.App.ErrWriter
	r, err := parseGenerate(c)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	job, err := prepareGenerate(c, r)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	n, count, rate := r.opts.Samples, r.opts.Count, job.settings.SampleRate
	status := newStatusLine(stderr, 500*time.Millisecond, logEvery).firstAfterInterval()
	opts := r.opts
	opts.Progress = continueProgress(status, n, count, rate)
	res, err := causalconv.Continue(ctx, job.model.Packed(), job.prompt.Classes, opts)
	status.clear()
	if err != nil {
		return interrupted(ctx, fmt.Errorf("generate: %w", err))
	}
	sps := res.SamplesPerSecond()
	fmt.Fprintf(stderr, "generated %d samples × %d in %.2f s: %s samples/s, %.2f× real time at %d Hz\n",
		n, count, res.Elapsed.Seconds(), humanize.Thousands(sps), sps/float64(rate), rate)
	if err := ctx.Err(); err != nil {
		return interrupted(ctx, fmt.Errorf("generate: %w; nothing written", err))
	}
	if err := writeContinuations(c.App.Writer, r, job, res.Classes); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	if r.outs[0] != "-" {
		what := r.outs[0]
		if count > 1 {
			what = fmt.Sprintf("%s … %s", r.outs[0], r.outs[count-1])
		}
		fmt.Fprintf(stderr, "wrote %s\n", what)
	}
	return nil
}

// genJob is what a checked command line generates from: the model, its
// audio settings and the prompt.
type genJob struct {
	model    *causalconv.Model
	settings audio.Settings
	prompt   *audio.Prompt
}

// prepareGenerate reads the model and the prompt of r, fills in the
// length and the speakers of r.opts, and refuses outputs too big for a
// WAV file or for memory.
func prepareGenerate(c *cli.Context, r *genRequest) (*genJob, error) {
	mf, err := modelfile.Load(r.modelPath)
	if err != nil {
		return nil, err
	}
	job := &genJob{model: mf.Model}
	if job.settings, err = modelSettings(c, mf); err != nil {
		return nil, err
	}
	if r.opts.Speakers, err = streamSpeakers(c.String("speaker"), mf, r.opts.Count); err != nil {
		return nil, err
	}
	rate := job.settings.SampleRate
	if r.seconds > 0 {
		if r.opts.Samples = int(math.Round(r.seconds * float64(rate))); r.opts.Samples < 1 {
			return nil, fmt.Errorf("--seconds %v is less than one sample at %d Hz", r.seconds, rate)
		}
	}
	if job.prompt, err = loadPrompt(c, r, job.settings, job.model.Config.ReceptiveField()); err != nil {
		return nil, err
	}
	n, perFile := int64(r.opts.Samples), int64(r.opts.Samples)
	if !r.continuationOnly {
		perFile += int64(len(job.prompt.Samples))
	}
	if bytesPer := map[audio.Encoding]int64{audio.PCM16: 2, audio.Float32: 4}[r.encoding]; perFile*bytesPer > math.MaxUint32-1024 {
		return nil, fmt.Errorf("%d samples per file do not fit a WAV file (4 GiB)", perFile)
	}
	// Every continuation is held in memory until the end (4 bytes a
	// sample, then 4 more while its file is written).
	if total := n * int64(r.opts.Count); total > maxHeldSamples {
		return nil, fmt.Errorf("%d continuations of %d samples are more than the %d samples generate holds in memory; ask for fewer or shorter ones", r.opts.Count, n, int64(maxHeldSamples))
	}
	return job, nil
}

// loadPrompt prepares --prompt with the model's settings (silence
// without one) and says what it is.
func loadPrompt(c *cli.Context, r *genRequest, settings audio.Settings, receptiveField int) (*audio.Prompt, error) {
	if r.promptPath == "" {
		return settings.SilentPrompt(), nil
	}
	settings.Resample = settings.Resample || r.resample
	p, err := settings.LoadPrompt(c.Context, r.promptPath)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c.App.ErrWriter, "prompt: %s: %s\n", r.promptPath, p.Describe(receptiveField))
	return p, nil
}

// writeContinuations writes every continuation's WAV file (after the
// prompt unless --continuation-only) and, with --spectrogram, its picture.
func writeContinuations(stdout io.Writer, r *genRequest, job *genJob, classes [][]int32) error {
	for i, cls := range classes {
		full := job.prompt.Then(cls)
		out := full
		if r.continuationOnly {
			out = full[len(job.prompt.Samples):]
		}
		if err := writeWAV(stdout, r.outs[i], out, job.settings.SampleRate, r.encoding); err != nil {
			return err
		}
		if r.pngs != nil {
			if err := drawSpectrogram(r, i, full, len(job.prompt.Samples), job.settings.SampleRate); err != nil {
				return err
			}
		}
	}
	return nil
}

// continueProgress draws generation's progress (samples per second and
// the real-time factor of count continuations of n samples at rate Hz) on
// status.
func continueProgress(status *statusLine, n, count, rate int) func(causalconv.ContinueProgress) {
	return func(p causalconv.ContinueProgress) {
		sps := p.SamplesPerSecond()
		status.draw(fmt.Sprintf("generating: %.2f of %.2f s of audio (%3.0f%%), %s samples/s, %.2f× real time",
			float64(p.Done)/float64(count)/float64(rate), float64(n)/float64(rate), 100*float64(p.Done)/float64(p.Total),
			humanize.Thousands(sps), sps/float64(rate)), false)
	}
}

// writeWAV writes one continuation to path, atomically, or to stdout for "-".
func writeWAV(stdout io.Writer, path string, x []float32, rate int, enc audio.Encoding) error {
	if path == "-" {
		return audio.WriteWAV(stdout, x, rate, enc)
	}
	return atomicfile.Write(path, func(w io.Writer) error { return audio.WriteWAV(w, x, rate, enc) })
}

// drawSpectrogram writes continuation i's picture.
func drawSpectrogram(r *genRequest, i int, x []float32, promptLen, rate int) error {
	s, err := spectrogram.Compute(x, rate, spectrogram.Options{})
	if err != nil {
		return fmt.Errorf("%s: %w", r.pngs[i], err)
	}
	promptName := "silence"
	if r.promptPath != "" {
		promptName = filepath.Base(r.promptPath)
	}
	title := fmt.Sprintf("%s continuing %s (temperature %g, seed %d", filepath.Base(r.modelPath), promptName, r.opts.Temperature, r.opts.Seed)
	if r.opts.Count > 1 {
		title += fmt.Sprintf(", continuation %d", i)
	}
	title += ")"
	opt := spectrogram.PlotOptions{Title: title}
	if promptLen > 0 {
		opt.Marker = float64(promptLen) / float64(rate)
		opt.MarkerLabel = "continuation starts"
	}
	return s.WriteFile(r.pngs[i], opt)
}

// streamSpeakers turns --speaker into a row of the model's speaker table
// per continuation: one name for all, or one per continuation. A
// conditioned model needs it; an unconditioned one refuses it.
func streamSpeakers(flag string, mf *modelfile.File, count int) ([]int, error) {
	table, err := mf.Speakers()
	if err != nil {
		return nil, err
	}
	var names []string
	if flag != "" {
		for _, name := range strings.Split(flag, ",") {
			names = append(names, strings.TrimSpace(name))
		}
	}
	r, err := modelfile.LookupSpeakers(table, make([]string, count), modelfile.SpeakerPolicy{Given: names})
	if err != nil {
		return nil, speakerFlagError(err, flag, mf.Path, table)
	}
	if table != nil && flag == "" {
		return nil, fmt.Errorf("%s is conditioned on %d speakers: choose one with --speaker NAME (%s)", mf.Path, len(table), humanize.FirstFew(table, 20))
	}
	return r.Rows, nil
}
