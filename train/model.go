package train

import (
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/kernels"
)

// convNet adapts a causalconv.Model to the engine: the model's arena is the
// parameter vector, one Packed is rebuilt per step and shared by all
// workers, and each worker owns a Workspace.
type convNet struct {
	m      *causalconv.Model
	packed *causalconv.Packed
	k      kernels.Set
	// training selects training workspaces (ForwardBackward and Loss)
	// rather than the smaller evaluation-only ones.
	training bool
	// prec is the precision of forwardBackward; loss (validation) is
	// always float32.
	prec causalconv.Precision
}

// newConvNet adapts m to the engine. A zero kernel set k means
// kernels.Best().
func newConvNet(m *causalconv.Model, training bool, k kernels.Set, prec causalconv.Precision) (*convNet, error) {
	if k.GemmNN == nil {
		k = kernels.Best()
	}
	if err := causalconv.CheckPrecision(prec, k); err != nil {
		return nil, err
	}
	p, err := causalconv.NewPackedPrecision(m.Config, prec)
	if err != nil {
		return nil, err
	}
	return &convNet{m: m, packed: p, k: k, training: training, prec: prec}, nil
}

func (n *convNet) params() []float32   { return n.m.Params }
func (n *convNet) receptiveField() int { return n.m.Config.ReceptiveField() }

func (n *convNet) prepare() {
	// Pack only fails on an arena of the wrong length, which a Model's
	// own Params never is.
	if err := n.packed.Pack(n.m.Params); err != nil {
		panic(err)
	}
}

func (n *convNet) newWorker(maxLen int) (worker, error) {
	var ws *causalconv.Workspace
	var err error
	if n.training {
		ws, err = causalconv.NewTrainingWorkspace(n.m.Config, n.k, maxLen)
	} else {
		ws, err = causalconv.NewEvalWorkspace(n.m.Config, n.k, maxLen)
	}
	if err != nil {
		return nil, err
	}
	return &convWorker{net: n, ws: ws}, nil
}

type convWorker struct {
	net *convNet
	ws  *causalconv.Workspace
}

func (w *convWorker) forwardBackward(x, y []int32, from int, scale float32, grad []float32) (float64, error) {
	if err := w.ws.SetPrecision(w.net.prec); err != nil {
		return 0, err
	}
	return w.ws.ForwardBackward(w.net.packed, x, y, from, scale, grad)
}

func (w *convWorker) bytes() int64 { return w.ws.Bytes() }

// setSpeaker conditions a conditioned model's next calls on s; other
// models ignore it (a Unit's Speaker is meaningless for them).
func (w *convWorker) setSpeaker(s int) {
	if w.net.m.Config.Speakers() == 0 {
		s = -1
	}
	w.ws.SetSpeaker(s)
}

func (w *convWorker) loss(x, y []int32, from int) (float64, error) {
	if err := w.ws.SetPrecision(causalconv.PrecisionFP32); err != nil {
		return 0, err
	}
	return w.ws.Loss(w.net.packed, x, y, from)
}

// setFeatures conditions a locally conditioned model's next calls on
// feats (the utterance's) with input position 0 at its sample start;
// without features (Rows 0) it clears them, and a locally conditioned
// model's calls then fail.
func (w *convWorker) setFeatures(feats causalconv.Matrix, start int) error {
	if feats.Rows == 0 {
		if w.net.m.Config.LocalCondition != nil {
			w.ws.ClearFeatures()
		}
		return nil
	}
	return w.ws.SetFeatures(feats, start)
}
