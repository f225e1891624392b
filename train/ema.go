package train

import (
	"fmt"
	"slices"

	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/modelfile"
	"github.com/nextsample/nextsample/causalconv/safetensors"
)

// An exponential moving average of the weights (Options.EMA)
//
// The optimizer updates the raw weights w; beside them a run keeps shadow
// weights s, which start equal to the initial w and follow them after
// every optimizer update t (counted from 0, skipped non-finite steps not
// counted) with
//
//	d_t = min(DECAY, (1+t)/(10+t))
//	s ← d_t·s + (1−d_t)·w
//
// the warm-up of TensorFlow's ExponentialMovingAverage(num_updates): early
// on, when w moves fast and the initial weights are worthless, the
// average forgets quickly (d_0 = 0.1, d_10 ≈ 0.58, d_90 ≈ 0.91), and only
// later does it average over about 1/(1−DECAY) updates.
//
// The update is float32, one rounding per operation (explicit
// conversions keep the compiler from fusing them into FMAs), element by
// element in one goroutine: the same bits for any thread count, and in a
// data-parallel run every process holds the same w and so computes the
// same s without communicating.
//
// The averaged weights are the run's model: validation scores them (and,
// for comparison, w), best.safetensors is chosen by their score, and every
// file the run writes holds them as its model tensors, so eval, generate
// and `nextsample model` use them without knowing. The raw weights travel
// in last.safetensors and step-NNNNNN.safetensors as training state
// beside the optimizer's, as "train/raw.<tensor>", and Resume puts both
// back: a resumed run continues bit for bit.

// rawBuffer names the raw weights among the training-state tensors
// ("train/raw.<tensor>").
const rawBuffer = "raw"

// emaDecay returns d_t, the weight of the old average at update t
// (counted from 0) for a run with decay DECAY.
func emaDecay(decay float64, t int64) float32 {
	return float32(min(decay, float64(1+t)/float64(10+t)))
}

// emaUpdate moves the average s towards w: s ← d·s + (1−d)·w, in float32
// with one rounding per operation.
func emaUpdate(s, w []float32, d float32) {
	e := 1 - d
	for i, x := range w {
		s[i] = float32(d*s[i]) + float32(e*x)
	}
}

// rawTensors returns the raw weights w split like m's tensors, named
// "train/raw.<tensor>".
func rawTensors(m *causalconv.Model, w []float32) []safetensors.Tensor {
	ts := make([]safetensors.Tensor, 0, len(m.Tensors()))
	for _, t := range m.Tensors() {
		ts = append(ts, safetensors.FromFloat32(optimizerPrefix+rawBuffer+"."+t.Name, t.Shape, w[t.Offset:t.Offset+t.Size]))
	}
	return ts
}

// rawProblems lists the raw-weight tensors f lacks or holds in another
// shape: none in a checkpoint of a run with an average.
func rawProblems(f *modelfile.File) []optimizerProblem {
	var out []optimizerProblem
	for _, t := range f.Model.Tensors() {
		name := optimizerPrefix + rawBuffer + "." + t.Name
		switch st := f.ExtraTensor(name); {
		case st == nil:
			out = append(out, optimizerProblem{name: name, missing: true})
		case !slices.Equal(st.Shape, t.Shape):
			out = append(out, optimizerProblem{name: name, have: st.Shape, want: t.Shape})
		}
	}
	return out
}

// loadRaw reads the checkpoint's raw weights into w.
func (c *Checkpoint) loadRaw(w []float32) error {
	if p := rawProblems(c.File); len(p) > 0 {
		return fmt.Errorf("%s: raw weights of the averaged run: %s", c.Path, p[0])
	}
	for _, t := range c.File.Model.Tensors() {
		name := optimizerPrefix + rawBuffer + "." + t.Name
		if err := c.ExtraTensor(name).Float32s(w[t.Offset : t.Offset+t.Size]); err != nil {
			return fmt.Errorf("%s: %s: %w", c.Path, name, err)
		}
	}
	return nil
}
