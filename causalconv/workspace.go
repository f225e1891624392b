package causalconv

import (
	"errors"
	"fmt"
	"slices"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// headBlock is how many time steps the output head (skip product, post1,
// post2, softmax and their backward) processes at once. The head is
// pointwise in time, so blocking it keeps its S, E and Q rows for a block
// in cache instead of holding (S+E+Q)·T floats.
const headBlock = 256

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

// nn is the GemmNN of a packed weight matrix: a (float32) or its bfloat16
// copy h, depending on the workspace's precision.
func (w *Workspace) nn(m, n, k int, a []float32, lda int, h bfMat, b []float32, bOff []int, c []float32, ldc int, bias []float32, accumulate bool) {
	if w.prec == PrecisionBF16 {
		w.k.GemmNNBF16(m, n, k, h.a, h.ld, b, bOff, c, ldc, bias, accumulate)
		return
	}
	w.k.GemmNN(m, n, k, a, lda, b, bOff, c, ldc, bias, accumulate)
}

// nt is the GemmNT of a weight gradient in the workspace's precision.
func (w *Workspace) nt(m, k, n int, a []float32, lda int, b []float32, bOff []int, c []float32, ldc int, accumulate bool) {
	if w.prec == PrecisionBF16 {
		w.k.GemmNTBF16(m, k, n, a, lda, b, bOff, c, ldc, accumulate)
		return
	}
	w.k.GemmNT(m, k, n, a, lda, b, bOff, c, ldc, accumulate)
}

// MaxLen returns the longest sequence the workspace takes.
func (w *Workspace) MaxLen() int { return w.maxLen }

// Training reports whether the workspace can run ForwardBackward.
func (w *Workspace) Training() bool { return w.training }

// MemoryPerStep returns the floats a workspace of this kind holds per time
// step of its maximum length (the fixed-size head blocks and scratch
// aside): training L·(R+3D) + S + R + 3D, evaluation 2R + 2D + L·D + S.
func MemoryPerStep(c Config, training bool) int {
	R, D, S, L := c.ResidualChannels, c.DilationChannels, c.SkipChannels, c.Layers()
	if training {
		return L*(R+3*D) + S + R + 3*D
	}
	return 2*R + 2*D + L*D + S
}

// Bytes returns the memory the workspace's buffers hold.
func (w *Workspace) Bytes() int64 {
	n := 0
	for _, b := range [][]float32{w.h, w.tfsg, w.z, w.skip, w.fgBlk, w.sBlk, w.eBlk, w.lBlk, w.dEBlk, w.dh, w.dz, w.dfg, w.gw, w.rowSum} {
		n += len(b)
	}
	return 4*int64(n+len(w.dsPack32)+len(w.dfgPack32)) + 2*int64(len(w.dsPack)+len(w.dfgPack))
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
	w.setStarts(len(x), scoreFrom, w.n.L-1)
	w.inputForward(p, x)
	w.layersForward(p, len(x), w.n.L-1)
	loss := w.head(p, y, len(x), scoreFrom, lossScale, grad, nil)
	w.skipBackward(p, grad, len(x), scoreFrom)
	w.layersBackward(p, grad, len(x), scoreFrom)
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
	w.setStarts(len(x), scoreFrom, w.n.L-1)
	w.inputForward(p, x)
	w.layersForward(p, len(x), w.n.L-1)
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
	w.setStarts(len(x), from, w.n.L-1)
	w.inputForward(p, x)
	w.layersForward(p, len(x), w.n.L-1)
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
	w.setStarts(N, from, layers-1)
	w.inputForward(p, x)
	w.layersForward(p, N, layers-1)
	if opt.SkipSum {
		w.nn(w.n.S, n, w.n.L*w.n.D, p.skipW, w.n.L*w.n.D, p.bf.skipW, w.z, w.zOffsets(from), w.skip, n, p.skipB, false)
		a.SkipSum = Matrix{Rows: w.n.S, Cols: n, Stride: n, Data: w.skip[:w.n.S*n]}
	}
	return a, nil
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

// inputStart is the first position of the input layer's output (h_0) that
// layer 0 reads.
func (w *Workspace) inputStart() int {
	return max(0, w.start[0]-(w.n.K-1)*w.cfg.Dilations[0])
}

// zOffsets returns the row offsets of all L·D gate-output rows at column t.
func (w *Workspace) zOffsets(t int) []int {
	offs := w.offs[:w.n.L*w.n.D]
	for j := range offs {
		offs[j] = j*w.ld + t
	}
	return offs
}

// rowOffsets returns offsets of n rows of stride ld starting at column t.
func (w *Workspace) rowOffsets(n, ld, t int) []int {
	offs := w.offs[:n]
	for j := range offs {
		offs[j] = j*ld + t
	}
	return offs
}

// tapOffsets returns the K·R row offsets of layer l's dilated-conv input
// at time t: row k·R+r is channel r of h_l at time t−(K−1−k)·d.
func (w *Workspace) tapOffsets(l, t int) []int {
	R, K, d := w.n.R, w.n.K, w.cfg.Dilations[l]
	offs := w.offs[:K*R]
	base := w.hoff(l) + w.margin + t
	for k := 0; k < K; k++ {
		shift := base - (K-1-k)*d
		for r := 0; r < R; r++ {
			offs[k*R+r] = shift + r*w.ldh
		}
	}
	return offs
}

// inputForward computes h_0, the input layer's output, as a column gather:
// one-hot classes times a weight matrix select its columns. Tap k of a
// width-Kin input conv sees x at t−(Kin−1−k); taps before position 0 see
// the zero one-hot vector and add nothing.
func (w *Workspace) inputForward(p *Packed, x []int32) {
	N, R, Q := len(x), w.n.R, w.n.Q
	a0 := w.inputStart()
	h := w.hbuf(0)
	kin := w.cfg.InputKernelSize
	for r := 0; r < R; r++ {
		var b float32
		if p.inB != nil {
			b = p.inB[r]
		}
		row := h[r*w.ldh+w.margin : r*w.ldh+w.margin+N]
		switch {
		case w.cfg.InputEncoding == InputEmbedding:
			for t := a0; t < N; t++ {
				row[t] = p.inW[int(x[t])*R+r] + b
			}
		case kin == 1:
			wr := p.inW[r*Q : (r+1)*Q]
			for t := a0; t < N; t++ {
				row[t] = wr[x[t]] + b
			}
		default:
			wr := p.inW[r*Q*kin : (r+1)*Q*kin]
			for t := a0; t < N; t++ {
				s := b
				for k := max(0, kin-1-t); k < kin; k++ {
					s += wr[int(x[t-(kin-1)+k])*kin+k]
				}
				row[t] = s
			}
		}
	}
}

// layerBlock is how many time steps layersForward runs each layer over at
// once. The conv writes a block's [f; g] to a scratch that stays in cache
// (2D rows: 192 KiB for the default model), the gate reads it there and
// writes the kept tanh(f), σ(g) and z, and the residual reads z back while
// it is still in L2. Through memory instead (the [f; g] of one layer over a
// 4096-step chunk is 1.4 MB), the conv waited on its stores and ran at
// about half its speed. Every kernel computes a column independently of
// where its call starts or ends, so the results do not depend on the
// block (TestTimeBlocksAreInvisible).
const layerBlock = 768

// layersForward runs the dilated layers 0..top: for layer l over
// positions start_l..N−1, in blocks of layerBlock positions,
//
//	[f; g] = W_fg · [h_l(t−(K−1)d); …; h_l(t)] + b_fg   one GemmNN, K·R deep
//	z      = tanh(f)·σ(g)                                 (tanh(f), σ(g) kept)
//	h_l+1  = h_l + W_r·z + b_r                            (not after the last layer)
func (w *Workspace) layersForward(p *Packed, N, top int) {
	for l := 0; l <= top; l++ {
		for s := w.start[l]; s < N; s += w.block {
			w.layerForward(p, l, s, min(N, s+w.block), l == top)
		}
	}
}

// layerForward runs layer l over positions s..e−1; last leaves out the
// residual conv, which would feed nothing.
func (w *Workspace) layerForward(p *Packed, l, s, e int, last bool) {
	R, D, K, ld, ldh, M := w.n.R, w.n.D, w.n.K, w.ld, w.ldh, w.margin
	n := e - s
	// [f; g] go to the block scratch, which stays in cache; the gate
	// writes the kept tanh(f), σ(g) and z.
	fb, ldb := w.fgBlk, w.ldBlk
	w.nn(2*D, n, K*R, p.fgW[l], K*R, p.bf.fgW[l], w.h, w.tapOffsets(l, s), fb, ldb, p.fgB[l], false)
	if w.cond != nil { // the speaker's W_gc·e, added after the conv and its bias
		for o, c := range w.cond[l*2*D : (l+1)*2*D] {
			row := fb[o*ldb : o*ldb+n]
			for t := range row {
				row[t] += c
			}
		}
	}
	fg, z := w.tfsgBuf(l), w.z[l*D*ld:]
	for c := 0; c < D; c++ {
		w.k.Gate(n, fb[c*ldb:], fb[(D+c)*ldb:], fg[c*ld+s:], fg[(D+c)*ld+s:], z[c*ld+s:])
	}
	if last {
		return
	}
	h, hn := w.hbuf(l), w.hbuf(l+1)
	for r := 0; r < R; r++ {
		copy(hn[r*ldh+M+s:r*ldh+M+e], h[r*ldh+M+s:r*ldh+M+e])
	}
	w.nn(R, n, D, p.resW[l], D, p.bf.resW[l], w.z, w.rowOffsets(D, ld, l*D*ld+s), hn[M+s:], ldh, p.resB[l], true)
}

// head runs the output head over positions scoreFrom..N−1 in blocks of
// headBlock steps:
//
//	s      = relu(W_skip·[z_0; …; z_L−1] + Σ b_skip)   one GemmNN, L·D deep
//	e      = relu(W_1·s + b_1)
//	logits = W_2·e + b_2
//
// With targets it returns the summed cross-entropy; with a gradient arena
// it also backpropagates to the skip sum, leaving dS (scaled by lossScale)
// in w.skip; with logitsOut it writes the logits there ([Q × n]).
func (w *Workspace) head(p *Packed, y []int32, N, scoreFrom int, lossScale float32, grad, logitsOut []float32) float64 {
	Q, S, E, LD := w.n.Q, w.n.S, w.n.E, w.n.L*w.n.D
	n := N - scoreFrom
	lo := p.lo
	var loss float64
	for b0 := 0; b0 < n; b0 += headBlock {
		nb := min(headBlock, n-b0)
		t0 := scoreFrom + b0
		sb, eb := w.sBlk[:S*nb], w.eBlk[:E*nb]
		w.nn(S, nb, LD, p.skipW, LD, p.bf.skipW, w.z, w.zOffsets(t0), sb, nb, p.skipB, false)
		w.k.ReLU(S*nb, sb)
		w.nn(E, nb, S, p.p1W, S, p.bf.p1W, sb, w.rowOffsets(S, nb, 0), eb, nb, p.p1B, false)
		w.k.ReLU(E*nb, eb)
		logits, ldl := w.lBlk[:Q*nb], nb
		if logitsOut != nil {
			logits, ldl = logitsOut[b0:], n
		}
		w.nn(Q, nb, E, p.p2W, E, p.bf.p2W, eb, w.rowOffsets(E, nb, 0), logits, ldl, p.p2B, false)
		if y == nil {
			continue
		}
		if grad == nil {
			loss += w.k.SoftmaxXent(Q, nb, logits, ldl, y[t0:t0+nb], nil, 0)
			continue
		}
		// Backward through the head; dlogits overwrite the logits.
		dl := logits
		loss += w.k.SoftmaxXent(Q, nb, logits, ldl, y[t0:t0+nb], dl, lossScale)
		w.nt(Q, E, nb, dl, nb, eb, w.rowOffsets(E, nb, 0), grad[lo.p2W:], E, true)
		if lo.p2B >= 0 {
			addRowSums(w.k, grad[lo.p2B:lo.p2B+Q], dl, nb, nb)
		}
		de := w.dEBlk[:E*nb]
		w.nn(E, nb, Q, p.p2WT, Q, p.bf.p2WT, dl, w.rowOffsets(Q, nb, 0), de, nb, nil, false)
		w.k.ReLUBackward(E*nb, eb, de)
		w.nt(E, S, nb, de, nb, sb, w.rowOffsets(S, nb, 0), grad[lo.p1W:], S, true)
		if lo.p1B >= 0 {
			addRowSums(w.k, grad[lo.p1B:lo.p1B+E], de, nb, nb)
		}
		w.nn(S, nb, E, p.p1WT, E, p.bf.p1WT, de, w.rowOffsets(E, nb, 0), w.skip[b0:], n, nil, false)
		for i := 0; i < S; i++ {
			w.k.ReLUBackward(nb, sb[i*nb:], w.skip[i*n+b0:])
		}
	}
	return loss
}

// addRowSums adds the sum of each row of the [len(dst) × n] matrix m (row
// stride ld) to dst: the gradient of a bias broadcast over time.
func addRowSums(k kernels.Set, dst, m []float32, n, ld int) {
	for i := range dst {
		dst[i] += float32(k.Sum(n, m[i*ld:]))
	}
}

// skipBackward computes the fused skip product's weight and bias gradients
// from dS (in w.skip): dW_skip = dS·[z_0; …]ᵀ as one GemmNT, scattered back
// into the per-layer skip.l.weight tensors. Every layer's skip bias gets the
// same gradient, Σ_t dS.
func (w *Workspace) skipBackward(p *Packed, grad []float32, N, scoreFrom int) {
	S, D, L, LD := w.n.S, w.n.D, w.n.L, w.n.L*w.n.D
	n := N - scoreFrom
	lo := p.lo
	w.nt(S, LD, n, w.skip, n, w.z, w.zOffsets(scoreFrom), w.gw, LD, false)
	for l := 0; l < L; l++ {
		g := grad[lo.skipW[l] : lo.skipW[l]+S*D]
		for s := 0; s < S; s++ {
			src := w.gw[s*LD+l*D : s*LD+(l+1)*D]
			dst := g[s*D : (s+1)*D]
			for c, v := range src {
				dst[c] += v
			}
		}
	}
	if lo.skipB[0] >= 0 {
		clear(w.rowSum)
		addRowSums(w.k, w.rowSum, w.skip, n, n)
		for l := 0; l < L; l++ {
			g := grad[lo.skipB[l] : lo.skipB[l]+S]
			for s, v := range w.rowSum {
				g[s] += v
			}
		}
	}
}

// backBlock is how many time steps layersBackward runs a layer's backward
// over at once, after the layer's share of the skip gradient: as in the
// forward (layerBlock), the blocks' dz, [df; dg] and dh stay in L2 from one
// product to the next. It is a multiple of every GemmNT's time block (128,
// 256 for bf16, 512 for the generic set), so a weight gradient sums the
// same partial sums in the same order as over the whole range; the taps'
// input gradients reach each position in a fixed order (layerBackward);
// so the results do not depend on the block (TestTimeBlocksAreInvisible;
// the reference set sums each call in float64 and differs in the last
// bits).
const backBlock = 512

// layersBackward runs the layers' backward pass from the top, keeping the
// residual-stream gradient dh in one buffer: going down through layer l it
// holds ∂loss/∂h_l+1 and becomes ∂loss/∂h_l by adding the dilated conv's
// input gradient at the K tap shifts (the residual path adds identity).
//
//	dz_l   = W_skip,lᵀ·dS (from scoreFrom on) + W_r,lᵀ·dh     dW_r += dh·z_lᵀ
//	[df;dg] = gate backward of dz_l                          dW_fg += [df;dg]·taps(h_l)ᵀ
//	dh(t−(K−1−k)d) += W_fg,kᵀ·[df;dg](t)  for each tap k
//
// Within a layer the time blocks run in order: block [a, b) reads dh on
// [a, b) before its taps add to [a−(K−1)d, b), and earlier blocks only
// wrote below a.
func (w *Workspace) layersBackward(p *Packed, grad []float32, N, scoreFrom int) {
	R, D, S, K, L, ld, ldh, M := w.n.R, w.n.D, w.n.S, w.n.K, w.n.L, w.ld, w.ldh, w.margin
	lo := p.lo
	n := N - scoreFrom
	for r := 0; r < R; r++ {
		clear(w.dh[r*ldh+M+scoreFrom : r*ldh+M+N]) // nothing flows from above the last layer
	}
	// dS is packed once for the L products below (rounded, in bf16).
	bf := w.prec == PrecisionBF16
	pk := !bf && w.dsPack32 != nil
	switch {
	case bf:
		w.k.PackBF16(S, n, w.skip, w.rowOffsets(S, n, 0), w.dsPack)
	case pk:
		w.k.Pack(S, n, w.skip, w.rowOffsets(S, n, 0), w.dsPack32)
	}
	for l := L - 1; l >= 0; l-- {
		s := w.start[l]
		nl := N - s
		for c := 0; c < D; c++ {
			clear(w.dz[c*ld+s : c*ld+scoreFrom])
		}
		switch {
		case bf:
			h := p.bf.skipWT[l]
			w.k.GemmNNBF16Packed(D, n, S, h.a, h.ld, w.dsPack, w.dz[scoreFrom:], ld, nil, false)
		case pk:
			w.k.GemmNNPacked(D, n, S, p.skipWT[l], S, w.dsPack32, w.dz[scoreFrom:], ld, nil, false)
		default:
			w.k.GemmNN(D, n, S, p.skipWT[l], S, w.skip, w.rowOffsets(S, n, 0), w.dz[scoreFrom:], ld, nil, false)
		}
		if l < L-1 && lo.resB[l] >= 0 {
			// Before the taps below add to dh.
			addRowSums(w.k, grad[lo.resB[l]:lo.resB[l]+R], w.dh[M+s:], nl, ldh)
		}
		// dh now holds ∂/∂h_l+1 from position s on, which is also the
		// identity path's share of ∂/∂h_l; the taps reach back to
		// s−(K−1)d, where nothing has arrived yet.
		d := w.cfg.Dilations[l]
		for r := 0; r < R; r++ {
			clear(w.dh[r*ldh+M+s-(K-1)*d : r*ldh+M+s])
		}
		for a := s; a < N; a += w.bblock {
			w.layerBackward(p, grad, l, s, a, min(N, a+w.bblock))
		}
		g := grad[lo.fgW[l] : lo.fgW[l]+2*D*R*K]
		for o := 0; o < 2*D; o++ {
			for k := 0; k < K; k++ {
				src := w.gw[o*K*R+k*R : o*K*R+(k+1)*R]
				for r, v := range src {
					g[(o*R+r)*K+k] += v
				}
			}
		}
		if lo.fgB[l] >= 0 {
			addRowSums(w.k, grad[lo.fgB[l]:lo.fgB[l]+2*D], w.dfg[s:], nl, ld)
		}
		if w.cond != nil {
			w.conditionBackward(p, grad, l, s, nl)
		}
	}
}

// layerBackward runs layer l's backward over positions a..e−1 (the layer
// starts at s): the residual's gradients, the gate's, the conv's weight
// gradient (summed into w.gw from a = s on) and its input gradient.
func (w *Workspace) layerBackward(p *Packed, grad []float32, l, s, a, e int) {
	R, D, K, L, ld, ldh, M := w.n.R, w.n.D, w.n.K, w.n.L, w.ld, w.ldh, w.margin
	lo := p.lo
	nb := e - a
	bf := w.prec == PrecisionBF16
	pk := !bf && w.dfgPack32 != nil
	if l < L-1 {
		zoffs := w.rowOffsets(D, ld, l*D*ld+a)
		w.nt(R, D, nb, w.dh[M+a:], ldh, w.z, zoffs, grad[lo.resW[l]:], D, true)
		w.nn(D, nb, R, p.resWT[l], R, p.bf.resWT[l], w.dh, w.rowOffsets(R, ldh, M+a), w.dz[a:], ld, nil, true)
	}
	fg := w.tfsgBuf(l)
	for c := 0; c < D; c++ {
		w.k.GateBackward(nb, fg[c*ld+a:], fg[(D+c)*ld+a:], w.dz[c*ld+a:], w.dfg[c*ld+a:], w.dfg[(D+c)*ld+a:])
	}
	w.nt(2*D, K*R, nb, w.dfg[a:], ld, w.h, w.tapOffsets(l, a), w.gw, K*R, a > s)
	// The K taps multiply the same [df; dg]: packed once. They run from
	// the last (shift 0) down, so that every position of dh receives its
	// taps in that order whatever the blocks: tap k's share of position t
	// comes from [df; dg] at t+(K−1−k)d, in the same block or a later one.
	d := w.cfg.Dilations[l]
	foffs := w.rowOffsets(2*D, ld, a)
	switch {
	case bf:
		w.k.PackBF16(2*D, nb, w.dfg, foffs, w.dfgPack)
		for k := K - 1; k >= 0; k-- {
			h := p.bf.fgWT[l][k]
			w.k.GemmNNBF16Packed(R, nb, 2*D, h.a, h.ld, w.dfgPack, w.dh[M+a-(K-1-k)*d:], ldh, nil, true)
		}
	case pk:
		w.k.Pack(2*D, nb, w.dfg, foffs, w.dfgPack32)
		for k := K - 1; k >= 0; k-- {
			w.k.GemmNNPacked(R, nb, 2*D, p.fgWT[l][k*R*2*D:], 2*D, w.dfgPack32, w.dh[M+a-(K-1-k)*d:], ldh, nil, true)
		}
	default:
		for k := K - 1; k >= 0; k-- {
			w.k.GemmNN(R, nb, 2*D, p.fgWT[l][k*R*2*D:], 2*D, w.dfg, foffs, w.dh[M+a-(K-1-k)*d:], ldh, nil, true)
		}
	}
}

// conditionBackward adds layer l's share of the conditioning gradients:
// with c = W_gc·e the speaker's addition to [f; g] at every position,
// ∂/∂c = Σ_t [df; dg](t), ∂/∂W_gc = (∂/∂c)·eᵀ and ∂/∂e += W_gcᵀ·(∂/∂c).
func (w *Workspace) conditionBackward(p *Packed, grad []float32, l, s, nl int) {
	D, ld := w.n.D, w.ld
	G := w.cfg.GlobalCondition.Channels
	dc := w.dcond
	clear(dc)
	addRowSums(w.k, dc, w.dfg[s:], nl, ld)
	lo := p.lo
	e := p.gcE[w.speaker*G : (w.speaker+1)*G]
	de := grad[lo.gcE+w.speaker*G : lo.gcE+(w.speaker+1)*G]
	gw := grad[lo.gcW[l] : lo.gcW[l]+2*D*G]
	wt := p.gcW[l]
	for o, d := range dc {
		row := gw[o*G : (o+1)*G]
		for g, x := range e {
			row[g] += d * x
		}
		wr := wt[o*G : (o+1)*G]
		for g, v := range wr {
			de[g] += v * d
		}
	}
}

// inputBackward scatters ∂loss/∂h_0 into the input layer's weight (the
// transpose of the forward gather) and bias.
func (w *Workspace) inputBackward(p *Packed, grad []float32, x []int32) {
	N, R, Q := len(x), w.n.R, w.n.Q
	a0 := w.inputStart()
	lo := p.lo
	kin := w.cfg.InputKernelSize
	gw := grad[lo.inW:]
	for r := 0; r < R; r++ {
		row := w.dh[r*w.ldh+w.margin : r*w.ldh+w.margin+N]
		switch {
		case w.cfg.InputEncoding == InputEmbedding:
			for t := a0; t < N; t++ {
				gw[int(x[t])*R+r] += row[t]
			}
		default:
			wr := gw[r*Q*kin : (r+1)*Q*kin]
			for t := a0; t < N; t++ {
				for k := max(0, kin-1-t); k < kin; k++ {
					wr[int(x[t-(kin-1)+k])*kin+k] += row[t]
				}
			}
		}
		if lo.inB >= 0 {
			grad[lo.inB+r] += float32(w.k.Sum(N-a0, row[a0:]))
		}
	}
}
