package train

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/audio/humanize"
	"github.com/nextsample/nextsample/audio/kaldifeat"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/modelfile"
	"github.com/nextsample/nextsample/causalconv/safetensors"
)

// Kinds of model file, as ModelInfo.Kind says.
const (
	// KindCheckpoint has training state (last.safetensors,
	// step-NNNNNN.safetensors).
	KindCheckpoint = "checkpoint"
	// KindBest is a run's best model (best.safetensors).
	KindBest = "best"
	// KindModel has neither: convert's output, a PyTorch export.
	KindModel = "model"
)

// ModelInfo is everything Inspect finds in a model file. Its JSON form is
// a line of `nextsample model --json`; WriteText writes its text form.
type ModelInfo struct {
	Path string `json:"path"`
	// Kind is KindCheckpoint, KindBest or KindModel.
	Kind      string `json:"kind"`
	SizeBytes int64  `json:"size_bytes"`
	// Step is the training step of the weights: the checkpoint's step, or
	// the best step; nil for a file without either.
	Step *int64 `json:"step"`

	Config           json.RawMessage `json:"config"` // the "model" object of config.json
	Layers           int             `json:"layers"`
	ReceptiveField   int             `json:"receptive_field"`    // samples
	ReceptiveFieldMS *float64        `json:"receptive_field_ms"` // nil when the sample rate is unknown
	Parameters       int             `json:"parameters"`
	MFLOPPerSample   float64         `json:"mflop_per_sample"` // per trained sample: FLOPs().Train()/1e6
	InputEncoding    string          `json:"input_encoding"`

	SampleRate *int            `json:"sample_rate"` // nil when unknown
	Audio      *audio.Settings `json:"audio"`       // nil when the sample rate is unknown
	// AudioAssumed says which settings were taken for a file without
	// "audio" metadata, or why none could be.
	AudioAssumed string `json:"audio_assumed,omitempty"`

	// Speakers are the names of the "speakers" metadata (nil without
	// one); SpeakerCount is the size of the model's speaker table
	// (global_condition), else the number of names; SpeakerNote says
	// where the two disagree.
	Speakers     []string `json:"speakers"`
	SpeakerCount int      `json:"speaker_count"`
	SpeakerNote  string   `json:"speaker_note,omitempty"`

	// Features are the settings a locally conditioned model's features
	// are computed with (the "features" metadata; nil without one, and
	// for other models), and LocalCondition its conditioning (nil for
	// other models).
	Features       *kaldifeat.Config          `json:"features,omitempty"`
	LocalCondition *causalconv.LocalCondition `json:"local_condition,omitempty"`

	Training  *TrainingInfo        `json:"training,omitempty"`
	Best      *modelfile.Best      `json:"best,omitempty"`
	TrainData *modelfile.TrainData `json:"train_data,omitempty"`

	// Resumable means the file has the training state and every optimizer
	// buffer that Resume needs; ResumeProblem says what is missing in a
	// checkpoint that is not.
	Resumable        bool   `json:"resumable"`
	ResumeProblem    string `json:"resume_problem,omitempty"`
	OptimizerTensors int    `json:"optimizer_tensors"`
	OptimizerBytes   int64  `json:"optimizer_bytes"`
	ParameterBytes   int64  `json:"parameter_bytes"`
	// RawWeightBytes are the raw weights of a checkpoint of a run with a
	// moving average (Options.EMA), whose model tensors are the average
	// (0 for other files).
	RawWeightBytes int64 `json:"raw_weight_bytes,omitempty"`
	// InitFrom is the model file the run started from (nil: random
	// weights, or not recorded).
	InitFrom *modelfile.InitFrom `json:"init_from,omitempty"`
}

// TrainingInfo is the training state of a checkpoint, as far as a person
// wants to know it.
type TrainingInfo struct {
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
	Ranks        int     `json:"ranks,omitempty"`
	TrainFiles   int     `json:"train_files"`
	TrainSamples int64   `json:"train_samples"`
	DataKey      string  `json:"data_key,omitempty"`
	Options      Options `json:"options"`
}

// InspectOptions says how Inspect treats a file that records no sample
// rate.
type InspectOptions struct {
	// SampleRate is the rate in Hz to take for a file that records
	// neither "audio" nor "sample_rate" metadata (0: unknown); a file
	// that records its own keeps it.
	SampleRate int
	// RateFlag is how ModelInfo.AudioAssumed names the way to give a rate
	// (a command's flag, say "--sample-rate"); "" says "the rate given".
	RateFlag string
}

