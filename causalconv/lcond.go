package causalconv

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// Local conditioning (Config.LocalCondition): a locally conditioned model
// is given, with each sequence, its utterance's frame features X (C × F)
// and the sample the sequence starts at (Workspace.SetFeatures). An
// upsampling network (r9y9's ConvInUpsampleNetwork) turns them into one
// C-vector per sample, and every layer adds its projection to [f; g]:
//
//	Xn[c,k]  = (X[c,k] − mean[c]) / std[c]
//	Xp       = Xn with P copies of its first frame before, P of its last after
//	A        = conv1d(Xp, lc_conv_in)                      C × F
//	U_j[c,u] = Σ_{d=−s..s} w_j[d+s]·U_{j−1}[c, ⌊(u+d)/s⌋]  stretch by s and smooth (zero outside)
//	cond(t)  = U_J[:, clamp(start+t+1−off, 0, F·H−1)]       (Config.LocalCondition)
//	[f; g](t) += W_lc,l·cond(t)                              every layer, one GemmNN per time block
//
//	backward  ∂W_lc,l += [df; dg]·condᵀ   ∂cond += Σ_l W_lc,lᵀ·[df; dg]   (GEMMs per time block)
//	          then the gather, the stages and conv_in transposed; nothing flows to X.
//
// A call computes each stage only over the columns its positions need:
// every column is the same sum in the same order whatever range it is
// computed in, so the result is that of the whole utterance's network,
// bit for bit, at the cost of the call's positions.

// lcWork is a locally conditioned workspace's share: the call's features,
// the upsampling network's activations over the columns the call needs,
// and the per-position conditioning vectors the layers multiply.
type lcWork struct {
	lc        *LocalCondition
	mean, std []float32 // per channel (0 and 1 when the config has none)

	feats Matrix // the utterance's raw features, C × F (Rows 0: none set)
	start int    // the utterance sample of input position 0

	cond, dcond []float32 // [C × ld]: cond(t) at column t, and its gradient (training)

	// Stage j = 0 is conv_in's output A (columns are frames), stage j ≥ 1
	// the j-th upsampling stage's output; each holds columns lo[j]..hi[j]−1
	// of that stage, C rows of stride width[j]. xn holds the normalised,
	// replicate-padded frames lo[0]..hi[0]+2P−1 of Xp, C rows of stride
	// width[0]+2P.
	stage, dstage [][]float32
	width         []int
	lo, hi        []int
	xn            []float32
	str           []float32 // one stage's stretched row (forward)
	inOff         []int     // conv_in's GemmNN offsets into xn
	dk            []float64 // one stage's kernel gradient (2s+1), summed in float64
}

// newLCWork allocates a local-conditioning share for calls of up to maxLen
// positions: the last stage needs at most maxLen columns, and stage j−1
// at most (n_j + 2s)/s + 2 for n_j of stage j.
func newLCWork(lc *LocalCondition, ld, maxLen int, training bool) *lcWork {
	C, J := lc.Channels, len(lc.UpsampleScales)
	l := &lcWork{lc: lc, mean: make([]float32, C), std: make([]float32, C)}
	for c := range l.std {
		l.std[c] = 1
		if lc.Mean != nil {
			l.mean[c] = float32(lc.Mean[c])
		}
		if lc.Std != nil {
			l.std[c] = float32(lc.Std[c])
		}
	}
	l.cond = make([]float32, C*ld)
	l.width = make([]int, J+1)
	l.width[J] = maxLen
	for j := J; j >= 1; j-- {
		s := lc.UpsampleScales[j-1]
		l.width[j-1] = (l.width[j]+2*s)/s + 2
	}
	l.stage = make([][]float32, J+1)
	for j := range l.stage {
		l.stage[j] = make([]float32, C*l.width[j])
	}
	l.xn = make([]float32, C*(l.width[0]+2*lc.Context))
	l.inOff = make([]int, C*(2*lc.Context+1))
	l.str = make([]float32, maxLen+2*slices.Max(lc.UpsampleScales))
	l.lo, l.hi = make([]int, J+1), make([]int, J+1)
	if training {
		l.dk = make([]float64, 2*slices.Max(lc.UpsampleScales)+1)
		l.dcond = make([]float32, C*ld)
		l.dstage = make([][]float32, J+1)
		for j := range l.dstage {
			l.dstage[j] = make([]float32, C*l.width[j])
		}
	}
	return l
}

