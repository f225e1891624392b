package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/modelfile"
	"github.com/nextsample/nextsample/train"
	"github.com/nextsample/nextsample/train/launch"
)

// maxListedSpeakers is how many speaker names the text output lists.
const maxListedSpeakers = 20

func modelCommand() *cli.Command {
	return &cli.Command{
		Name:      "model",
		Usage:     "describe model files (.safetensors): architecture, audio settings, speakers, training state",
		ArgsUsage: "FILE...",
		Description: "For each model file (last.safetensors, best.safetensors, step-NNNNNN.safetensors\n" +
			"of a run, or a file from convert or a PyTorch export): the architecture (every\n" +
			"field of its configuration, layers, receptive field in samples and in ms at the\n" +
			"model's rate, parameters, MFLOP per trained sample, input encoding), the audio\n" +
			"settings stored in it (or the reference preprocessing a file without \"audio\"\n" +
			"metadata is taken to expect), its speakers (for a speaker-conditioned model), the\n" +
			"training summary (step, updates, optimizer and options, precision, seed,\n" +
			"batch, best and last validation, time trained, training data, processes), the\n" +
			"best step and bits of a best.safetensors, whether it holds the optimizer state\n" +
			"that --resume needs, and its size on disk.\n\n" +
			"A file that cannot be read is reported on stderr as `nextsample: PATH: reason`;\n" +
			"the others are still described, and the exit status is 1.\n\n" +
			"Examples:\n" +
			"  nextsample model runs/fsdd/last.safetensors runs/fsdd/best.safetensors\n" +
			"  nextsample model --json runs/fsdd/best.safetensors | jq .receptive_field_ms",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "one JSON object per file, on one line: path, kind (checkpoint, best or model), size_bytes, step, config, layers, " +
				"receptive_field, receptive_field_ms, parameters, mflop_per_sample, input_encoding, sample_rate, audio, audio_assumed, speakers, speaker_count, speaker_note, " +
				"training, best, train_data, resumable, resume_problem, optimizer_tensors, optimizer_bytes, parameter_bytes"},
			&cli.IntFlag{Name: "sample-rate", Usage: "the rate in `Hz` of a model file (exported from PyTorch) that records neither \"audio\" nor \"sample_rate\" metadata; files that record theirs keep it"},
		},
		Action: runModel,
	}
}

func runModel(c *cli.Context) error {
	if c.NArg() == 0 {
		return fmt.Errorf("model: no files given (usage: nextsample model [--json] FILE...)")
	}
	rate := 0
	if c.IsSet("sample-rate") {
		if rate = c.Int("sample-rate"); rate <= 0 {
			return fmt.Errorf("model: --sample-rate %d: want a positive rate in Hz", rate)
		}
	}
	out, errOut := c.App.Writer, c.App.ErrWriter
	failed := 0
	rep := &reporter{out: out, json: c.Bool("json")}
	for _, path := range c.Args().Slice() {
		if err := c.Context.Err(); err != nil {
			return fmt.Errorf("model: %w", errInterrupted)
		}
		mi, err := train.Inspect(path, train.InspectOptions{SampleRate: rate, RateFlag: "--sample-rate"})
		if err != nil {
			printCorpusError(errOut, path, err)
			failed++
			continue
		}
		if err := rep.report(mi, func(w io.Writer) { printModelText(w, mi) }); err != nil {
			return err
		}
	}
	if failed > 0 {
		return errReported
	}
	return nil
}

// configFields lists the fields of a config's JSON object in order, each
// as "name value" (strings unquoted), so that fields added to
// causalconv.Config are shown without changes here.
func configFields(js json.RawMessage) []string {
	dec := json.NewDecoder(bytes.NewReader(js))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return []string{string(js)}
	}
	var out []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			break
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			break
		}
		val := string(v)
		var s string
		if json.Unmarshal(v, &s) == nil {
			val = s
		}
		out = append(out, fmt.Sprintf("%v %s", t, val))
	}
	return out
}

