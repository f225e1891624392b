package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/safetensors"
	"github.com/nextsample/nextsample/train"
	"github.com/nextsample/nextsample/train/launch"
)

// trainStateFormat is the format tag of a checkpoint's "train" metadata
// (train's stateFormat, which is unexported).
const trainStateFormat = "nextsample-train/v1"

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

// modelInfo is one line of `model --json`.
type modelInfo struct {
	Path string `json:"path"`
	// Kind is "checkpoint" (training state: last.safetensors,
	// step-NNNNNN.safetensors), "best" (best.safetensors) or "model"
	// (neither: convert's output, a PyTorch export).
	Kind      string `json:"kind"`
	SizeBytes int64  `json:"size_bytes"`
	// Step is the training step of the weights: the checkpoint's step, or
	// the best step; null for a file without either.
	Step *int64 `json:"step"`

	Config           json.RawMessage `json:"config"` // the "model" object of config.json
	Layers           int             `json:"layers"`
	ReceptiveField   int             `json:"receptive_field"`    // samples
	ReceptiveFieldMS *float64        `json:"receptive_field_ms"` // null when the sample rate is unknown
	Parameters       int             `json:"parameters"`
	MFLOPPerSample   float64         `json:"mflop_per_sample"` // per trained sample: FLOPs().Train()/1e6
	InputEncoding    string          `json:"input_encoding"`

	SampleRate *int            `json:"sample_rate"` // null when unknown
	Audio      *audio.Settings `json:"audio"`       // null when the sample rate is unknown
	// AudioAssumed says which settings were taken for a file without
	// "audio" metadata, or why none could be.
	AudioAssumed string `json:"audio_assumed,omitempty"`

	// Speakers are the names of the "speakers" metadata (null without
	// one); SpeakerCount is the size of the model's speaker table
	// (global_condition), else the number of names; SpeakerNote says
	// where the two disagree.
	Speakers     []string `json:"speakers"`
	SpeakerCount int      `json:"speaker_count"`
	SpeakerNote  string   `json:"speaker_note,omitempty"`

	Training  *trainingInfo  `json:"training,omitempty"`
	Best      *bestInfo      `json:"best,omitempty"`
	TrainData *launch.Source `json:"train_data,omitempty"`

	// Resumable means the file has the training state and every optimizer
	// buffer that --resume needs; ResumeProblem says what is missing in a
	// checkpoint that is not.
	Resumable        bool   `json:"resumable"`
	ResumeProblem    string `json:"resume_problem,omitempty"`
	OptimizerTensors int    `json:"optimizer_tensors"`
	OptimizerBytes   int64  `json:"optimizer_bytes"`
	ParameterBytes   int64  `json:"parameter_bytes"`
}

// trainingInfo is the training state of a checkpoint ("train" metadata).
type trainingInfo struct {
	Step         int64    `json:"step"`
	Updates      int64    `json:"updates"`
	SkippedSteps int64    `json:"skipped_steps"`
	LRScale      float64  `json:"lr_scale"`
	Seconds      float64  `json:"seconds"`
	BestValBits  *float64 `json:"best_val_bits"`
	BestStep     int64    `json:"best_step"`
	LastValBits  *float64 `json:"last_val_bits"`
	// Ranks is the number of processes of the run; 0 when the checkpoint
	// does not record it (older versions, which ran one).
	Ranks        int           `json:"ranks,omitempty"`
	TrainFiles   int           `json:"train_files"`
	TrainSamples int64         `json:"train_samples"`
	DataKey      string        `json:"data_key,omitempty"`
	Options      train.Options `json:"options"`
}

// bestInfo is the "best" metadata of best.safetensors.
type bestInfo struct {
	Step    int64   `json:"step"`
	ValBits float64 `json:"val_bits"`
}

