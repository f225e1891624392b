// Package modelfile reads and writes model files: one safetensors file
// that holds a causalconv network, what is needed to use it (its
// architecture, how its audio is prepared, its speakers) and, for a
// training checkpoint, whatever the trainer stored beside it. It is the
// one place that knows the layout; training (package train), the commands
// and any Go program read and write models through it, and reading a model
// needs nothing of the trainer.
//
// # Layout
//
// A model file is a safetensors file that PyTorch reads with
// safetensors.torch.load_file:
//
//   - the parameters, float32, under the names and shapes of the
//     reference module's state_dict() (input_layer.weight,
//     filter_gate.0.weight, ...), in state_dict() order, so that
//     WaveNet.load_state_dict(strict=True) takes them as they are;
//   - extra tensors, after the parameters, with names in a namespace
//     ("train/exp_avg.input_layer.weight"), which no parameter name has:
//     a stray or misspelt parameter is never taken for one, and a PyTorch
//     user drops a namespace at once;
//   - string metadata (the safetensors __metadata__), under the keys
//     below.
//
// # Metadata
//
// Each key holds one thing, as JSON unless said otherwise:
//
//	KeyModel      the architecture: causalconv.Config, the "model" object
//	              of the reference's config.json (always present)
//	KeyAudio      the audio.Settings the model was trained with: sample
//	              rate, channel, resampling, DC removal, normalization,
//	              trimming, μ-law classes (AudioMeta, ModelAudio)
//	KeySampleRate the rate in Hz as a decimal integer, which a PyTorch
//	              user writes when exporting; read only without KeyAudio
//	KeySpeakers   a conditioned model's speaker names, in the order of
//	              the rows of gc_embedding.weight (Speakers)
//	KeyTrainData  the corpus a run trained on (TrainData)
//	KeyTrain      a resumable checkpoint's training state; package train
//	              owns its content
//	KeyBest       the step and validation bits of a run's best model
//	KeyInitFrom   the model file a run started from (path, SHA-256)
//
// A file exported from PyTorch has KeyModel and perhaps KeySampleRate
// only; ModelAudio then takes the reference preprocessing, so every
// command reads audio as the model expects.
//
// # Using a model
//
// Load reads a file and refuses one that is not a model: no KeyModel,
// tensors that do not fit it, a parameter that is not finite. ModelAudio
// then says how to prepare audio for it: the file's own settings, or for
// a PyTorch export the reference preprocessing at its rate, which the
// caller may have to supply (the error then has ErrNoSampleRate in its
// chain). The speaker of a conditioned model is a row of its speaker
// table (Speakers, or File.Speakers with the file's name in errors);
// LookupSpeakers chooses the rows of a corpus's files or of generated
// streams under a SpeakerPolicy, and every command uses it, whatever its
// flags:
//
//	f, err := modelfile.Load("runs/fsdd/best.safetensors")
//	if err != nil { ... }
//	settings, assumed, err := modelfile.ModelAudio(f.Metadata, f.Model, 0)
//	if err != nil { ... }
//	if assumed != nil { log.Print(assumed.Describe("the rate given")) }
//	table, err := modelfile.Speakers(f.Metadata, f.Model.Config)
//	if err != nil { ... }
//	// Two generated streams, as george and as lucas:
//	rows, err := modelfile.LookupSpeakers(table, make([]string, 2),
//		modelfile.SpeakerPolicy{Given: []string{"george", "lucas"}})
//
// Errors name no command-line flag: what the caller must supply is in
// an error's chain (ErrNoSampleRate, ErrNoConfig) or its type
// (RateConflictError, UnknownSpeakerError, SpeakerCountError), for a
// command to say how to give it.
//
// Convert turns a PyTorch state_dict (.pt) into a model file and back,
// and rewrites a model file's audio settings. AudioChanges are settings a
// user gives, applied over others: a file's own in Convert, a new run's
// defaults in package train/launch. Package train adds the
// training state of a checkpoint (KeyTrain and the "train/" tensors) and
// describes a whole file with train.Inspect.
package modelfile
