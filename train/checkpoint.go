package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/safetensors"
)

// Checkpoint layout
//
// Every file the trainer writes is one safetensors file that PyTorch can
// read with safetensors.torch.load_file:
//
//   - the model's tensors under the reference module's state_dict() names
//     and shapes (input_layer.weight, filter_gate.0.weight, ...);
//   - __metadata__["model"]: the architecture, as the "model" object of
//     the reference's config.json;
//   - every key of the caller's metadata (the CLI stores the audio
//     preprocessing and μ-law settings there, so eval, generate and
//     features read audio exactly as training did);
//
// and, in last.safetensors and step-NNNNNN.safetensors, the training state
// that --resume needs to continue bit for bit:
//
//   - one tensor per optimizer buffer and model tensor, named
//     "train/<buffer>.<tensor>" with the tensor's shape: <buffer> is
//     momentum_buffer (SGD with momentum) or exp_avg and exp_avg_sq
//     (Adam), torch.optim's names for the same quantities;
//   - __metadata__["train"]: JSON with the step, the number of optimizer
//     updates (Adam's bias correction counts them), the learning-rate
//     scale left by the NaN guard, the sampler's RNG state and epoch
//     order, the best validation so far, the wall time, the options and a
//     key of the training data.
//
// best.safetensors has the model and metadata plus __metadata__["best"]
// ({"step", "val_bits"}), without optimizer state.

// Metadata keys written by the trainer.
const (
	MetaModel = causalconv.MetadataModel
	MetaTrain = "train"
	MetaBest  = "best"
)

// optimizerPrefix starts the names of optimizer-state tensors (causalconv
// files keep extra tensors in slash-separated namespaces); a PyTorch user
// loading a checkpoint into the reference module drops them.
const optimizerPrefix = "train/"

// stateFormat tags the "train" metadata.
const stateFormat = "nextsample-train/v1"

// state is the training state stored in __metadata__["train"].
type state struct {
	Format string `json:"format"`
	// Step is the number of steps done; Updates the number of optimizer
	// updates (steps the NaN guard skipped do not count).
	Step    int64 `json:"step"`
	Updates int64 `json:"updates"`
	// LRScale multiplies the learning rate; the NaN guard halves it.
	LRScale float64 `json:"lr_scale"`
	// BadSteps counts the non-finite steps in a row up to now, Skipped all
	// of them.
	BadSteps int   `json:"bad_steps"`
	Skipped  int64 `json:"skipped_steps"`
	// Seconds is the wall time spent so far, over all sessions.
	Seconds float64 `json:"seconds"`
	// BestVal is the lowest validation bits per sample so far (nil: none)
	// and BestStep its step; LastVal the latest.
	BestVal  *float64 `json:"best_val_bits"`
	BestStep int64    `json:"best_step"`
	LastVal  *float64 `json:"last_val_bits"`

	Options Options      `json:"options"`
	Sampler batcherState `json:"sampler"`
	Data    dataKey      `json:"data"`
	// Ranks is the number of processes of the run that wrote it (0 in
	// checkpoints of older versions: one).
	Ranks int `json:"ranks,omitempty"`
}

// dataKey identifies a training split, so that a run is not resumed on
// different data (the sampler's order indexes its files).
type dataKey struct {
	Files   int    `json:"train_files"`
	Samples int64  `json:"train_samples"`
	Key     string `json:"key,omitempty"`
}

// optimizerTensors returns the optimizer's buffers split like the model's
// tensors.
func optimizerTensors(m *causalconv.Model, opt Optimizer) []safetensors.Tensor {
	var ts []safetensors.Tensor
	for _, b := range opt.State() {
		for _, t := range m.Tensors() {
			ts = append(ts, safetensors.FromFloat32(optimizerPrefix+b.Name+"."+t.Name, t.Shape, b.Data[t.Offset:t.Offset+t.Size]))
		}
	}
	return ts
}

