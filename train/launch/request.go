package launch

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/modelfile"
	"github.com/nextsample/nextsample/train"
)

// Request is a training run to start, or to resume, as a user asks for
// it. A nil pointer field was not given: a new run takes its default, a
// resumed run keeps what it stored.
type Request struct {
	// Out is the run directory. A new run refuses one that holds a run;
	// Resume continues the run there from its train.LastFile.
	Out    string
	Resume bool
	// ConfigFile is the architecture of a new run: a reference
	// config.json (its base model) or a bare model object ("": the
	// default model). A resumed run, or one started from InitFrom's
	// .safetensors model, only checks that it describes that model.
	ConfigFile string
	// InitFrom, if set, starts a new run from the weights of this model
	// file rather than random ones: one of ours (.safetensors: a best,
	// last or step file, whose training state is ignored) or a PyTorch
	// state_dict (.pt, .pth; its architecture is ConfigFile's, or the
	// default model's). The run takes the model's architecture, speaker
	// table, local conditioning (its feature normalisation included) and
	// audio settings, with a fresh optimizer at step 0; the file's path
	// and SHA-256 are recorded in the run's metadata
	// (modelfile.KeyInitFrom). See Plan.initFrom.
	InitFrom string
	// Options are the training options given.
	Options OptionChanges
	// Threads is the number of worker threads (0: all cores); it does
	// not change the results, so it is never stored.
	Threads int

	// Data, ValSplit, ValData and ValSamples are the fields of the run's
	// Source given; see Source. A new run takes "" and 0 for those not
	// given, a resumed one its stored ones.
	Data, ValSplit, ValData *string
	ValSamples              *int64
	// DefaultData returns the corpus when neither Data nor a resumed
	// run names one (nil: that is an error).
	DefaultData func() (string, error)

	// Audio are the preprocessing settings given. A new run applies them
	// to audio.DefaultSettings at the training files' most common rate
	// (CommonRate); a resumed run refuses any that differ from its own.
	Audio modelfile.AudioChanges

	// Condition is how a new run is conditioned, a comma-separated list
	// ("": not at all): "speaker" on each file's speaker, with an
	// embedding of GCChannels channels; "fbank" locally, on each file's
	// Kaldi filterbank features (Fbank says which), computed from the
	// same audio as its classes; "fbank,speaker" both. A resumed run
	// keeps its model's conditioning.
	Condition  string
	GCChannels int
	Fbank      FbankOptions
	// Features, if set, are the frame features of the files (a Kaldi
	// scp file or a features folder, see GivenFeatures), read rather
	// than computed: a new run is then locally conditioned on them (with
	// Condition "speaker" or "" only), its frame window and hop those of
	// the folder's features.json, or of Fbank for an scp file. A resumed
	// run keeps the ones it was given unless this replaces them.
	Features *string

	// Comm, if set, makes the run one process of a data-parallel run.
	Comm Processes
}

// Processes are the processes of a data-parallel run (package
// train/mpi's Comm is one): the collective a run sums over, and a barrier,
// at which Plan.Open makes the others wait while rank 0 builds the class
// caches.
type Processes interface {
	train.Collective
	// Barrier returns when every process has called it.
	Barrier() error
}

// OptionChanges are the train.Options a user gave; nil fields were not
// given.
type OptionChanges struct {
	Steps                *int64
	Batch, Crop          *int
	Optimizer            *string
	LR, Momentum         *float64
	Nesterov             *bool
	WeightDecay          *float64
	Warmup               *int64
	Decay                *string
	LRFloor, Clip        *float64
	Seed                 *uint64
	EvalEvery, SaveEvery *int64
	Chunk                *int
	Precision            *causalconv.Precision
	EMA                  *float64
	SampleEvery          *int64
	SampleSeconds        *float64
	SamplePrompts        *int
}

// Apply returns base with the given options set, and threads (0: all
// cores) as its Threads.
func (c OptionChanges) Apply(base train.Options, threads int) train.Options {
	o := base
	set(&o.Precision, c.Precision)
	set(&o.Steps, c.Steps)
	set(&o.Batch, c.Batch)
	set(&o.Crop, c.Crop)
	set(&o.Optimizer, c.Optimizer)
	set(&o.LR, c.LR)
	set(&o.Momentum, c.Momentum)
	set(&o.Nesterov, c.Nesterov)
	set(&o.WeightDecay, c.WeightDecay)
	set(&o.Warmup, c.Warmup)
	set(&o.Decay, c.Decay)
	set(&o.LRFloor, c.LRFloor)
	set(&o.Clip, c.Clip)
	set(&o.Seed, c.Seed)
	set(&o.EvalEvery, c.EvalEvery)
	set(&o.SaveEvery, c.SaveEvery)
	set(&o.Chunk, c.Chunk)
	set(&o.EMA, c.EMA)
	set(&o.SampleEvery, c.SampleEvery)
	set(&o.SampleSeconds, c.SampleSeconds)
	set(&o.SamplePrompts, c.SamplePrompts)
	// Checkpoints of older versions stored no sampling settings.
	if o.SampleSeconds == 0 {
		o.SampleSeconds = train.DefaultSampleSeconds
	}
	if o.SamplePrompts == 0 {
		o.SamplePrompts = train.DefaultSamplePrompts
	}
	o.Threads = threads
	if o.Threads <= 0 {
		o.Threads = runtime.NumCPU()
	}
	return o
}

// checkAudio refuses changes c to a resumed run's preprocessing s.
func checkAudio(c modelfile.AudioChanges, s audio.Settings) error {
	if c.Apply(s) == s {
		return nil
	}
	a, _ := json.Marshal(s)
	return &train.OptionError{Before: fmt.Sprintf("the run was trained with audio settings %s; the ", a), Option: "Audio",
		After: " given differ, and a run cannot change its preprocessing"}
}

// set sets *dst to *v when v is given.
func set[T any](dst, v *T) {
	if v != nil {
		*dst = *v
	}
}

// An OpError is the failure of one of the operations a request asks for
// beyond a plain start: resuming a run (Op "resume") or conditioning a new
// one on speakers (Op "condition speaker").
type OpError struct {
	Op  string
	Err error
}

func (e *OpError) Error() string { return e.Op + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *OpError) Unwrap() error { return e.Err }
