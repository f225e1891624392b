package causalconv

import (
	"fmt"
	"slices"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// Packed is a model's weights rearranged into the layouts the kernels
// multiply with. It is built from the parameter arena once per training
// step (Pack), then only read, so any number of workspaces on any number of
// goroutines can use one Packed at the same time.
//
// With activations as [channels × time] matrices every product is W·X with
// W row-major:
//
//	fgW[l]    [2D × K·R]  filter_gate.l.weight with its K taps side by side:
//	                      column k·R+r is tap k of input channel r, so one
//	                      GemmNN over K·R rows of the layer input (the same
//	                      buffer at K time shifts) is the whole dilated conv
//	fgWT[l]   K × [R × 2D] the transpose of each tap, for the input gradient
//	resW[l]   [R × D]     residual.l.weight as stored;  resWT[l] [D × R]
//	skipW     [S × L·D]   every skip.l.weight side by side, for the one fused
//	                      skip product over all layers' gate outputs
//	skipWT[l] [D × S]     the transpose of skip.l.weight
//	skipB     [S]         Σ_l skip.l.bias (the fused product adds it once)
//	p1W [E × S], p1WT [S × E], p2W [Q × E], p2WT [E × Q]
//	lcW[l]    [2D × C]    filter_gate_lc.l.weight (local conditioning), and
//	lcWT[l]   [C × 2D]    its transpose for ∂cond; lcIn and lcUp, the
//	                      upsampling network's, as stored
//
// The input layer needs no packing: the forward pass gathers columns of
// input_layer.weight directly. Every slice lives in one buffer, a copy, so a
// Packed does not change when the parameters do.
//
// A Packed made for PrecisionBF16 (NewPackedPrecision) also holds every
// matrix above but the biases rounded to bfloat16 (kernels.ToBF16Matrix),
// the form the bf16 kernels take their weights in. It keeps the float32
// ones too, so workspaces of either precision can use it.
type Packed struct {
	cfg  Config
	lo   *layout
	buf  []float32
	prec Precision
	bf   packedBF16

	inW, inB     []float32
	fgW, fgB     [][]float32
	fgWT         [][]float32
	resW, resB   [][]float32
	resWT        [][]float32
	skipW, skipB []float32
	skipWT       [][]float32
	p1W, p1B     []float32
	p1WT         []float32
	p2W, p2B     []float32
	p2WT         []float32
	gcE          []float32   // [C × G] speaker embeddings (nil: unconditioned)
	gcW          [][]float32 // per layer: [2D × G]
	lcIn         []float32   // [C × C·(2P+1)] lc_conv_in.weight as stored (nil: no local conditioning)
	lcUp         [][]float32 // per upsampling stage: its 2s+1 taps
	lcW, lcWT    [][]float32 // per layer: filter_gate_lc [2D × C] and its transpose [C × 2D]
}

// bfMat is a weight matrix in bfloat16, rows of ld elements (see
// kernels.ToBF16Matrix).
type bfMat struct {
	a  []uint16
	ld int
}

// packedBF16 are the bfloat16 copies of Packed's matrices; for a float32
// Packed every bfMat is empty (the slices have their lengths, so the
// workspace can name a layer's matrix whatever the precision).
type packedBF16 struct {
	buf         []uint16
	fgW         []bfMat   // [2D × K·R]
	fgWT        [][]bfMat // per layer, per tap: [R × 2D]
	resW, resWT []bfMat   // [R × D], [D × R]
	skipW       bfMat     // [S × L·D]
	skipWT      []bfMat   // [D × S]
	p1W, p1WT   bfMat     // [E × S], [S × E]
	p2W, p2WT   bfMat     // [Q × E], [E × Q]
	lcW, lcWT   []bfMat   // per layer: [2D × C], [C × 2D] (local conditioning)
}

// NewPacked returns room for the packed float32 weights of architecture c:
// NewPackedPrecision(c, PrecisionFP32).
func NewPacked(c Config) (*Packed, error) { return NewPackedPrecision(c, PrecisionFP32) }

// NewPackedPrecision returns room for the packed weights of architecture c
// for workspaces of precision prec (a PrecisionBF16 Packed serves both).
func NewPackedPrecision(c Config, prec Precision) (*Packed, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if prec > PrecisionBF16 {
		return nil, fmt.Errorf("causalconv: unknown precision %d", uint8(prec))
	}
	c.Dilations = slices.Clone(c.Dilations)
	c.LocalCondition = c.LocalCondition.Clone()
	Q, R, D := c.QuantizationChannels, c.ResidualChannels, c.DilationChannels
	S, E, K := c.SkipChannels, c.EndChannels, c.KernelSize
	L, nres := c.Layers(), c.ResidualLayers()
	p := &Packed{cfg: c, lo: newLayout(c)}
	size := p.lo.size + // every tensor once in its forward layout...
		L*2*D*K*R + nres*D*R + L*D*S + S*E + E*Q // ...and the transposes
	if c.Bias {
		size += S - L*S // one summed skip bias instead of L
	}
	if lc := c.LocalCondition; lc != nil {
		size += L * 2 * D * lc.Channels // filter_gate_lc's transposes
	}
	p.buf = make([]float32, size)
	rest := p.buf
	take := func(n int) []float32 {
		s := rest[:n:n]
		rest = rest[n:]
		return s
	}
	bias := func(n int) []float32 {
		if !c.Bias {
			return nil
		}
		return take(n)
	}
	if c.InputEncoding == InputEmbedding {
		p.inW = take(Q * R)
	} else {
		p.inW = take(R * Q * c.InputKernelSize)
	}
	p.inB = bias(R)
	for l := 0; l < L; l++ {
		p.fgW = append(p.fgW, take(2*D*K*R))
		p.fgWT = append(p.fgWT, take(K*R*2*D))
		p.fgB = append(p.fgB, bias(2*D))
	}
	for l := 0; l < nres; l++ {
		p.resW = append(p.resW, take(R*D))
		p.resWT = append(p.resWT, take(D*R))
		p.resB = append(p.resB, bias(R))
	}
	p.skipW = take(S * L * D)
	for l := 0; l < L; l++ {
		p.skipWT = append(p.skipWT, take(D*S))
	}
	if c.Bias {
		p.skipB = take(S)
	}
	p.p1W, p.p1WT, p.p1B = take(E*S), take(S*E), bias(E)
	p.p2W, p.p2WT, p.p2B = take(Q*E), take(E*Q), bias(Q)
	if g := c.GlobalCondition; g != nil {
		p.gcE = take(g.Cardinality * g.Channels)
		for l := 0; l < L; l++ {
			p.gcW = append(p.gcW, take(2*D*g.Channels))
		}
	}
	if lc := c.LocalCondition; lc != nil {
		C := lc.Channels
		p.lcIn = take(C * C * (2*lc.Context + 1))
		for _, s := range lc.UpsampleScales {
			p.lcUp = append(p.lcUp, take(2*s+1))
		}
		for l := 0; l < L; l++ {
			p.lcW = append(p.lcW, take(2*D*C))
			p.lcWT = append(p.lcWT, take(C*2*D))
		}
	}
	if len(rest) != 0 {
		panic(fmt.Sprintf("causalconv: packed layout miscounted by %d", len(rest)))
	}
	p.prec = prec
	p.bf = newPackedBF16(c, prec == PrecisionBF16)
	return p, nil
}

// newPackedBF16 lays out the bfloat16 matrices of architecture c, or only
// empty placeholders if alloc is false.
func newPackedBF16(c Config, alloc bool) packedBF16 {
	R, D, S, E, K, Q := c.ResidualChannels, c.DilationChannels, c.SkipChannels, c.EndChannels, c.KernelSize, c.QuantizationChannels
	L, nres := c.Layers(), c.ResidualLayers()
	type shape struct {
		m    *bfMat
		r, c int
	}
	var shapes []shape
	b := packedBF16{
		fgW: make([]bfMat, L), fgWT: make([][]bfMat, L),
		resW: make([]bfMat, nres), resWT: make([]bfMat, nres),
		skipWT: make([]bfMat, L),
	}
	for l := 0; l < L; l++ {
		b.fgWT[l] = make([]bfMat, K)
		shapes = append(shapes, shape{&b.fgW[l], 2 * D, K * R})
		for k := range b.fgWT[l] {
			shapes = append(shapes, shape{&b.fgWT[l][k], R, 2 * D})
		}
		shapes = append(shapes, shape{&b.skipWT[l], D, S})
	}
	for l := 0; l < nres; l++ {
		shapes = append(shapes, shape{&b.resW[l], R, D}, shape{&b.resWT[l], D, R})
	}
	shapes = append(shapes, shape{&b.skipW, S, L * D},
		shape{&b.p1W, E, S}, shape{&b.p1WT, S, E}, shape{&b.p2W, Q, E}, shape{&b.p2WT, E, Q})
	if lc := c.LocalCondition; lc != nil {
		b.lcW, b.lcWT = make([]bfMat, L), make([]bfMat, L)
		for l := 0; l < L; l++ {
			shapes = append(shapes, shape{&b.lcW[l], 2 * D, lc.Channels}, shape{&b.lcWT[l], lc.Channels, 2 * D})
		}
	}
	if !alloc {
		return b
	}
	size := 0
	for _, sh := range shapes {
		size += sh.r * kernels.BF16Stride(sh.c)
	}
	b.buf = make([]uint16, size)
	rest := b.buf
	for _, sh := range shapes {
		ld := kernels.BF16Stride(sh.c)
		*sh.m = bfMat{a: rest[: sh.r*ld : sh.r*ld], ld: ld}
		rest = rest[sh.r*ld:]
	}
	return b
}

// Precision returns the precision p was made for.
func (p *Packed) Precision() Precision { return p.prec }

// Packed returns the model's weights packed for the kernels.
func (m *Model) Packed() *Packed {
	p, err := NewPacked(m.Config)
	if err != nil {
		panic(err) // a Model's Config was validated by New
	}
	if err := p.Pack(m.Params); err != nil {
		panic(err)
	}
	return p
}

// Config returns the architecture the weights are packed for.
func (p *Packed) Config() Config { return p.cfg }

// Pack rearranges params, an arena laid out like Model.Params for p's
// architecture, into p. It does not allocate.
func (p *Packed) Pack(params []float32) error {
	lo := p.lo
	if len(params) != lo.size {
		return fmt.Errorf("causalconv: packing %d parameters into a model that has %d", len(params), lo.size)
	}
	c := p.cfg
	R, D, S, E, K := c.ResidualChannels, c.DilationChannels, c.SkipChannels, c.EndChannels, c.KernelSize
	Q, L := c.QuantizationChannels, c.Layers()
	vec := func(off, n int) []float32 { return params[off : off+n] }
	copy(p.inW, vec(lo.inW, len(p.inW)))
	if c.Bias {
		copy(p.inB, vec(lo.inB, R))
	}
	for l := 0; l < L; l++ {
		w := vec(lo.fgW[l], 2*D*R*K) // torch [2D, R, K]
		fw, ft := p.fgW[l], p.fgWT[l]
		for o := 0; o < 2*D; o++ {
			for r := 0; r < R; r++ {
				for k := 0; k < K; k++ {
					v := w[(o*R+r)*K+k]
					fw[o*K*R+k*R+r] = v
					ft[(k*R+r)*2*D+o] = v
				}
			}
		}
		if c.Bias {
			copy(p.fgB[l], vec(lo.fgB[l], 2*D))
		}
	}
	for l := range p.resW {
		w := vec(lo.resW[l], R*D)
		copy(p.resW[l], w)
		transpose(p.resWT[l], w, R, D)
		if c.Bias {
			copy(p.resB[l], vec(lo.resB[l], R))
		}
	}
	if c.Bias {
		clear(p.skipB)
	}
	for l := 0; l < L; l++ {
		w := vec(lo.skipW[l], S*D) // [S, D]
		for s := 0; s < S; s++ {
			copy(p.skipW[s*L*D+l*D:s*L*D+(l+1)*D], w[s*D:(s+1)*D])
		}
		transpose(p.skipWT[l], w, S, D)
		if c.Bias {
			for s, b := range vec(lo.skipB[l], S) {
				p.skipB[s] += b
			}
		}
	}
	copy(p.p1W, vec(lo.p1W, E*S))
	transpose(p.p1WT, p.p1W, E, S)
	copy(p.p2W, vec(lo.p2W, Q*E))
	transpose(p.p2WT, p.p2W, Q, E)
	if c.Bias {
		copy(p.p1B, vec(lo.p1B, E))
		copy(p.p2B, vec(lo.p2B, Q))
	}
	if p.gcE != nil {
		copy(p.gcE, vec(lo.gcE, len(p.gcE)))
		for l := range p.gcW {
			copy(p.gcW[l], vec(lo.gcW[l], len(p.gcW[l])))
		}
	}
	if p.lcIn != nil {
		C := c.LocalCondition.Channels
		copy(p.lcIn, vec(lo.lcIn, len(p.lcIn)))
		for j := range p.lcUp {
			copy(p.lcUp[j], vec(lo.lcUp[j], len(p.lcUp[j])))
		}
		for l := range p.lcW {
			copy(p.lcW[l], vec(lo.lcW[l], 2*D*C)) // torch [2D, C, 1]
			transpose(p.lcWT[l], p.lcW[l], 2*D, C)
		}
	}
	if p.prec == PrecisionBF16 {
		p.packBF16()
	}
	return nil
}

// Speakers is the number of speakers of a conditioned model (0 if it is
// not conditioned).
func (p *Packed) Speakers() int { return p.cfg.Speakers() }

// packBF16 rounds the packed float32 matrices into their bfloat16 copies.
func (p *Packed) packBF16() {
	c := p.cfg
	R, D, S, E, K, Q := c.ResidualChannels, c.DilationChannels, c.SkipChannels, c.EndChannels, c.KernelSize, c.QuantizationChannels
	L := c.Layers()
	round := func(dst bfMat, src []float32, rows, cols int) {
		kernels.ToBF16Matrix(dst.a, dst.ld, src, cols, rows, cols)
	}
	b := &p.bf
	for l := 0; l < L; l++ {
		round(b.fgW[l], p.fgW[l], 2*D, K*R)
		for k := 0; k < K; k++ {
			round(b.fgWT[l][k], p.fgWT[l][k*R*2*D:], R, 2*D)
		}
		round(b.skipWT[l], p.skipWT[l], D, S)
	}
	for l := range b.resW {
		round(b.resW[l], p.resW[l], R, D)
		round(b.resWT[l], p.resWT[l], D, R)
	}
	round(b.skipW, p.skipW, S, L*D)
	round(b.p1W, p.p1W, E, S)
	round(b.p1WT, p.p1WT, S, E)
	round(b.p2W, p.p2W, Q, E)
	round(b.p2WT, p.p2WT, E, Q)
	for l := range b.lcW {
		C := c.LocalCondition.Channels
		round(b.lcW[l], p.lcW[l], 2*D, C)
		round(b.lcWT[l], p.lcWT[l], C, 2*D)
	}
}

// transpose writes the [cols × rows] transpose of the row-major
// [rows × cols] matrix src into dst.
func transpose(dst, src []float32, rows, cols int) {
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			dst[j*rows+i] = src[i*cols+j]
		}
	}
}