// printModelText prints what Inspect found, one field a line.
func printModelText(w io.Writer, mi *train.ModelInfo) {
	kind := map[string]string{
		train.KindCheckpoint: "training checkpoint",
		train.KindBest:       "best model of a training run",
		train.KindModel:      "model without training state",
	}[mi.Kind]
	fmt.Fprintf(w, "File       : %s (%s)\n", mi.Path, kind)
	size := byteSize(mi.SizeBytes)
	if mi.SizeBytes >= 1<<10 {
		size += fmt.Sprintf(" (%d bytes)", mi.SizeBytes)
	}
	size += "; parameters " + byteSize(mi.ParameterBytes)
	if mi.OptimizerTensors > 0 {
		size += fmt.Sprintf(", optimizer state %s in %d tensors", byteSize(mi.OptimizerBytes), mi.OptimizerTensors)
	}
	fmt.Fprintf(w, "Size       : %s\n", size)
	rf := fmt.Sprintf("%d samples", mi.ReceptiveField)
	if mi.ReceptiveFieldMS != nil {
		rf += fmt.Sprintf(" (%.1f ms at %d Hz)", *mi.ReceptiveFieldMS, *mi.SampleRate)
	}
	fmt.Fprintf(w, "Model      : %d layers, receptive field %s, %d parameters, %.2f MFLOP per trained sample\n",
		mi.Layers, rf, mi.Parameters, mi.MFLOPPerSample)
	input := mi.InputEncoding
	switch mi.InputEncoding {
	case causalconv.InputOneHot:
		input = "onehot (a causal conv over one-hot μ-law classes)"
	case causalconv.InputEmbedding:
		input = "embedding (a lookup of the μ-law class)"
	}
	fmt.Fprintf(w, "Input      : %s\n", input)
	fmt.Fprintf(w, "Config     : %s\n", strings.Join(configFields(mi.Config), ", "))
	if mi.Audio != nil {
		fmt.Fprintf(w, "Audio      : %s\n", describeAudio(*mi.Audio))
	} else {
		fmt.Fprintf(w, "Audio      : unknown\n")
	}
	if mi.AudioAssumed != "" {
		fmt.Fprintf(w, "             (%s)\n", mi.AudioAssumed)
	}
	fmt.Fprintf(w, "Speakers   : %s\n", describeSpeakers(mi.Speakers, mi.SpeakerCount))
	if mi.SpeakerNote != "" {
		fmt.Fprintf(w, "             (%s)\n", mi.SpeakerNote)
	}
	if mi.Training != nil {
		printTraining(w, mi.Training)
	}
	if b := mi.Best; b != nil {
		fmt.Fprintf(w, "Best       : %.4f validation bits/sample at step %d\n", b.ValBits, b.Step)
	}
	if d := mi.TrainData; d != nil {
		fmt.Fprintf(w, "Data       : %s\n", describeDataSource(*d))
	}
	switch {
	case mi.Resumable:
		fmt.Fprintf(w, "Resumable  : yes (training state and optimizer state)\n")
	case mi.ResumeProblem != "":
		fmt.Fprintf(w, "Resumable  : no (%s)\n", mi.ResumeProblem)
	default:
		fmt.Fprintf(w, "Resumable  : no (no training state; only last.safetensors and step-NNNNNN.safetensors have it)\n")
	}
}

// printTraining prints the training state of a checkpoint.
func printTraining(w io.Writer, t *train.TrainingInfo) {
	o := t.Options
	line := fmt.Sprintf("step %d of %d, %d updates", t.Step, o.Steps, t.Updates)
	if t.SkippedSteps > 0 {
		line += fmt.Sprintf(" (%d non-finite steps skipped)", t.SkippedSteps)
	}
	if t.LRScale != 1 {
		line += fmt.Sprintf(", learning rate scaled by %g", t.LRScale)
	}
	line += ", trained " + hoursMinutes(t.Seconds)
	if t.Ranks > 1 {
		line += fmt.Sprintf(", %d processes", t.Ranks)
	} else if t.Ranks == 1 {
		line += ", 1 process"
	}
	fmt.Fprintf(w, "Training   : %s\n", line)
	fmt.Fprintf(w, "Optimizer  : %s\n", describeOptimizer(o))
	fmt.Fprintf(w, "Settings   : %d files × ≤%d samples, chunk %d, %s, seed %d, validation every %d steps, snapshots every %d\n",
		o.Batch, o.Crop, o.Chunk, o.Precision, o.Seed, o.EvalEvery, o.SaveEvery)
	val := "none yet"
	if t.BestValBits != nil {
		val = fmt.Sprintf("best %.4f bits/sample at step %d", *t.BestValBits, t.BestStep)
		if t.LastValBits != nil {
			val += fmt.Sprintf(", last %.4f", *t.LastValBits)
		}
	}
	fmt.Fprintf(w, "Validation : %s\n", val)
	fmt.Fprintf(w, "Train set  : %d files, %d samples\n", t.TrainFiles, t.TrainSamples)
}