// Inspect reads the model file at path and describes it: architecture,
// audio settings (as eval, generate and features find them), speakers,
// training state and whether Resume can continue it, and sizes. A file
// that Load would refuse is an error (which need not name the file); one
// whose metadata disagree among themselves (speaker names against the
// speaker table, a checkpoint without its optimizer state) is described,
// with a note.
func Inspect(path string, o InspectOptions) (*ModelInfo, error) {
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
	f, err := modelfile.Decode(sf)
	if err != nil {
		return nil, err
	}
	m := f.Model
	if err := modelfile.CheckFinite(m); err != nil {
		return nil, err
	}
	cfg, err := modelfile.ConfigJSON(m.Config)
	if err != nil {
		return nil, err
	}
	mi := &ModelInfo{
		Path: path, Kind: KindModel, SizeBytes: st.Size(),
		Config: json.RawMessage(cfg), Layers: m.Config.Layers(), ReceptiveField: m.Config.ReceptiveField(),
		Parameters: m.NumParams(), MFLOPPerSample: float64(m.Config.FLOPs().Train()) / 1e6, InputEncoding: m.Config.InputEncoding,
	}
	for _, t := range sf.Tensors {
		mi.ParameterBytes += int64(len(t.Data))
	}
	for _, t := range f.Extra {
		mi.ParameterBytes -= int64(len(t.Data))
	}
	if err := mi.inspectAudio(f, o); err != nil {
		return nil, err
	}
	if mi.Speakers, mi.SpeakerCount, mi.SpeakerNote, err = modelfile.DescribeSpeakers(f.Metadata, m.Config); err != nil {
		return nil, err
	}
	if mi.TrainData, err = modelfile.ReadTrainData(f.Metadata); err != nil {
		return nil, err
	}
	mi.LocalCondition = m.Config.LocalCondition
	if mi.Features, err = modelfile.Features(f.Metadata, m.Config); err != nil {
		return nil, err
	}
	if mi.Best, err = modelfile.ReadBest(f.Metadata); err != nil {
		return nil, err
	}
	if mi.Best != nil {
		mi.Kind, mi.Step = KindBest, &mi.Best.Step
	}
	if mi.InitFrom, err = modelfile.ReadInitFrom(f.Metadata); err != nil {
		return nil, err
	}
	for _, t := range f.Extra {
		if strings.HasPrefix(t.Name, optimizerPrefix+rawBuffer+".") {
			mi.RawWeightBytes += int64(len(t.Data))
		} else if strings.HasPrefix(t.Name, optimizerPrefix) {
			mi.OptimizerTensors++
			mi.OptimizerBytes += int64(len(t.Data))
		}
	}
	if raw, ok := f.Metadata[modelfile.KeyTrain]; ok {
		ts, err := decodeState(raw)
		if err != nil {
			return nil, err
		}
		mi.Kind, mi.Step = KindCheckpoint, &ts.Step
		mi.Training = &TrainingInfo{Step: ts.Step, Updates: ts.Updates, SkippedSteps: ts.Skipped, LRScale: ts.LRScale, Seconds: ts.Seconds,
			BestValBits: ts.BestVal, BestStep: ts.BestStep, LastValBits: ts.LastVal, Ranks: ts.Ranks,
			TrainFiles: ts.Data.Files, TrainSamples: ts.Data.Samples, DataKey: ts.Data.Key, Options: ts.Options}
		mi.ResumeProblem = resumeProblem(f, ts.Options)
		mi.Resumable = mi.ResumeProblem == ""
	}
	return mi, nil
}

