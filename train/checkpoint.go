package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/modelfile"
	"github.com/nextsample/nextsample/causalconv/safetensors"
)

// Checkpoint layout
//
// Every file the trainer writes is a model file (package modelfile: the
// model's tensors under the reference module's state_dict() names, its
// architecture under modelfile.KeyModel, and every key of the caller's
// metadata: the CLI stores the audio preprocessing, the speakers and the
// training data there, so eval, generate and features read audio exactly
// as training did). In last.safetensors and step-NNNNNN.safetensors the
// training state that --resume needs to continue bit for bit comes beside
// them:
//
//   - one tensor per optimizer buffer and model tensor, named
//     "train/<buffer>.<tensor>" with the tensor's shape: <buffer> is
//     momentum_buffer (SGD with momentum) or exp_avg and exp_avg_sq
//     (Adam), torch.optim's names for the same quantities;
//   - __metadata__["train"] (modelfile.KeyTrain): JSON with the step, the
//     number of optimizer updates (Adam's bias correction counts them),
//     the learning-rate scale left by the NaN guard, the sampler's RNG
//     state and epoch order, the best validation so far, the wall time,
//     the options and an identity of the training data.
//
// best.safetensors has the model and metadata plus __metadata__["best"]
// (modelfile.KeyBest: {"step", "val_bits"}), without optimizer state.

// optimizerPrefix starts the names of optimizer-state tensors (model files
// keep extra tensors in slash-separated namespaces); a PyTorch user
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
	Data    dataIdentity `json:"data"`
	// Ranks is the number of processes of the run that wrote it (0 in
	// checkpoints of older versions: one).
	Ranks int `json:"ranks,omitempty"`
}

// dataIdentity identifies a training split, so that a run is not resumed
// on different data (the sampler's order indexes its files).
type dataIdentity struct {
	Files   int    `json:"train_files"`
	Samples int64  `json:"train_samples"`
	Key     string `json:"key,omitempty"`
}

// decodeState parses a "train" metadata entry.
func decodeState(raw string) (state, error) {
	var st state
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return state{}, fmt.Errorf("training state (metadata %q): %w", modelfile.KeyTrain, err)
	}
	if st.Format != stateFormat {
		return state{}, fmt.Errorf("training state format %q, want %q", st.Format, stateFormat)
	}
	return st, nil
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

// writeModelFile writes m, meta and extra tensors atomically to path with
// modelfile.SaveFile, refusing a model that is not finite.
func writeModelFile(path string, m *causalconv.Model, meta map[string]string, extra []safetensors.Tensor) error {
	if err := modelfile.CheckFinite(m); err != nil {
		return fmt.Errorf("%s: %w; refusing to save it", path, err)
	}
	md := make(map[string]string, len(meta))
	for k, v := range meta {
		if k != modelfile.KeyModel {
			md[k] = v
		}
	}
	return modelfile.SaveFile(path, m, md, extra)
}

// Checkpoint is a resumable checkpoint read back.
type Checkpoint struct {
	*modelfile.File
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
	mf, err := modelfile.Load(path)
	if err != nil {
		return nil, err
	}
	raw, ok := mf.Metadata[modelfile.KeyTrain]
	if !ok {
		return nil, fmt.Errorf("%s: no training state (metadata %q); only last.safetensors and step-NNNNNN.safetensors can be resumed", path, modelfile.KeyTrain)
	}
	st, err := decodeState(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := st.Options.Validate(); err != nil {
		return nil, fmt.Errorf("%s: stored options: %w", path, err)
	}
	if st.Step < 0 || st.Updates < 0 || st.Updates > st.Step || !(st.LRScale > 0) {
		return nil, fmt.Errorf("%s: training state is inconsistent (step %d, updates %d, lr scale %g)", path, st.Step, st.Updates, st.LRScale)
	}
	return &Checkpoint{File: mf, Options: st.Options, st: st}, nil
}

// Step returns the number of steps the checkpoint's run has done.
func (c *Checkpoint) Step() int64 { return c.st.Step }

// optimizerProblem is an optimizer buffer that a checkpoint lacks or
// holds in another shape than its model tensor's.
type optimizerProblem struct {
	name       string
	missing    bool
	have, want []int
}

func (p optimizerProblem) String() string {
	if p.missing {
		return p.name + " missing"
	}
	return fmt.Sprintf("%s has shape %v, want %v", p.name, p.have, p.want)
}

// optimizerProblems lists the buffers of opt that f lacks or holds in
// another shape, in the order loadOptimizer reads them: none in a
// checkpoint that can be resumed with opt.
func optimizerProblems(f *modelfile.File, opt Optimizer) []optimizerProblem {
	var out []optimizerProblem
	for _, b := range opt.State() {
		for _, t := range f.Model.Tensors() {
			name := optimizerPrefix + b.Name + "." + t.Name
			switch st := f.ExtraTensor(name); {
			case st == nil:
				out = append(out, optimizerProblem{name: name, missing: true})
			case !slices.Equal(st.Shape, t.Shape):
				out = append(out, optimizerProblem{name: name, have: st.Shape, want: t.Shape})
			}
		}
	}
	return out
}

// loadOptimizer copies the checkpoint's optimizer buffers into opt, whose
// buffers must all be present.
func (c *Checkpoint) loadOptimizer(opt Optimizer) error {
	if p := optimizerProblems(c.File, opt); len(p) > 0 {
		if p[0].missing {
			return fmt.Errorf("%s: optimizer state %s (was the run started with another optimizer?)", c.Path, p[0])
		}
		return fmt.Errorf("%s: optimizer state %s", c.Path, p[0])
	}
	m := c.File.Model
	for _, b := range opt.State() {
		for _, t := range m.Tensors() {
			name := optimizerPrefix + b.Name + "." + t.Name
			if err := c.ExtraTensor(name).Float32s(b.Data[t.Offset : t.Offset+t.Size]); err != nil {
				return fmt.Errorf("%s: %s: %w", c.Path, name, err)
			}
		}
	}
	return nil
}
