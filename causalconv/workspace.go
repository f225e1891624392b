package causalconv

import (
	"errors"
	"fmt"
	"slices"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// Workspace is one worker's buffers for running a network over sequences of
// up to MaxLen inputs. It is allocated once and reused by every call, which
// then neither allocates nor touches fresh memory. A Workspace is not safe
// for concurrent use; give each goroutine its own, and share one Packed.
// Its matrix products are float32 unless SetPrecision chooses bf16 (see
// Precision); everything else is float32 in either case.
//
// A training workspace (NewTrainingWorkspace) keeps what the backward pass
// needs per time step: every layer's input h (R), tanh(f) and σ(g) (2D) and
// gate output z (D), the skip gradient (S), and one layer's worth of
// gradients (R+3D). An evaluation workspace (NewEvalWorkspace) keeps only
// two residual-stream buffers, one layer's gate and every layer's z (the
// fused skip product needs them all), plus the skip sum; MemoryPerStep
// gives the figures.
//
// # Sequences, context and scoring
//
// A call takes N input classes x[0..N) and, for training and loss, targets
// y[0..N) (y[t] is the class that follows x[t]). Only positions t ≥
// scoreFrom are scored; the ones before are real context. Inputs before
// position 0 are zero: the residual stream is zero-padded on the left, as
// in the reference. Layer l needs outputs only from position
// scoreFrom − Σ_{j>l} (K−1)·d_j on (clipped at 0), and each layer is
// computed over exactly that range, so a call costs what its scored
// positions need. With scoreFrom ≥ RF−1 (RF = Config.ReceptiveField) no
// scored output sees the padding, so a long sequence can be split into
// chunks, each carrying RF−1 inputs of context before its first scored
// position (or all there is, from position 0): the chunks' summed losses
// and gradients equal the whole sequence's.
//
// # Conditioning
//
// A speaker-conditioned model's calls need the speaker (SetSpeaker), a
// locally conditioned one's the utterance's features and the sample the
// sequence starts at (SetFeatures; a chunk of an utterance gives its own
// start). Both stay set for the later calls.
type Workspace struct {
	cfg      Config
	k        kernels.Set
	maxLen   int
	training bool
	prec     Precision

	n      dims
	margin int // zero columns left of time 0 in h and dh rows, ≥ (K−1)·max d
	ld     int // row stride of z, tf/σ, dz, dfg: column = time
	ldh    int // row stride of h and dh: column = margin + time

	h    []float32 // training: L × [R × ldh] (h_l, layer l's input); eval: 2 such (ping-pong)
	tfsg []float32 // training: L × [2D × ld] (tanh(f) rows, then σ(g) rows); eval: one layer
	z    []float32 // [L·D × ld], every layer's gate output
	skip []float32 // [S × n], compact: dS when training, the pre-ReLU skip sum for Activations

	sBlk, eBlk, lBlk, dEBlk []float32 // head blocks: [S|E|Q|E × headBlock], compact

	dh, dz, dfg []float32 // backward: [R × ldh], [D × ld], [2D × ld]
	// dS and one layer's [df; dg] packed once for the products that share
	// them, the L layers' dz and the K taps' dh: in float32 (kernels.Pack,
	// training workspaces whose set has it) or, once SetPrecision chose
	// bf16, rounded to bfloat16 (kernels.PackBF16) instead.
	dsPack32, dfgPack32 []float32
	dsPack, dfgPack     []uint16
	gw                  []float32 // weight-gradient scratch in kernel layout, before the scatter to torch layout
	rowSum              []float32 // [S]

	block  int       // layersForward's time block (layerBlock; tests vary it, setBlock)
	bblock int       // layersBackward's (backBlock)
	fgBlk  []float32 // [2D × ldBlk]: one block's [f; g], before the gate
	ldBlk  int
	start  []int // per layer: first position computed in this call
	offs   []int // row offsets for the kernels' right-hand operands
	zview  []Matrix

	// A conditioned model's speaker for the next calls (-1: none), what it
	// adds to every layer's [f; g] (L × 2D, set by each call from the
	// packed weights), and the backward's ∂/∂(that) of one layer (2D).
	speaker int
	cond    []float32
	dcond   []float32

	// A locally conditioned model's features and upsampling network
	// (lcond.go); nil for a model without local conditioning.
	lc *lcWork
}

// dims are a network's widths: classes, residual, dilation (gate), skip
// and end channels, kernel size and layer count.
type dims struct{ Q, R, D, S, E, K, L int }

// Matrix is a read-only view of a [Rows × Cols] row-major block: element
// (i, j) is Data[i*Stride+j]. Views returned by a Workspace are valid until
// its next call.
type Matrix struct {
	Rows, Cols, Stride int
	Data               []float32
}

// At returns element (i, j).
func (m Matrix) At(i, j int) float32 { return m.Data[i*m.Stride+j] }

// Row returns row i.
func (m Matrix) Row(i int) []float32 {
	return m.Data[i*m.Stride : i*m.Stride+m.Cols : i*m.Stride+m.Cols]
}

// NewTrainingWorkspace returns a workspace for ForwardBackward (and every
// evaluation method) on sequences of up to maxLen inputs, context included.
func NewTrainingWorkspace(c Config, k kernels.Set, maxLen int) (*Workspace, error) {
	return newWorkspace(c, k, maxLen, true)
}

// NewEvalWorkspace returns a workspace for Loss, Logits and Activations on
// sequences of up to maxLen inputs; it has no room for the backward pass.
func NewEvalWorkspace(c Config, k kernels.Set, maxLen int) (*Workspace, error) {
	return newWorkspace(c, k, maxLen, false)
}

// stride pads a row length to a whole number of 64-byte cache lines, and to
// an odd number of them, so that the rows a GEMM reads side by side do not
// all map to the same cache sets.
func stride(n int) int {
	s := (n + 15) &^ 15
	if (s/16)%2 == 0 {
		s += 16
	}
	return s
}

func newWorkspace(c Config, k kernels.Set, maxLen int, training bool) (*Workspace, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if k.GemmNN == nil || k.GemmNT == nil || k.Gate == nil || k.GateBackward == nil || k.ReLU == nil ||
		k.ReLUBackward == nil || k.SoftmaxXent == nil || k.Sum == nil {
		return nil, fmt.Errorf("causalconv: kernel set %q is incomplete", k.Name)
	}
	if maxLen < 1 || maxLen > 1<<28 {
		return nil, fmt.Errorf("causalconv: workspace length %d: must be between 1 and %d", maxLen, 1<<28)
	}
	c.Dilations = slices.Clone(c.Dilations)
	c.LocalCondition = c.LocalCondition.Clone()
	w := &Workspace{
		cfg: c, k: k, maxLen: maxLen, training: training,
		n: dims{Q: c.QuantizationChannels, R: c.ResidualChannels, D: c.DilationChannels,
			S: c.SkipChannels, E: c.EndChannels, K: c.KernelSize, L: c.Layers()},
	}
	Q, R, D, S, E, K, L := w.n.Q, w.n.R, w.n.D, w.n.S, w.n.E, w.n.K, w.n.L
	w.margin = ((K-1)*slices.Max(c.Dilations) + 15) &^ 15
	w.ld = stride(maxLen)
	w.ldh = stride(w.margin + maxLen)
	nh, nfg := 2, 1
	if training {
		nh, nfg = L, L
	}
	w.h = make([]float32, nh*R*w.ldh)
	w.tfsg = make([]float32, nfg*2*D*w.ld)
	w.z = make([]float32, L*D*w.ld)
	w.skip = make([]float32, S*maxLen)
	hb := min(headBlock, maxLen)
	w.sBlk = make([]float32, S*hb)
	w.eBlk = make([]float32, E*hb)
	w.lBlk = make([]float32, Q*hb)
	if training {
		w.dEBlk = make([]float32, E*hb)
		w.dh = make([]float32, R*w.ldh)
		w.dz = make([]float32, D*w.ld)
		w.dfg = make([]float32, 2*D*w.ld)
		w.gw = make([]float32, max(2*D*K*R, S*L*D))
		w.rowSum = make([]float32, S)
		if k.Pack != nil {
			w.dsPack32 = make([]float32, kernels.PackedLen(S, maxLen))
			w.dfgPack32 = make([]float32, kernels.PackedLen(2*D, maxLen))
		}
	}
	w.setBlock(layerBlock, backBlock)
	w.start = make([]int, L)
	w.offs = make([]int, max(K*R, L*D, Q, S, E))
	if lc := c.LocalCondition; lc != nil {
		w.offs = make([]int, max(len(w.offs), lc.Channels))
		w.lc = newLCWork(lc, w.ld, maxLen, training)
	}
	w.zview = make([]Matrix, L)
	w.speaker = -1
	if c.GlobalCondition != nil {
		w.cond = make([]float32, L*2*D)
		w.dcond = make([]float32, 2*D)
	}
	return w, nil
}

// setBlock sets layersForward's and layersBackward's time blocks and sizes
// the forward's scratch.
func (w *Workspace) setBlock(b, back int) {
	w.block, w.bblock = b, back
	w.ldBlk = stride(min(b, w.maxLen))
	w.fgBlk = make([]float32, 2*w.n.D*w.ldBlk)
}

// SetSpeaker chooses the speaker (a row of the model's speaker table, 0 to
// Config.Speakers()−1) that a conditioned model's later calls are
// conditioned on; a negative s clears it. Calls with a conditioned model
// fail until a speaker is set, and calls with an unconditioned one while a
// speaker is set.
func (w *Workspace) SetSpeaker(s int) {
	if s < 0 {
		s = -1
	}
	w.speaker = s
}

// Speaker returns the speaker set by SetSpeaker (-1: none).
func (w *Workspace) Speaker() int { return w.speaker }

// SetPrecision chooses the arithmetic of the workspace's matrix products
// for its later calls (PrecisionFP32 when it is made). PrecisionBF16 needs
// a kernel set with the bf16 GEMMs (see CheckPrecision) and packed weights
// made for it (NewPackedPrecision).
func (w *Workspace) SetPrecision(p Precision) error {
	if err := CheckPrecision(p, w.k); err != nil {
		return err
	}
	w.prec = p
	if p == PrecisionBF16 && w.training && w.dsPack == nil {
		w.dsPack = make([]uint16, kernels.PackedBF16Len(w.n.S, w.maxLen))
		w.dfgPack = make([]uint16, kernels.PackedBF16Len(2*w.n.D, w.maxLen))
		// The float32 packing buffers would go unused (a switch back to
		// fp32 then multiplies unpacked, with the same results).
		w.dsPack32, w.dfgPack32 = nil, nil
	}
	return nil
}

// Precision returns the workspace's precision.
func (w *Workspace) Precision() Precision { return w.prec }

// MaxLen returns the longest sequence the workspace takes.
func (w *Workspace) MaxLen() int { return w.maxLen }

// Training reports whether the workspace can run ForwardBackward.
func (w *Workspace) Training() bool { return w.training }

// MemoryPerStep returns the floats a workspace of this kind holds per time
// step of its maximum length (the fixed-size head blocks and scratch
// aside): training L·(R+3D) + S + R + 3D, evaluation 2R + 2D + L·D + S,
// and for a locally conditioned model 4C more when training (cond, its
// gradient, the last stage and its gradient), 2C when evaluating.
func MemoryPerStep(c Config, training bool) int {
	R, D, S, L := c.ResidualChannels, c.DilationChannels, c.SkipChannels, c.Layers()
	lc := 0
	if c.LocalCondition != nil {
		lc = 2 * c.LocalCondition.Channels
	}
	if training {
		return L*(R+3*D) + S + R + 3*D + 2*lc
	}
	return 2*R + 2*D + L*D + S + lc
}

// Bytes returns the memory the workspace's buffers hold.
func (w *Workspace) Bytes() int64 {
	n := 0
	for _, b := range [][]float32{w.h, w.tfsg, w.z, w.skip, w.fgBlk, w.sBlk, w.eBlk, w.lBlk, w.dEBlk, w.dh, w.dz, w.dfg, w.gw, w.rowSum} {
		n += len(b)
	}
	b := 4*int64(n+len(w.dsPack32)+len(w.dfgPack32)) + 2*int64(len(w.dsPack)+len(w.dfgPack))
	if w.lc != nil {
		b += w.lc.bytes()
	}
	return b
}

// hbuf returns layer l's input buffer h_l ([R × ldh]).
func (w *Workspace) hbuf(l int) []float32 {
	if !w.training {
		l &= 1
	}
	return w.h[l*w.n.R*w.ldh:]
}

// hoff is hbuf(l)'s offset in w.h.
func (w *Workspace) hoff(l int) int {
	if !w.training {
		l &= 1
	}
	return l * w.n.R * w.ldh
}

// tfsgBuf returns layer l's tanh(f), σ(g) rows ([2D × ld]).
func (w *Workspace) tfsgBuf(l int) []float32 {
	if !w.training {
		l = 0
	}
	return w.tfsg[l*2*w.n.D*w.ld:]
}

var errNotTraining = errors.New("causalconv: ForwardBackward needs a training workspace")

// check validates a call's arguments.
func (w *Workspace) check(p *Packed, x, y []int32, scoreFrom int) error {
	if p == nil {
		return errors.New("causalconv: nil packed weights")
	}
	if !p.cfg.Equal(w.cfg) {
		return errors.New("causalconv: packed weights are for a different architecture than the workspace")
	}
	if w.prec == PrecisionBF16 && p.prec != PrecisionBF16 {
		return errors.New("causalconv: a bf16 workspace needs packed weights made for bf16 (NewPackedPrecision)")
	}
	switch c := p.Speakers(); {
	case c > 0 && (w.speaker < 0 || w.speaker >= c):
		return fmt.Errorf("causalconv: the model is conditioned on %d speakers; speaker %d is not one of them (SetSpeaker)", c, w.speaker)
	case c > 0:
		p.conditionBias(w.speaker, w.cond)
	case w.speaker >= 0:
		return fmt.Errorf("causalconv: speaker %d set for a model that is not conditioned", w.speaker)
	}
	if err := w.checkFeatures(); err != nil {
		return err
	}
	n := len(x)
	if n < 1 || n > w.maxLen {
		return fmt.Errorf("causalconv: sequence of %d inputs: the workspace takes 1 to %d", n, w.maxLen)
	}
	if scoreFrom < 0 || scoreFrom > n {
		return fmt.Errorf("causalconv: scoreFrom %d outside a sequence of %d", scoreFrom, n)
	}
	q := int32(w.n.Q)
	for t, v := range x {
		if v < 0 || v >= q {
			return fmt.Errorf("causalconv: input %d is class %d, not in [0, %d)", t, v, q)
		}
	}
	if y != nil {
		if len(y) != n {
			return fmt.Errorf("causalconv: %d targets for %d inputs", len(y), n)
		}
		for t, v := range y[scoreFrom:] {
			if v < 0 || v >= q {
				return fmt.Errorf("causalconv: target %d is class %d, not in [0, %d)", scoreFrom+t, v, q)
			}
		}
	}
	return nil
}

// ForwardBackward runs the network over x, scores positions scoreFrom..N−1
// against y, and adds lossScale·∂loss/∂θ into grad (an arena laid out like
// Model.Params). It returns loss, the summed cross-entropy of the scored
// positions in nats (not scaled). The workspace must be a training one.
//
// The step goes up through the layers and back down, each layer's
// forward and backward side by side in its own file: the input layer
// (input.go), a locally conditioned model's upsampling network (lcond.go),
// the dilated layers (layer.go, with the conditioning in condition.go and
// lcond.go), then the head, whose backward runs block by block with
// its forward and leaves the skip gradient dS (head.go); then the skip
// weights' gradient, the layers' backward from the top, the upsampling
// network's and the input layer's.
func (w *Workspace) ForwardBackward(p *Packed, x, y []int32, scoreFrom int, lossScale float32, grad []float32) (float64, error) {
	if !w.training {
		return 0, errNotTraining
	}
	if y == nil {
		return 0, errors.New("causalconv: ForwardBackward needs targets")
	}
	if err := w.check(p, x, y, scoreFrom); err != nil {
		return 0, err
	}
	if len(grad) != p.lo.size {
		return 0, fmt.Errorf("causalconv: gradient arena has %d entries, the model %d parameters", len(grad), p.lo.size)
	}
	if scoreFrom == len(x) {
		return 0, nil
	}
	w.forward(p, x, scoreFrom, w.n.L-1)
	loss := w.head(p, y, len(x), scoreFrom, lossScale, grad, nil)
	w.skipBackward(p, grad, len(x), scoreFrom)
	w.layersBackward(p, grad, len(x), scoreFrom)
	w.lcBackward(p, grad, len(x))
	w.inputBackward(p, grad, x)
	return loss, nil
}

// Loss returns the summed cross-entropy in nats of positions
// scoreFrom..N−1 of x against y, forward only.
func (w *Workspace) Loss(p *Packed, x, y []int32, scoreFrom int) (float64, error) {
	if y == nil {
		return 0, errors.New("causalconv: Loss needs targets")
	}
	if err := w.check(p, x, y, scoreFrom); err != nil {
		return 0, err
	}
	if scoreFrom == len(x) {
		return 0, nil
	}
	w.forward(p, x, scoreFrom, w.n.L-1)
	return w.head(p, y, len(x), scoreFrom, 0, nil, nil), nil
}

// Logits computes the output logits of positions from..N−1 into dst, which
// must hold Q·(N−from) floats, and returns them as a [Q × (N−from)] view of
// dst: column j holds the logits predicting the class after x[from+j].
func (w *Workspace) Logits(p *Packed, x []int32, from int, dst []float32) (Matrix, error) {
	if err := w.check(p, x, nil, from); err != nil {
		return Matrix{}, err
	}
	n := len(x) - from
	if len(dst) < w.n.Q*n {
		return Matrix{}, fmt.Errorf("causalconv: logits buffer holds %d floats, needs %d", len(dst), w.n.Q*n)
	}
	out := Matrix{Rows: w.n.Q, Cols: n, Stride: n, Data: dst[:w.n.Q*n]}
	if n == 0 {
		return out, nil
	}
	w.forward(p, x, from, w.n.L-1)
	w.head(p, nil, len(x), from, 0, nil, dst)
	return out, nil
}

// Activations are the internal representations of positions From..N−1,
// for feature extraction. Each Matrix has one column per position.
type Activations struct {
	From, N int
	// SkipSum is Σ_l skip_l, the [S × (N−From)] input of the output head
	// before its first ReLU; empty unless asked for.
	SkipSum Matrix
	// Z[l] is layer l's gated activation tanh(f)·σ(g), [D × (N−From)],
	// for the layers that were run.
	Z []Matrix
}

// ActivationOptions choose what Activations computes.
type ActivationOptions struct {
	// Layers is how many layers to run, from the first (0 means all). A
	// feature set built from the lower layers only need not pay for the
	// upper ones.
	Layers int
	// SkipSum asks for the skip sum, which needs every layer.
	SkipSum bool
}

// Activations runs the layers (never the output head) over x and returns
// the gate outputs of the layers run and, if asked, the skip sum, for
// positions from..N−1. The views are valid until the workspace's next call.
func (w *Workspace) Activations(p *Packed, x []int32, from int, opt ActivationOptions) (Activations, error) {
	if err := w.check(p, x, nil, from); err != nil {
		return Activations{}, err
	}
	layers := opt.Layers
	if layers == 0 {
		layers = w.n.L
	}
	if layers < 1 || layers > w.n.L {
		return Activations{}, fmt.Errorf("causalconv: %d layers asked for, the model has %d", opt.Layers, w.n.L)
	}
	if opt.SkipSum && layers != w.n.L {
		return Activations{}, fmt.Errorf("causalconv: the skip sum needs all %d layers, not %d", w.n.L, layers)
	}
	N, n := len(x), len(x)-from
	a := Activations{From: from, N: N, Z: w.zview[:layers]}
	for l := range a.Z {
		a.Z[l] = Matrix{Rows: w.n.D, Cols: n, Stride: w.ld, Data: w.z[l*w.n.D*w.ld+from:]}
	}
	if n == 0 {
		return a, nil
	}
	w.forward(p, x, from, layers-1)
	if opt.SkipSum {
		w.skipSum(p, from, n, w.skip)
		a.SkipSum = Matrix{Rows: w.n.S, Cols: n, Stride: n, Data: w.skip[:w.n.S*n]}
	}
	return a, nil
}

// forward runs the input layer and layers 0..top over x, each over the
// positions that position from of layer top depends on (setStarts).
func (w *Workspace) forward(p *Packed, x []int32, from, top int) {
	w.setStarts(len(x), from, top)
	w.inputForward(p, x)
	w.lcForward(p, len(x))
	w.layersForward(p, len(x), top)
}

// setStarts fixes the range each layer is computed over: layer top (the
// last one run) from scoreFrom, and each layer below from where the one
// above first looks, (K−1)·d earlier, clipped at 0.
func (w *Workspace) setStarts(N, scoreFrom, top int) {
	u := scoreFrom
	for l := top; l >= 0; l-- {
		w.start[l] = max(0, u)
		u -= (w.n.K - 1) * w.cfg.Dilations[l]
	}
}

// rowOffsets returns offsets of n rows of stride ld starting at column t.
func (w *Workspace) rowOffsets(n, ld, t int) []int {
	offs := w.offs[:n]
	for j := range offs {
		offs[j] = j*ld + t
	}
	return offs
}

// addRowSums adds the sum of each row of the [len(dst) × n] matrix m (row
// stride ld) to dst: the gradient of a bias broadcast over time.
func addRowSums(k kernels.Set, dst, m []float32, n, ld int) {
	for i := range dst {
		dst[i] += float32(k.Sum(n, m[i*ld:]))
	}
}