// trainState is the part of train's "train" metadata that model reads.
type trainState struct {
	Format   string        `json:"format"`
	Step     int64         `json:"step"`
	Updates  int64         `json:"updates"`
	LRScale  float64       `json:"lr_scale"`
	Skipped  int64         `json:"skipped_steps"`
	Seconds  float64       `json:"seconds"`
	BestVal  *float64      `json:"best_val_bits"`
	BestStep int64         `json:"best_step"`
	LastVal  *float64      `json:"last_val_bits"`
	Options  train.Options `json:"options"`
	Data     struct {
		Files   int    `json:"train_files"`
		Samples int64  `json:"train_samples"`
		Key     string `json:"key"`
	} `json:"data"`
	Ranks int `json:"ranks"`
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
		mi, err := describeModel(path, rate)
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

// describeModel reads a model file. rate is the sample rate to assume for
// a file that records none (0: unknown). Errors do not all name the file.
func describeModel(path string, rate int) (*modelInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, errors.New("is a directory (a run directory holds last.safetensors and best.safetensors)")
	}
	sf, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := causalconv.Decode(sf)
	if err != nil {
		return nil, err
	}
	m := f.Model
	for _, t := range m.Tensors() {
		for _, v := range m.Params[t.Offset : t.Offset+t.Size] {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("parameter tensor %s is not finite", t.Name)
			}
		}
	}
	cfg, err := m.ConfigJSON()
	if err != nil {
		return nil, err
	}
	mi := &modelInfo{
		Path: path, Kind: "model", SizeBytes: st.Size(),
		Config: json.RawMessage(cfg), Layers: m.Config.Layers(), ReceptiveField: m.Config.ReceptiveField(),
		Parameters: m.NumParams(), MFLOPPerSample: float64(m.Config.FLOPs().Train()) / 1e6, InputEncoding: m.Config.InputEncoding,
	}
	for _, t := range sf.Tensors {
		mi.ParameterBytes += int64(len(t.Data))
	}
	for _, t := range f.Extra {
		mi.ParameterBytes -= int64(len(t.Data))
	}

	// Audio: as eval, generate and features find it (train.ModelAudio),
	// but --sample-rate only for a file that records no rate.
	_, hasAudio := f.Metadata[train.MetaAudio]
	_, hasRate := f.Metadata[train.MetaSampleRate]
	if hasAudio || hasRate || rate > 0 {
		r := rate
		if hasAudio || hasRate {
			r = 0
		}
		s, assumed, err := train.ModelAudio(f.Metadata, m, r)
		if err != nil {
			return nil, err
		}
		ms := 1000 * float64(mi.ReceptiveField) / float64(s.SampleRate)
		mi.Audio, mi.SampleRate, mi.ReceptiveFieldMS, mi.AudioAssumed = &s, &s.SampleRate, &ms, assumed
	} else {
		mi.AudioAssumed = fmt.Sprintf("no %q or %q metadata: the sample rate is unknown (give --sample-rate HZ)", train.MetaAudio, train.MetaSampleRate)
	}

	if raw, ok := f.Metadata[train.MetaSpeakers]; ok {
		var names []string
		if err := json.Unmarshal([]byte(raw), &names); err != nil || names == nil {
			return nil, fmt.Errorf("metadata %q is not a JSON list of speaker names", train.MetaSpeakers)
		}
		mi.Speakers, mi.SpeakerCount = names, len(names)
	}
	// The model's speaker table (global_condition) and the names in the
	// metadata should agree; a file where they do not is still described.
	switch n := m.Config.Speakers(); {
	case n > 0 && mi.Speakers == nil:
		mi.SpeakerCount, mi.SpeakerNote = n, fmt.Sprintf("the model is conditioned on %d speakers, but the metadata has no %q list naming them", n, train.MetaSpeakers)
	case n > 0 && n != len(mi.Speakers):
		mi.SpeakerCount, mi.SpeakerNote = n, fmt.Sprintf("the model's speaker table has %d entries, but the metadata names %d", n, len(mi.Speakers))
	case n == 0 && mi.Speakers != nil:
		mi.SpeakerNote = "the metadata names speakers, but the model has no global_condition: it is not conditioned on them"
	}

	if raw, ok := f.Metadata[launch.MetaSource]; ok {
		var src launch.Source
		if err := json.Unmarshal([]byte(raw), &src); err != nil {
			return nil, fmt.Errorf("metadata %q: %w", launch.MetaSource, err)
		}
		mi.TrainData = &src
	}
	if raw, ok := f.Metadata[train.MetaBest]; ok {
		var b bestInfo
		if err := json.Unmarshal([]byte(raw), &b); err != nil {
			return nil, fmt.Errorf("metadata %q: %w", train.MetaBest, err)
		}
		mi.Best, mi.Kind, mi.Step = &b, "best", &b.Step
	}
	for _, t := range f.Extra {
		if strings.HasPrefix(t.Name, "train/") {
			mi.OptimizerTensors++
			mi.OptimizerBytes += int64(len(t.Data))
		}
	}
	if raw, ok := f.Metadata[train.MetaTrain]; ok {
		var ts trainState
		if err := json.Unmarshal([]byte(raw), &ts); err != nil {
			return nil, fmt.Errorf("training state (metadata %q): %w", train.MetaTrain, err)
		}
		if ts.Format != trainStateFormat {
			return nil, fmt.Errorf("training state format %q, want %q", ts.Format, trainStateFormat)
		}
		mi.Kind, mi.Step = "checkpoint", &ts.Step
		mi.Training = &trainingInfo{Step: ts.Step, Updates: ts.Updates, SkippedSteps: ts.Skipped, LRScale: ts.LRScale, Seconds: ts.Seconds,
			BestValBits: ts.BestVal, BestStep: ts.BestStep, LastValBits: ts.LastVal, Ranks: ts.Ranks,
			TrainFiles: ts.Data.Files, TrainSamples: ts.Data.Samples, DataKey: ts.Data.Key, Options: ts.Options}
		mi.ResumeProblem = resumeProblem(f, ts.Options)
		mi.Resumable = mi.ResumeProblem == ""
	}
	return mi, nil
}

