package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/nextsample/nextsample/audio"
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
// a line of `nextsample model --json`.
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
	if mi.Best, err = modelfile.ReadBest(f.Metadata); err != nil {
		return nil, err
	}
	if mi.Best != nil {
		mi.Kind, mi.Step = KindBest, &mi.Best.Step
	}
	for _, t := range f.Extra {
		if strings.HasPrefix(t.Name, optimizerPrefix) {
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
	switch p := optimizerProblems(f, opt); len(p) {
	case 0:
		return ""
	case 1:
		return "optimizer state " + p[0].String()
	default:
		return fmt.Sprintf("optimizer state %s (and %d more)", p[0], len(p)-1)
	}
}