// bytes is the memory the share's buffers hold.
func (l *lcWork) bytes() int64 {
	n := len(l.cond) + len(l.dcond) + len(l.xn) + len(l.str) + len(l.mean) + len(l.std) + 2*len(l.inOff) // an int is two floats
	for j := range l.stage {
		n += len(l.stage[j])
		if l.dstage != nil {
			n += len(l.dstage[j])
		}
	}
	return 4 * int64(n)
}

// SetFeatures gives a locally conditioned model's later calls their
// features: feats is the utterance's raw (unnormalised) features, one row
// per feature channel (Config.LocalCondition.Channels rows) and one column
// per frame (at least one), and start is the sample of the utterance that
// input position 0 of the calls is (0 for a sequence from the utterance's
// start). The workspace keeps feats, not a copy: leave it unchanged while
// it is set. A workspace of a model without local conditioning refuses
// features, and one with it refuses calls until they are set.
func (w *Workspace) SetFeatures(feats Matrix, start int) error {
	if w.lc == nil {
		return errors.New("causalconv: features given for a model that is not locally conditioned")
	}
	return w.lc.set(feats, start)
}

// set checks and keeps one utterance's features and start (SetFeatures,
// Generator.SetFeatures).
func (l *lcWork) set(feats Matrix, start int) error {
	C := l.lc.Channels
	switch {
	case feats.Rows != C:
		return fmt.Errorf("causalconv: features have %d channels; the model takes %d", feats.Rows, C)
	case feats.Cols < 1:
		return errors.New("causalconv: features have no frames")
	case feats.Stride < feats.Cols || len(feats.Data) < (C-1)*feats.Stride+feats.Cols:
		return fmt.Errorf("causalconv: a %d × %d feature matrix of stride %d in %d values", C, feats.Cols, feats.Stride, len(feats.Data))
	case start < 0:
		return fmt.Errorf("causalconv: features for a sequence that starts at sample %d", start)
	case int64(feats.Cols)*int64(l.lc.Hop) > 1<<40:
		return fmt.Errorf("causalconv: %d frames of %d samples are too many", feats.Cols, l.lc.Hop)
	}
	for c := 0; c < C; c++ {
		for k, v := range feats.Row(c) {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("causalconv: feature %d of frame %d is %g", c, k, v)
			}
		}
	}
	l.feats, l.start = feats, start
	return nil
}

// ClearFeatures forgets the features set by SetFeatures.
func (w *Workspace) ClearFeatures() {
	if w.lc != nil {
		w.lc.feats = Matrix{}
	}
}

// checkFeatures reports a locally conditioned call without features.
func (w *Workspace) checkFeatures() error {
	if w.lc != nil && w.lc.feats.Rows == 0 {
		return errors.New("causalconv: the model is locally conditioned: the call needs its features (SetFeatures)")
	}
	return nil
}

// column is the last stage's column that conditions input position t.
func (l *lcWork) column(t int) int {
	return min(max(l.start+t+1-l.lc.offset(), 0), l.feats.Cols*l.lc.Hop-1)
}

// ranges sets the columns lo[j]..hi[j]−1 each stage computes for positions
// t0..N−1: the last stage's are those the positions read, and each stage
// below holds what the stage above reads, s columns either side stretched.
func (l *lcWork) ranges(t0, N int) {
	J := len(l.lc.UpsampleScales)
	l.lo[J], l.hi[J] = l.column(t0), l.column(N-1)+1
	n := l.feats.Cols * l.lc.Hop // the length of stage j's output
	for j := J; j >= 1; j-- {
		s := l.lc.UpsampleScales[j-1]
		a, b := max(0, l.lo[j]-s), min(n, l.hi[j]+s)
		l.lo[j-1], l.hi[j-1] = a/s, (b-1)/s+1
		n /= s
	}
}

// lcForward computes cond(t) for the positions from w.start[0] to N−1.
func (w *Workspace) lcForward(p *Packed, N int) {
	if l := w.lc; l != nil {
		t0 := w.start[0]
		l.forward(w.k, p, t0, N, l.cond[t0:], w.ld)
	}
}

// forward runs the upsampling network over the columns positions t0..N−1
// read and gathers cond(t) into dst[c·ld + t−t0] (the workspace's calls
// and the generator's blocks of upcoming samples), with the kernels k.
func (l *lcWork) forward(k kernels.Set, p *Packed, t0, N int, dst []float32, ld int) {
	l.prepare(k, p, t0, N)
	for o := 0; o < l.lc.Channels; o++ {
		l.channel(k, p, o, t0, N, dst, ld)
	}
}