// resumeProblem says why a checkpoint trained with o cannot be resumed
// (as train.Resume would find), or returns "".
func resumeProblem(f *causalconv.File, o train.Options) string {
	if err := o.Validate(); err != nil {
		return "stored options: " + err.Error()
	}
	var opt train.Optimizer
	var err error
	switch o.Optimizer {
	case train.SGD:
		opt, err = train.NewSGD(1, train.SGDOptions{Momentum: o.Momentum, Nesterov: o.Nesterov, WeightDecay: o.WeightDecay})
	case train.Adam:
		opt, err = train.NewAdam(1, train.AdamOptions{Beta1: o.Beta1, Beta2: o.Beta2, Epsilon: o.Epsilon, WeightDecay: o.WeightDecay})
	default:
		return fmt.Sprintf("optimizer %q is unknown", o.Optimizer)
	}
	if err != nil {
		return "stored options: " + err.Error()
	}
	missing := 0
	first := ""
	for _, b := range opt.State() {
		for _, t := range f.Model.Tensors() {
			name := "train/" + b.Name + "." + t.Name
			st := f.ExtraTensor(name)
			switch {
			case st == nil:
				if missing == 0 {
					first = name + " missing"
				}
				missing++
			case !slices.Equal(st.Shape, t.Shape):
				if missing == 0 {
					first = fmt.Sprintf("%s has shape %v, want %v", name, st.Shape, t.Shape)
				}
				missing++
			}
		}
	}
	switch {
	case missing == 1:
		return "optimizer state " + first
	case missing > 1:
		return fmt.Sprintf("optimizer state %s (and %d more)", first, missing-1)
	}
	return ""
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

func printModelText(w io.Writer, mi *modelInfo) {
	kind := map[string]string{
		"checkpoint": "training checkpoint",
		"best":       "best model of a training run",
		"model":      "model without training state",
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
	if t := mi.Training; t != nil {
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

func describeDataSource(d launch.Source) string {
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