// checkFinite refuses a model with a NaN or infinite parameter.
func checkFinite(m *causalconv.Model) error {
	for _, t := range m.Tensors() {
		for _, v := range m.Params[t.Offset : t.Offset+t.Size] {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("parameter tensor %s is not finite", t.Name)
			}
		}
	}
	return nil
}

// writeModelFile writes m, meta and extra tensors atomically to path with
// causalconv.SaveFile, refusing a model that is not finite.
func writeModelFile(path string, m *causalconv.Model, meta map[string]string, extra []safetensors.Tensor) error {
	if err := checkFinite(m); err != nil {
		return fmt.Errorf("%s: %w; refusing to save it", path, err)
	}
	md := make(map[string]string, len(meta))
	for k, v := range meta {
		if k != MetaModel {
			md[k] = v
		}
	}
	return causalconv.SaveFile(path, m, md, extra)
}

// ModelFile is a model file read back: the network, the metadata and any
// extra tensors.
type ModelFile struct {
	Path string
	*causalconv.File
}

// ReadModelFile reads a model file (causalconv.Load) and refuses one whose
// parameters are not all finite.
func ReadModelFile(path string) (*ModelFile, error) {
	f, err := causalconv.Load(path)
	if err != nil {
		return nil, err
	}
	if err := checkFinite(f.Model); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &ModelFile{Path: path, File: f}, nil
}

// Checkpoint is a resumable checkpoint read back.
type Checkpoint struct {
	*ModelFile
	// Options are the options the run was started with.
	Options Options
	st      state
}

// ErrNoCheckpoint means a run directory holds no last.safetensors.
var ErrNoCheckpoint = errors.New("no checkpoint to resume from")

// ReadCheckpoint reads a resumable checkpoint (last.safetensors or a
// step-NNNNNN.safetensors).
func ReadCheckpoint(path string) (*Checkpoint, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", path, ErrNoCheckpoint)
	}
	mf, err := ReadModelFile(path)
	if err != nil {
		return nil, err
	}
	raw, ok := mf.Metadata[MetaTrain]
	if !ok {
		return nil, fmt.Errorf("%s: no training state (metadata %q); only last.safetensors and step-NNNNNN.safetensors can be resumed", path, MetaTrain)
	}
	var st state
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return nil, fmt.Errorf("%s: training state: %w", path, err)
	}
	if st.Format != stateFormat {
		return nil, fmt.Errorf("%s: training state format %q, want %q", path, st.Format, stateFormat)
	}
	if err := st.Options.Validate(); err != nil {
		return nil, fmt.Errorf("%s: stored options: %w", path, err)
	}
	if st.Step < 0 || st.Updates < 0 || st.Updates > st.Step || !(st.LRScale > 0) {
		return nil, fmt.Errorf("%s: training state is inconsistent (step %d, updates %d, lr scale %g)", path, st.Step, st.Updates, st.LRScale)
	}
	return &Checkpoint{ModelFile: mf, Options: st.Options, st: st}, nil
}

// Step returns the number of steps the checkpoint's run has done.
func (c *Checkpoint) Step() int64 { return c.st.Step }

// loadOptimizer copies the checkpoint's optimizer buffers into opt, whose
// buffers must all be present.
func (c *Checkpoint) loadOptimizer(opt Optimizer) error {
	m := c.File.Model
	for _, b := range opt.State() {
		for _, t := range m.Tensors() {
			name := optimizerPrefix + b.Name + "." + t.Name
			st := c.ExtraTensor(name)
			if st == nil {
				return fmt.Errorf("%s: optimizer state %s missing (was the run started with another optimizer?)", c.Path, name)
			}
			if !slices.Equal(st.Shape, t.Shape) {
				return fmt.Errorf("%s: optimizer state %s has shape %v, want %v", c.Path, name, st.Shape, t.Shape)
			}
			if err := st.Float32s(b.Data[t.Offset : t.Offset+t.Size]); err != nil {
				return fmt.Errorf("%s: %s: %w", c.Path, name, err)
			}
		}
	}
	return nil
}