// prepare is forward's first part: it sets the columns each stage
// computes for positions t0..N−1, the normalised, padded frames conv_in
// reads, and conv_in's output A. channel then computes the rest one
// output channel at a time (a generator spreads them over its steps).
func (l *lcWork) prepare(k kernels.Set, p *Packed, t0, N int) {
	lc, C := l.lc, l.lc.Channels
	l.ranges(t0, N)
	F, P := l.feats.Cols, lc.Context
	// Xp over the frames conv_in reads, normalised.
	n0 := l.hi[0] - l.lo[0]
	wx := n0 + 2*P
	for c := 0; c < C; c++ {
		x, row := l.feats.Row(c), l.xn[c*wx:(c+1)*wx]
		for i := range row {
			row[i] = (x[min(max(l.lo[0]+i-P, 0), F-1)] - l.mean[c]) / l.std[c]
		}
	}
	// A = conv1d(Xp, lc_conv_in): one GemmNN, the torch layout [C × C·q]
	// times the columns Xp[c, k+i] in the order (c, i).
	q := 2*P + 1
	for c := 0; c < C; c++ {
		for i := 0; i < q; i++ {
			l.inOff[c*q+i] = c*wx + i
		}
	}
	k.GemmNN(C, n0, C*q, p.lcIn, C*q, l.xn, l.inOff, l.stage[0], l.width[0], nil, false)
}

// channel is the rest of forward for output channel o, after prepare with
// the same t0 and N: every stage's row o and the gather of cond(t)'s row
// o into dst[o·ld + t−t0]. The channels are independent from conv_in's
// output on.
func (l *lcWork) channel(k kernels.Set, p *Packed, o, t0, N int, dst []float32, ld int) {
	lc := l.lc
	// The stages: stretch by s, then smooth with the 2s+1 taps. Each
	// output sums its taps in order from zero; the taps outside the
	// stage's n columns read zeros of the stretched row, which add
	// nothing (a product with +0 or −0 leaves a nonzero sum as it is and
	// +0 as +0), so the sum is the same as skipping them.
	n := l.feats.Cols
	for j, s := range lc.UpsampleScales {
		n *= s
		src, ilo := l.stage[j][o*l.width[j]:(o+1)*l.width[j]], l.lo[j]
		lo, hi := l.lo[j+1], l.hi[j+1]
		out := l.stage[j+1][o*l.width[j+1]:][:hi-lo]
		// str[i] is the stretched row's column lo−s+i, zero outside [0, n).
		str := l.str[:hi-lo+2*s]
		a, b := max(0, s-lo), min(len(str), n-lo+s) // str[a:b] is inside [0, n)
		clear(str[:a])
		clear(str[b:])
		u := lo - s + a
		q, r := u/s-ilo, u%s // the source column of u, stepped without dividing
		for i := a; i < b; i++ {
			str[i] = src[q]
			if r++; r == s {
				q, r = q+1, 0
			}
		}
		clear(out)
		for d, kd := range p.lcUp[j][:2*s+1] {
			k.Axpy(len(out), kd, str[d:], out)
		}
	}
	// The gather.
	J := len(lc.UpsampleScales)
	U, lo := l.stage[J][o*l.width[J]:(o+1)*l.width[J]], l.lo[J]
	row := dst[o*ld:]
	for t := t0; t < N; t++ {
		row[t-t0] = U[l.column(t)-lo]
	}
}

// lcLayerForward adds layer l's W_lc,l·cond to the block [f; g] fb (row
// stride ldb) of positions s..s+n−1, after the conv, its bias and the
// speaker's term: one GemmNN, C deep, in the workspace's precision.
func (w *Workspace) lcLayerForward(p *Packed, l, s, n int, fb []float32, ldb int) {
	if w.lc == nil {
		return
	}
	C, D := w.lc.lc.Channels, w.n.D
	w.nn(2*D, n, C, p.lcW[l], C, p.bf.lcW[l], w.lc.cond, w.rowOffsets(C, w.ld, s), fb, ldb, nil, true)
}

// lcLayerWeightGrad adds layer l's ∂W_lc,l = [df; dg]·condᵀ over positions
// a..a+nb−1, straight into the gradient arena (torch's [2D, C, 1] is the
// GemmNT's row-major [2D × C]).
func (w *Workspace) lcLayerWeightGrad(p *Packed, grad []float32, l, a, nb int) {
	if w.lc == nil {
		return
	}
	C, D := w.lc.lc.Channels, w.n.D
	w.nt(2*D, C, nb, w.dfg[a:], w.ld, w.lc.cond, w.rowOffsets(C, w.ld, a), grad[p.lo.lcW[l]:], C, true)
}