// inspectAudio finds the audio settings as eval, generate and features
// do (modelfile.ModelAudio), but with o.SampleRate only for a file that
// records no rate; without any, the rate is unknown, which is not an
// error here.
func (mi *ModelInfo) inspectAudio(f *modelfile.File, o InspectOptions) error {
	_, hasAudio := f.Metadata[modelfile.KeyAudio]
	_, hasRate := f.Metadata[modelfile.KeySampleRate]
	if !hasAudio && !hasRate && o.SampleRate <= 0 {
		give := "give the rate"
		if o.RateFlag != "" {
			give = "give " + o.RateFlag + " HZ"
		}
		mi.AudioAssumed = fmt.Sprintf("no %q or %q metadata: the sample rate is unknown (%s)", modelfile.KeyAudio, modelfile.KeySampleRate, give)
		return nil
	}
	r := o.SampleRate
	if hasAudio || hasRate {
		r = 0
	}
	s, assumed, err := modelfile.ModelAudio(f.Metadata, f.Model, r)
	if err != nil {
		return err
	}
	if assumed != nil {
		given := o.RateFlag
		if given == "" {
			given = "the rate given"
		}
		mi.AudioAssumed = assumed.Describe(given)
	}
	ms := 1000 * float64(mi.ReceptiveField) / float64(s.SampleRate)
	mi.Audio, mi.SampleRate, mi.ReceptiveFieldMS = &s, &s.SampleRate, &ms
	return nil
}

// resumeProblem says why a checkpoint trained with o cannot be resumed
// (as Resume would find), or returns "".
func resumeProblem(f *modelfile.File, o Options) string {
	if err := o.Validate(); err != nil {
		return "stored options: " + err.Error()
	}
	opt, err := o.newOptimizer(1)
	if err != nil { // Validate has made it
		return "stored options: " + err.Error()
	}
	p := optimizerProblems(f, opt)
	if o.EMA > 0 {
		p = append(p, rawProblems(f)...)
	}
	switch len(p) {
	case 0:
		return ""
	case 1:
		return "optimizer state " + p[0].String()
	default:
		return fmt.Sprintf("optimizer state %s (and %d more)", p[0], len(p)-1)
	}
}

// maxListedSpeakers is how many speaker names the text form lists.
const maxListedSpeakers = 20