// describeAudio says how audio is prepared, in words.
func describeAudio(s audio.Settings) string {
	parts := []string{fmt.Sprintf("%d Hz", s.SampleRate)}
	if s.Channel > 0 {
		parts = append(parts, fmt.Sprintf("channel %d", s.Channel))
	} else {
		parts = append(parts, "channels averaged")
	}
	if s.Resample {
		parts = append(parts, "other rates resampled")
	} else {
		parts = append(parts, "other rates refused")
	}
	if s.RemoveDC {
		parts = append(parts, "DC removed")
	}
	switch s.Normalize {
	case audio.NormalizePeak:
		parts = append(parts, fmt.Sprintf("peak scaled to %g", s.PeakLevel))
	case audio.NormalizeRMS:
		parts = append(parts, fmt.Sprintf("RMS scaled to %g (peak at most %g)", s.RMSLevel, s.PeakLevel))
	default:
		parts = append(parts, "level kept")
	}
	if s.TrimDB != 0 {
		parts = append(parts, fmt.Sprintf("trimmed below %g dBFS", s.TrimDB))
	}
	parts = append(parts, fmt.Sprintf("μ-law with %d classes", s.Quantization))
	return strings.Join(parts, ", ")
}

// describeSpeakers lists a model's speakers, at most maxListedSpeakers of
// them; count is the size of its table where the names are missing.
func describeSpeakers(names []string, count int) string {
	if names == nil {
		if count > 0 {
			return fmt.Sprintf("%s, unnamed", plural(count, "speaker"))
		}
		return "none (unconditioned)"
	}
	shown, more := names, ""
	if len(names) > maxListedSpeakers {
		shown, more = names[:maxListedSpeakers], ", …"
	}
	list := ""
	if len(shown) > 0 {
		list = ": " + strings.Join(shown, ", ") + more
	}
	return plural(len(names), "speaker") + list
}

// describeOptimizer says which optimizer and schedule a run trains with.
func describeOptimizer(o train.Options) string {
	s := fmt.Sprintf("%s, lr %g", o.Optimizer, o.LR)
	switch o.Optimizer {
	case train.Adam:
		s += fmt.Sprintf(", betas (%g, %g), eps %g", o.Beta1, o.Beta2, o.Epsilon)
	case train.SGD:
		s += fmt.Sprintf(", momentum %g", o.Momentum)
		if o.Nesterov {
			s += " (Nesterov)"
		}
	}
	if o.WeightDecay > 0 {
		s += fmt.Sprintf(", weight decay %g", o.WeightDecay)
	}
	s += fmt.Sprintf("; warm-up %d, decay %s", o.Warmup, o.Decay)
	if o.Decay == train.DecayCosine {
		s += fmt.Sprintf(" to %g×", o.LRFloor)
	}
	if o.Clip > 0 {
		s += fmt.Sprintf(", clip %g", o.Clip)
	}
	return s
}

// describeDataSource says what a run trained and validated on.
func describeDataSource(d modelfile.TrainData) string {
	s := d.Data
	if s == "" {
		s = "unknown"
	}
	switch {
	case d.ValData != "" && d.ValSplit != "":
		s += fmt.Sprintf("; validation on split %s of %s", d.ValSplit, d.ValData)
	case d.ValData != "":
		s += "; validation on " + d.ValData
	case d.ValSplit != "":
		s += "; validation on split " + d.ValSplit
	default:
		s += "; validation on the default split (the first of " + strings.Join(launch.ValSplitNames, ", ") + " present)"
	}
	if d.ValSamples > 0 {
		s += fmt.Sprintf(", at most about %d samples", d.ValSamples)
	}
	return s
}
