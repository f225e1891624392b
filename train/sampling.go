package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/atomicfile"
	"github.com/nextsample/nextsample/audio/spectrogram"
	"github.com/nextsample/nextsample/causalconv"
)

// Samples while training (Options.SampleEvery)
//
// Every SampleEvery steps, and after the last step, the lead process
// writes what the run's model (the average, with Options.EMA) makes of a
// few fixed prompts, so that a user can hear the run improve:
//
//   - the prompts are the first SamplePrompts files of the validation
//     split in its order (the corpus's key order), or of the training
//     split for a run without validation; files too short to prompt (2
//     samples) are passed over;
//   - an unconditioned or speaker-conditioned model continues the file's
//     first half second (PromptSeconds; the whole file if shorter) for
//     SampleSeconds seconds at temperature 1 (on the file's speaker);
//   - a locally conditioned model (a vocoder) instead vocodes the file
//     from its features: from its first sample on, for up to
//     PromptSeconds+SampleSeconds seconds (the file's length if shorter);
//   - the sampler of prompt K is seeded with Options.Seed+K, so the same
//     weights give the same samples, and samples of different steps
//     differ only by the weights;
//   - samples/step-NNNNNN-K.wav holds the prompt as the model saw it
//     (μ-law) followed by the generated audio, 16-bit PCM at the run's
//     rate, and samples/step-NNNNNN-K.png its log-magnitude spectrogram
//     with a line where generation starts; both written atomically.
//
// Sampling reads the weights and never changes the training: a run
// with samples has the weights of one without. Its time counts in the
// run's wall time (train_log.csv's seconds) and the log line says how long
// it took. With the fast generator (40–60 thousand samples a second on a
// core for the default model) two prompts of two seconds at 8 kHz take
// well under a second: every 500 steps, a fraction of a percent of a run.

// SamplesDir is the folder of a run directory that holds the samples.
const SamplesDir = "samples"

// PromptSeconds is the length of the prompts of Options.SampleEvery.
const PromptSeconds = 0.5

// Defaults and bounds of the sampling options.
const (
	DefaultSampleSeconds = 2
	DefaultSamplePrompts = 2
	maxSampleSeconds     = 600
	maxSamplePrompts     = 64
)

// SampleFile returns the name, under SamplesDir, of prompt k's sample at
// step s, with extension ext (".wav" or ".png").
func SampleFile(s int64, k int, ext string) string {
	return fmt.Sprintf("step-%06d-%d%s", s, k, ext)
}

// samplePrompt is one prompt of the samples: a file of a split.
type samplePrompt struct {
	split Dataset
	file  int
}

// samplePrompts returns the files the samples start from.
func (r *Run) samplePrompts() []samplePrompt {
	split := r.data.Valid
	if !r.hasValid() {
		split = r.data.Train
	}
	var out []samplePrompt
	for i := 0; i < numFiles(split) && len(out) < r.opts.SamplePrompts; i++ {
		if split.Len(i) >= 2 {
			out = append(out, samplePrompt{split, i})
		}
	}
	return out
}

// writeSamples writes the samples of the current step (lead process
// only) and says how long they took.
func (r *Run) writeSamples(ctx context.Context) error {
	if !r.lead {
		return nil
	}
	t0 := time.Now()
	rate := r.setup.SampleRate
	if rate <= 0 {
		return errors.New("samples while training need the run's sample rate (Setup.SampleRate)")
	}
	dir := filepath.Join(r.setup.Out, SamplesDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	m := r.saved()
	packed := m.Packed()
	mu := audio.MuLaw{Q: m.Config.QuantizationChannels}
	prompts := r.samplePrompts()
	var buf []float32
	total := 0
	var gen time.Duration
	for k, p := range prompts {
		tg := time.Now()
		classes, start, err := r.sample(ctx, packed, p, k, rate, &buf)
		gen += time.Since(tg)
		if err != nil {
			return fmt.Errorf("sample %d (file %d): %w", k, p.file, err)
		}
		x := make([]float32, len(classes))
		mu.Decode(classes, x)
		total += len(classes) - start
		wav := filepath.Join(dir, SampleFile(r.st.Step, k, ".wav"))
		if err := atomicfile.Write(wav, func(w io.Writer) error { return audio.WriteWAV(w, x, rate, audio.PCM16) }); err != nil {
			return err
		}
		if r.noPlot {
			continue
		}
		s, err := spectrogram.Compute(x, rate, spectrogram.Options{})
		if err != nil {
			return fmt.Errorf("%s: %w", wav, err)
		}
		what := "continuing its first %.2f s"
		if m.Config.LocalCondition != nil {
			what = "vocoding its features after %.2f s"
		}
		opt := spectrogram.PlotOptions{
			Title:  fmt.Sprintf("step %d, prompt %d: "+what+" (temperature 1, seed %d)", r.st.Step, k, float64(start)/float64(rate), r.opts.Seed+uint64(k)),
			Marker: float64(start) / float64(rate), MarkerLabel: "generation starts",
		}
		if err := s.WriteFile(filepath.Join(dir, SampleFile(r.st.Step, k, ".png")), opt); err != nil {
			return err
		}
	}
	r.logf("step %d: wrote %d samples in %s in %.1fs (%d samples generated in %.1fs)", r.st.Step, len(prompts), dir, time.Since(t0).Seconds(), total, gen.Seconds())
	return nil
}

// sample generates prompt p's sample: its classes, the prompt's
// included, and where generation starts in them.
func (r *Run) sample(ctx context.Context, packed *causalconv.Packed, p samplePrompt, k, rate int, buf *[]float32) ([]int32, int, error) {
	n := p.split.Len(p.file)
	prompt := min(n, int(PromptSeconds*float64(rate)))
	gen := int(r.opts.SampleSeconds * float64(rate))
	opt := causalconv.ContinueOptions{Temperature: 1, Seed: r.opts.Seed + uint64(k), Threads: r.opts.Threads, Kernels: r.opts.Kernels}
	if r.model.Config.Speakers() > 0 {
		opt.Speakers = []int{speakerOf(p.split, p.file)}
	}
	if f := featuresOf(p.split); f != nil {
		// A vocoder: the file from its first sample, as long as a prompt
		// and its continuation (or the file).
		length := min(n, prompt+gen)
		first := make([]int32, length)
		if err := p.split.Read(p.file, 0, first[:1]); err != nil {
			return nil, 0, err
		}
		feats, err := readFeatures(f, p.file, buf)
		if err != nil {
			return nil, 0, err
		}
		res, err := causalconv.Vocode(ctx, packed, first[:1], []causalconv.Utterance{{Features: feats, Samples: length}}, opt)
		if err != nil {
			return nil, 0, err
		}
		copy(first[1:], res.Classes[0])
		return first, 1, nil
	}
	classes := make([]int32, prompt, prompt+gen)
	if err := p.split.Read(p.file, 0, classes); err != nil {
		return nil, 0, err
	}
	opt.Count, opt.Samples = 1, gen
	res, err := causalconv.Continue(ctx, packed, classes, opt)
	if err != nil {
		return nil, 0, err
	}
	return append(classes, res.Classes[0]...), prompt, nil
}