// WriteText writes m for people, a field a line, as `nextsample model`
// prints it: the file and its kind, sizes, the architecture (every field
// of the configuration, so that a field added to causalconv.Config shows
// without changes here), the audio settings, the speakers, then what the
// file has of training state, best model and training data, and whether
// Resume can continue it. For the last checkpoint of a short run:
//
//	File       : runs/fsdd/last.safetensors (training checkpoint)
//	Size       : 4.8 MiB (4981328 bytes); parameters 1.6 MiB, optimizer state 3.1 MiB in 248 tensors
//	Model      : 20 layers, receptive field 2047 samples (255.9 ms at 8000 Hz), 412032 parameters, 2.41 MFLOP per trained sample
//	Input      : onehot (a causal conv over one-hot μ-law classes)
//	Config     : quantization_channels 256, input_encoding onehot, input_kernel_size 1, …, residual_on_last_layer false
//	Audio      : 8000 Hz, channel 1, other rates resampled, DC removed, peak scaled to 0.95, μ-law with 256 classes
//	Speakers   : none (unconditioned)
//	Training   : step 2 of 2, 2 updates, trained 3.818 s, 1 process
//	Optimizer  : adam, lr 0.001, betas (0.9, 0.999), eps 1e-08; warm-up 0, decay constant
//	Settings   : 2 files × ≤4000 samples, chunk 4096, fp32, seed 1, validation every 2 steps, snapshots every 2
//	Validation : best 8.0085 bits/sample at step 0, last 8.0086
//	Train set  : 200 files, 649285 samples
//	Data       : /data/fsdd/manifest.csv; validation on the default split (the first of valid, validation, dev, test present)
//	Resumable  : yes (training state and optimizer state)
func (m *ModelInfo) WriteText(w io.Writer) error {
	kind := map[string]string{
		KindCheckpoint: "training checkpoint",
		KindBest:       "best model of a training run",
		KindModel:      "model without training state",
	}[m.Kind]
	var b strings.Builder
	fmt.Fprintf(&b, "File       : %s (%s)\n", m.Path, kind)
	fmt.Fprintf(&b, "Size       : %s\n", m.describeSize())
	rf := fmt.Sprintf("%d samples", m.ReceptiveField)
	if m.ReceptiveFieldMS != nil {
		rf += fmt.Sprintf(" (%.1f ms at %d Hz)", *m.ReceptiveFieldMS, *m.SampleRate)
	}
	fmt.Fprintf(&b, "Model      : %d layers, receptive field %s, %d parameters, %.2f MFLOP per trained sample\n",
		m.Layers, rf, m.Parameters, m.MFLOPPerSample)
	fmt.Fprintf(&b, "Input      : %s\n", describeInput(m.InputEncoding))
	fmt.Fprintf(&b, "Config     : %s\n", strings.Join(configFields(m.Config), ", "))
	if m.Audio != nil {
		fmt.Fprintf(&b, "Audio      : %s\n", m.Audio.Describe())
	} else {
		fmt.Fprintf(&b, "Audio      : unknown\n")
	}
	if m.AudioAssumed != "" {
		fmt.Fprintf(&b, "             (%s)\n", m.AudioAssumed)
	}
	fmt.Fprintf(&b, "Speakers   : %s\n", describeSpeakers(m.Speakers, m.SpeakerCount))
	if m.SpeakerNote != "" {
		fmt.Fprintf(&b, "             (%s)\n", m.SpeakerNote)
	}
	if m.LocalCondition != nil {
		fmt.Fprintf(&b, "Features   : %s\n", describeFeatures(m.LocalCondition, m.Features))
	}
	if m.Training != nil {
		m.Training.writeText(&b)
	}
	if bm := m.Best; bm != nil {
		fmt.Fprintf(&b, "Best       : %.4f validation bits/sample at step %d\n", bm.ValBits, bm.Step)
	}
	if d := m.TrainData; d != nil {
		fmt.Fprintf(&b, "Data       : %s\n", describeTrainData(*d))
	}
	if f := m.InitFrom; f != nil {
		fmt.Fprintf(&b, "Init from  : %s (sha256 %s)\n", f.Path, f.SHA256)
	}
	switch {
	case m.Resumable:
		fmt.Fprintf(&b, "Resumable  : yes (training state and optimizer state)\n")
	case m.ResumeProblem != "":
		fmt.Fprintf(&b, "Resumable  : no (%s)\n", m.ResumeProblem)
	default:
		fmt.Fprintf(&b, "Resumable  : no (no training state; only %s and step-NNNNNN.safetensors have it)\n", LastFile)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// describeSize says how big the file is and what takes the room.
func (m *ModelInfo) describeSize() string {
	size := humanize.Bytes(m.SizeBytes)
	if m.SizeBytes >= 1<<10 {
		size += fmt.Sprintf(" (%d bytes)", m.SizeBytes)
	}
	size += "; parameters " + humanize.Bytes(m.ParameterBytes)
	if m.OptimizerTensors > 0 {
		size += fmt.Sprintf(", optimizer state %s in %d tensors", humanize.Bytes(m.OptimizerBytes), m.OptimizerTensors)
	}
	if m.RawWeightBytes > 0 {
		size += fmt.Sprintf(", raw weights %s (the parameters are their moving average)", humanize.Bytes(m.RawWeightBytes))
	}
	return size
}

// describeInput says what an input encoding (causalconv.Config's
// InputEncoding) does.
func describeInput(encoding string) string {
	switch encoding {
	case causalconv.InputOneHot:
		return "onehot (a causal conv over one-hot μ-law classes)"
	case causalconv.InputEmbedding:
		return "embedding (a lookup of the μ-law class)"
	}
	return encoding
}

// configFields lists the fields of a config's JSON object in order, each
// as "name value" (strings unquoted).
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
		if t == "local_condition" {
			val = withoutStats(v) // the Features line describes it
		}
		out = append(out, fmt.Sprintf("%v %s", t, val))
	}
	return out
}

// withoutStats returns a local_condition object without its mean and std
// arrays, which are as long as its channels: "(mean, std)" marks them.
func withoutStats(v json.RawMessage) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(v, &m) != nil {
		return string(v)
	}
	_, stats := m["mean"]
	delete(m, "mean")
	delete(m, "std")
	b, err := json.Marshal(m)
	if err != nil {
		return string(v)
	}
	if stats {
		return string(b) + " (mean, std)"
	}
	return string(b)
}

