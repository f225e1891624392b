package causalconv

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// TestTimeBlocksAreInvisible checks that running each layer's forward and
// backward in time blocks (Workspace.setBlock) changes nothing, bit for
// bit: the loss, every gradient and the logits equal the unblocked run's,
// for forward blocks of 16 and 48 steps (a vector, a panel) and backward
// blocks of 512, every kernel set, both precisions where the set has bf16,
// a conditioned model and a locally conditioned one (with a speaker). The reference set sums each GemmNT call in
// float64 and rounds once, so its blocked weight gradients may differ in
// the last bits: it is held to 1e-6 of the largest gradient instead.
func TestTimeBlocksAreInvisible(t *testing.T) {
	cfgs := tinyConfigs()
	cfgs["conditioned"] = conditioned(true)
	cfgs["odd"] = oddTiny()
	cfgs["local"] = lcConfig(true, true, true)
	for name, c := range cfgs {
		forEachSet(t, func(t *testing.T, k kernels.Set) {
			m := randomModel(t, c, 8)
			precs := []Precision{PrecisionFP32}
			if CheckPrecision(PrecisionBF16, k) == nil {
				precs = append(precs, PrecisionBF16)
			}
			x, y := randomWalk(rand.New(rand.NewPCG(2, 9)), 1301, c.QuantizationChannels)
			for _, prec := range precs {
				p, err := NewPackedPrecision(c, prec)
				if err != nil {
					t.Fatal(err)
				}
				if err := p.Pack(m.Params); err != nil {
					t.Fatal(err)
				}
				run := func(block, back int) precisionRun {
					ws, err := NewTrainingWorkspace(c, k, len(x))
					if err != nil {
						t.Fatal(err)
					}
					ws.setBlock(block, back)
					if err := ws.SetPrecision(prec); err != nil {
						t.Fatal(err)
					}
					if c.GlobalCondition != nil {
						ws.SetSpeaker(2)
					}
					if c.LocalCondition != nil {
						f, _ := lcFeatures(rand.New(rand.NewPCG(3, 1)), c, 200)
						if err := ws.SetFeatures(f, 4); err != nil {
							t.Fatal(err)
						}
					}
					r := precisionRun{grad: m.NewGrad(), logits: make([]float32, c.QuantizationChannels*(len(x)-5))}
					if r.loss, err = ws.ForwardBackward(p, x, y, 5, 0.01, r.grad); err != nil {
						t.Fatal(err)
					}
					if _, err := ws.Logits(p, x, 5, r.logits); err != nil {
						t.Fatal(err)
					}
					return r
				}
				whole := run(1<<30, 1<<30)
				var gmax float64
				for _, v := range whole.grad {
					gmax = math.Max(gmax, math.Abs(float64(v)))
				}
				for _, block := range []int{16, 48} {
					b := run(block, 512)
					if b.loss != whole.loss || !slices.Equal(b.logits, whole.logits) {
						t.Errorf("%s %s, blocks of %d: the loss or logits differ from the unblocked run's", name, prec, block)
					}
					for i, v := range b.grad {
						if k.Name == kernels.Reference().Name {
							if math.Abs(float64(v-whole.grad[i])) > 1e-6*gmax {
								t.Fatalf("%s %s, blocks of %d: gradient %d is %g, unblocked %g", name, prec, block, i, v, whole.grad[i])
							}
						} else if v != whole.grad[i] {
							t.Fatalf("%s %s, blocks of %d: gradient %d is %g, unblocked %g", name, prec, block, i, v, whole.grad[i])
						}
					}
				}
			}
		})
	}
}