// lcBackward runs the upsampling network's backward pass from ∂cond
// (summed over the layers by layersBackward) to the gradients of the
// stages' kernels and of lc_conv_in. The weight gradients are summed in
// float64, in a fixed order, and added once.
func (w *Workspace) lcBackward(p *Packed, grad []float32, N int) {
	l := w.lc
	if l == nil {
		return
	}
	lc, C, ld, lo := l.lc, l.lc.Channels, w.ld, p.lo
	J := len(lc.UpsampleScales)
	t0 := w.start[0]
	// The gather's transpose: a column read by many positions gets the sum.
	dU, wu, ulo := l.dstage[J], l.width[J], l.lo[J]
	for c := 0; c < C; c++ {
		clear(dU[c*wu : c*wu+l.hi[J]-ulo])
	}
	for t := t0; t < N; t++ {
		col := l.column(t) - ulo
		for c := 0; c < C; c++ {
			dU[c*wu+col] += l.dcond[c*ld+t]
		}
	}
	// The stages, from the last.
	n := l.feats.Cols * lc.Hop
	for j := J - 1; j >= 0; j-- {
		s := lc.UpsampleScales[j]
		in, din, win, ilo := l.stage[j], l.dstage[j], l.width[j], l.lo[j]
		dout, wout, olo, ohi := l.dstage[j+1], l.width[j+1], l.lo[j+1], l.hi[j+1]
		k := p.lcUp[j]
		dk := l.dk[:2*s+1]
		clear(dk)
		for c := 0; c < C; c++ {
			clear(din[c*win : c*win+l.hi[j]-ilo])
		}
		for c := 0; c < C; c++ {
			src, dsrc, g := in[c*win:(c+1)*win], din[c*win:(c+1)*win], dout[c*wout:(c+1)*wout]
			for u := olo; u < ohi; u++ {
				gu := g[u-olo]
				d := max(-s, -u)
				i, r := (u+d)/s-ilo, (u+d)%s // the source column of u+d, stepped without dividing
				for ; d <= s && u+d < n; d++ {
					dk[d+s] += float64(gu) * float64(src[i])
					dsrc[i] += k[d+s] * gu
					if r++; r == s {
						i, r = i+1, 0
					}
				}
			}
		}
		gk := grad[lo.lcUp[j] : lo.lcUp[j]+2*s+1]
		for i := range gk {
			gk[i] += float32(dk[i])
		}
		n /= s
	}
	// conv_in: ∂W[o,c,i] = Σ_k ∂A[o,k]·Xp[c,k+i].
	P := lc.Context
	q := 2*P + 1
	dA, wa, n0 := l.dstage[0], l.width[0], l.hi[0]-l.lo[0]
	wx := n0 + 2*P
	gw := grad[lo.lcIn : lo.lcIn+C*C*q]
	for o := 0; o < C; o++ {
		g := dA[o*wa : o*wa+n0]
		for c := 0; c < C; c++ {
			x := l.xn[c*wx : (c+1)*wx]
			for i := 0; i < q; i++ {
				var v float64
				for k, gk := range g {
					v += float64(gk) * float64(x[k+i])
				}
				gw[(o*C+c)*q+i] += float32(v)
			}
		}
	}
}

// LocalConditionError is the error of the parts of the program that do
// not take features yet (training), given a locally
// conditioned model: they refuse it rather than run it unconditioned.
type LocalConditionError struct {
	// What is the part refusing, such as "training".
	What string
	// Channels and Hop are the model's feature channels and hop.
	Channels, Hop int
}

// Error says what refused the model and why.
func (e *LocalConditionError) Error() string {
	return fmt.Sprintf("the model is locally conditioned (%d feature channels per %d-sample frame); %s with features is not implemented yet",
		e.Channels, e.Hop, e.What)
}

// RefuseLocalCondition returns nil for a model without local conditioning
// and a *LocalConditionError naming what for a locally conditioned one.
func (c Config) RefuseLocalCondition(what string) error {
	lc := c.LocalCondition
	if lc == nil {
		return nil
	}
	return &LocalConditionError{What: what, Channels: lc.Channels, Hop: lc.Hop}
}
