package modelfile

import (
	"encoding/json"
	"fmt"
)

// The metadata keys of a model file; see the package documentation for
// what each holds.
const (
	// KeyModel holds the architecture, the causalconv.Config as JSON (the
	// "model" object of the reference's config.json). Save writes it;
	// every model file has it.
	KeyModel = "model"
	// KeyAudio holds the audio.Settings the model was trained with, as
	// JSON (AudioMeta writes it, AudioSettings reads it): eval, generate
	// and features prepare audio exactly as training did.
	KeyAudio = "audio"
	// KeySampleRate is what a PyTorch user writes beside KeyModel when
	// exporting a model (safetensors.torch.save_file(model.state_dict(),
	// path, {"model": ..., "sample_rate": "8000"})): the model's rate in
	// Hz, as a decimal integer. It is read only when the file has no
	// KeyAudio entry.
	KeySampleRate = "sample_rate"
	// KeySpeakers holds a speaker-conditioned model's speaker table: a
	// JSON list of the speaker names, in the order of the rows of
	// gc_embedding.weight (SpeakersMeta writes it, Speakers reads it).
	KeySpeakers = "speakers"
	// KeyFeatures holds the settings of a locally conditioned model's
	// features: the kaldifeat.Config they were computed with, as JSON
	// (FeaturesMeta writes it, Features reads it), so that features
	// computed later (eval, vocode) are the same kind.
	KeyFeatures = "features"
	// KeyTrainData holds the corpus a run trained on (TrainData), so that
	// a resumed run and eval find it again.
	KeyTrainData = "train_data"
	// KeyTrain holds the training state of a resumable checkpoint
	// (last.safetensors, step-NNNNNN.safetensors); package train owns
	// its content, and the optimizer's tensors beside it.
	KeyTrain = "train"
	// KeyBest marks a run's best model (best.safetensors): {"step",
	// "val_bits"}, the step and validation bits per sample of its weights
	// (Best).
	KeyBest = "best"
	// KeyInitFrom records the model file a run was started from rather
	// than from random weights (nextsample train --init-from): InitFrom,
	// its path and SHA-256.
	KeyInitFrom = "init_from"
)

// InitFrom is the KeyInitFrom entry of a run started from a model file.
type InitFrom struct {
	// Path is the model file, as an absolute path.
	Path string `json:"path"`
	// SHA256 is the hex SHA-256 of the file's bytes when the run started.
	SHA256 string `json:"sha256"`
}

// ReadInitFrom returns the KeyInitFrom entry of meta, or nil without one.
func ReadInitFrom(meta map[string]string) (*InitFrom, error) {
	raw, ok := meta[KeyInitFrom]
	if !ok {
		return nil, nil
	}
	var f InitFrom
	if err := json.Unmarshal([]byte(raw), &f); err != nil {
		return nil, fmt.Errorf("metadata %q: %w", KeyInitFrom, err)
	}
	return &f, nil
}

// TrainData is the KeyTrainData entry: where a run's data came from, so
// that --resume and eval can find it again and `nextsample model` can say
// what a model was trained on.
type TrainData struct {
	// Data is the training corpus: a directory, a Kaldi data directory or
	// a manifest.csv, as an absolute path.
	Data string `json:"data"`
	// ValSplit is the split validated on ("" for the default: the first
	// of the usual validation split names the corpus has).
	ValSplit string `json:"val_split"`
	// ValData is a separate validation corpus ("" for none).
	ValData string `json:"val_data,omitempty"`
	// ValSamples bounds the validation set: files taken in the order of
	// a hash of their keys until they hold this many samples (0: all).
	ValSamples int64 `json:"val_samples,omitempty"`
	// Features are the frame features a locally conditioned run was
	// given rather than computed (a Kaldi scp file or a features folder,
	// as an absolute path; "": none, or computed as KeyFeatures says).
	Features string `json:"features,omitempty"`
}

// ReadTrainData returns the KeyTrainData entry of meta, or nil without
// one.
func ReadTrainData(meta map[string]string) (*TrainData, error) {
	raw, ok := meta[KeyTrainData]
	if !ok {
		return nil, nil
	}
	var d TrainData
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		return nil, fmt.Errorf("metadata %q: %w", KeyTrainData, err)
	}
	return &d, nil
}

// Best is the KeyBest entry of a run's best model.
type Best struct {
	// Step is the training step of the weights.
	Step int64 `json:"step"`
	// ValBits is their validation loss in bits per sample.
	ValBits float64 `json:"val_bits"`
}

// ReadBest returns the KeyBest entry of meta, or nil without one.
func ReadBest(meta map[string]string) (*Best, error) {
	raw, ok := meta[KeyBest]
	if !ok {
		return nil, nil
	}
	var b Best
	if err := json.Unmarshal([]byte(raw), &b); err != nil {
		return nil, fmt.Errorf("metadata %q: %w", KeyBest, err)
	}
	return &b, nil
}