// writeText writes the lines of ModelInfo.WriteText for the training
// state of a checkpoint.
func (t *TrainingInfo) writeText(b *strings.Builder) {
	o := t.Options
	line := fmt.Sprintf("step %d of %d, %d updates", t.Step, o.Steps, t.Updates)
	if t.SkippedSteps > 0 {
		line += fmt.Sprintf(" (%d non-finite steps skipped)", t.SkippedSteps)
	}
	if t.LRScale != 1 {
		line += fmt.Sprintf(", learning rate scaled by %g", t.LRScale)
	}
	line += ", trained " + humanize.HoursMinutes(t.Seconds)
	if t.Ranks > 1 {
		line += fmt.Sprintf(", %d processes", t.Ranks)
	} else if t.Ranks == 1 {
		line += ", 1 process"
	}
	fmt.Fprintf(b, "Training   : %s\n", line)
	fmt.Fprintf(b, "Optimizer  : %s\n", describeOptimizer(o))
	fmt.Fprintf(b, "Settings   : %d files × ≤%d samples, chunk %d, %s, seed %d, validation every %d steps, snapshots every %d\n",
		o.Batch, o.Crop, o.Chunk, o.Precision, o.Seed, o.EvalEvery, o.SaveEvery)
	val := "none yet"
	if t.BestValBits != nil {
		val = fmt.Sprintf("best %.4f bits/sample at step %d", *t.BestValBits, t.BestStep)
		if t.LastValBits != nil {
			val += fmt.Sprintf(", last %.4f", *t.LastValBits)
		}
	}
	fmt.Fprintf(b, "Validation : %s\n", val)
	fmt.Fprintf(b, "Train set  : %d files, %d samples\n", t.TrainFiles, t.TrainSamples)
}

// describeSpeakers lists a model's speakers, at most maxListedSpeakers of
// them; count is the size of its table where the names are missing.
func describeSpeakers(names []string, count int) string {
	if names == nil {
		if count > 0 {
			return fmt.Sprintf("%s, unnamed", humanize.Count(count, "speaker"))
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
	return humanize.Count(len(names), "speaker") + list
}

// describeOptimizer says which optimizer and schedule a run trains with,
// with every setting that applies to it.
func describeOptimizer(o Options) string {
	s := fmt.Sprintf("%s, lr %g", o.Optimizer, o.LR)
	switch o.Optimizer {
	case Adam:
		s += fmt.Sprintf(", betas (%g, %g), eps %g", o.Beta1, o.Beta2, o.Epsilon)
	case SGD:
		s += fmt.Sprintf(", momentum %g", o.Momentum)
		if o.Nesterov {
			s += " (Nesterov)"
		}
	}
	if o.WeightDecay > 0 {
		s += fmt.Sprintf(", weight decay %g", o.WeightDecay)
	}
	s += fmt.Sprintf("; warm-up %d, decay %s", o.Warmup, o.Decay)
	if o.Decay == DecayCosine {
		s += fmt.Sprintf(" to %g×", o.LRFloor)
	}
	if o.Clip > 0 {
		s += fmt.Sprintf(", clip %g", o.Clip)
	}
	if o.EMA > 0 {
		s += fmt.Sprintf("; weights averaged, decay %g", o.EMA)
	}
	return s
}

// describeTrainData says what a run trained and validated on.
// describeFeatures says what a locally conditioned model's features are
// and how they are computed:
//
//	40 dims per 80-sample hop (window 200, snip edges), upsampled 4·4·5, context 2; Kaldi fbank, 40 mel bins, 25 ms every 10 ms, no dither
func describeFeatures(lc *causalconv.LocalCondition, k *kaldifeat.Config) string {
	frames := "snip edges"
	if !lc.SnipEdges {
		frames = "centred"
	}
	scales := make([]string, len(lc.UpsampleScales))
	for i, s := range lc.UpsampleScales {
		scales[i] = fmt.Sprint(s)
	}
	s := fmt.Sprintf("%d dims per %d-sample hop (window %d, %s), upsampled %s, context %d", lc.Channels, lc.Hop, lc.Window, frames, strings.Join(scales, "·"), lc.Context)
	if lc.Mean == nil {
		s += ", not normalised"
	}
	switch {
	case k == nil:
		return s + "; given, not computed (the file records no feature settings)"
	case k.Kind == kaldifeat.KindFbank:
		s += fmt.Sprintf("; Kaldi fbank, %d mel bins", k.NumMelBins)
	default:
		s += "; Kaldi " + k.Kind
	}
	s += fmt.Sprintf(", %g ms every %g ms", k.FrameLengthMs, k.FrameShiftMs)
	if k.Dither == 0 {
		s += ", no dither"
	}
	return s
}

func describeTrainData(d modelfile.TrainData) string {
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
		s += "; validation on the default split (the first of " + strings.Join(corpus.ValidationSplits(), ", ") + " present)"
	}
	if d.ValSamples > 0 {
		s += fmt.Sprintf(", at most about %d samples", d.ValSamples)
	}
	if d.Features != "" {
		s += "; features given in " + d.Features
	}
	return s
}
