package causalconv

import (
	"math"
)

// refNet is the network written the plainest way there is, in float64,
// time-major, straight from the torch layout of the parameters and the
// README's definition, with no packing, no shrinking and no kernels. It is
// the ground truth of the forward pass and, through finite differences, of
// every gradient.
type refNet struct {
	c  Config
	lo *layout
	p  []float64
	// speaker is the row of a conditioned model's speaker table used.
	speaker int
	// feats (C × F) and start are a locally conditioned model's features
	// and the utterance sample of position 0.
	feats [][]float64
	start int
}

func newRefNet(m *Model) *refNet {
	p := make([]float64, len(m.Params))
	for i, v := range m.Params {
		p[i] = float64(v)
	}
	return &refNet{c: m.Config, lo: m.lo, p: p}
}

// refOut is everything the reference computes, indexed [t][channel].
type refOut struct {
	logits  [][]float64
	skipPre [][]float64   // Σ skip before the ReLU
	z       [][][]float64 // [layer][t][D]
}

func (n *refNet) forward(x []int32) refOut {
	c, lo, p := n.c, n.lo, n.p
	Q, R, D := c.QuantizationChannels, c.ResidualChannels, c.DilationChannels
	S, E, K := c.SkipChannels, c.EndChannels, c.KernelSize
	T, kin := len(x), c.InputKernelSize
	bias := func(off, i int) float64 {
		if off < 0 {
			return 0
		}
		return p[off+i]
	}
	mat := func(rows, cols int) [][]float64 {
		m := make([][]float64, rows)
		for i := range m {
			m[i] = make([]float64, cols)
		}
		return m
	}
	h := mat(T, R)
	for t := 0; t < T; t++ {
		for r := 0; r < R; r++ {
			s := bias(lo.inB, r)
			if c.InputEncoding == InputEmbedding {
				s += p[lo.inW+int(x[t])*R+r]
			} else {
				for k := 0; k < kin; k++ {
					if src := t - (kin - 1) + k; src >= 0 {
						s += p[lo.inW+(r*Q+int(x[src]))*kin+k]
					}
				}
			}
			h[t][r] = s
		}
	}
	cond := n.localCondition(T) // [t][C], nil without local conditioning
	skip := mat(T, S)
	var out refOut
	for l, d := range c.Dilations {
		z := mat(T, D)
		for t := 0; t < T; t++ {
			fg := make([]float64, 2*D)
			for o := range fg {
				s := bias(lo.fgB[l], o)
				for r := 0; r < R; r++ {
					for k := 0; k < K; k++ {
						if src := t - (K-1-k)*d; src >= 0 {
							s += p[lo.fgW[l]+(o*R+r)*K+k] * h[src][r]
						}
					}
				}
				if lo.gcE >= 0 { // + W_gc·e_speaker
					G := c.GlobalCondition.Channels
					for g := 0; g < G; g++ {
						s += p[lo.gcW[l]+o*G+g] * p[lo.gcE+n.speaker*G+g]
					}
				}
				if cond != nil { // + W_lc·cond(t)
					C := c.LocalCondition.Channels
					for j := 0; j < C; j++ {
						s += p[lo.lcW[l]+o*C+j] * cond[t][j]
					}
				}
				fg[o] = s
			}
			for j := 0; j < D; j++ {
				z[t][j] = math.Tanh(fg[j]) / (1 + math.Exp(-fg[D+j]))
			}
		}
		for t := 0; t < T; t++ {
			for s := 0; s < S; s++ {
				v := bias(lo.skipB[l], s)
				for j := 0; j < D; j++ {
					v += p[lo.skipW[l]+s*D+j] * z[t][j]
				}
				skip[t][s] += v
			}
			if l < len(lo.resW) {
				for r := 0; r < R; r++ {
					v := bias(lo.resB[l], r)
					for j := 0; j < D; j++ {
						v += p[lo.resW[l]+r*D+j] * z[t][j]
					}
					h[t][r] += v
				}
			}
		}
		out.z = append(out.z, z)
	}
	out.skipPre = skip
	out.logits = mat(T, Q)
	for t := 0; t < T; t++ {
		e := make([]float64, E)
		for i := range e {
			v := bias(lo.p1B, i)
			for s := 0; s < S; s++ {
				v += p[lo.p1W+i*S+s] * math.Max(skip[t][s], 0)
			}
			e[i] = math.Max(v, 0)
		}
		for q := 0; q < Q; q++ {
			v := bias(lo.p2B, q)
			for i := range e {
				v += p[lo.p2W+q*E+i] * e[i]
			}
			out.logits[t][q] = v
		}
	}
	return out
}

// localCondition is the upsampling network of Config.LocalCondition over
// the whole utterance, straight from its definition, and the columns that
// positions 0..T−1 read: cond[t][c].
func (n *refNet) localCondition(T int) [][]float64 {
	lc := n.c.LocalCondition
	if lc == nil {
		return nil
	}
	p, lo := n.p, n.lo
	C, P, F := lc.Channels, lc.Context, len(n.feats[0])
	xp := make([][]float64, C) // normalised, replicate-padded
	for c := range xp {
		mean, std := 0.0, 1.0
		if lc.Mean != nil {
			mean, std = lc.Mean[c], lc.Std[c]
		}
		for i := 0; i < F+2*P; i++ {
			xp[c] = append(xp[c], (n.feats[c][min(max(i-P, 0), F-1)]-mean)/std)
		}
	}
	u := make([][]float64, C) // conv_in
	for o := range u {
		u[o] = make([]float64, F)
		for k := range u[o] {
			for c := 0; c < C; c++ {
				for i := 0; i < 2*P+1; i++ {
					u[o][k] += p[lo.lcIn+(o*C+c)*(2*P+1)+i] * xp[c][k+i]
				}
			}
		}
	}
	for j, s := range lc.UpsampleScales {
		for c := range u {
			st := make([]float64, len(u[c])*s) // the stretch
			for v := range st {
				st[v] = u[c][v/s]
			}
			sm := make([]float64, len(st)) // the smoothing conv, zero-padded
			for v := range sm {
				for d := -s; d <= s; d++ {
					if v+d >= 0 && v+d < len(st) {
						sm[v] += p[lo.lcUp[j]+d+s] * st[v+d]
					}
				}
			}
			u[c] = sm
		}
	}
	off := 0
	if lc.SnipEdges {
		off = int(math.Floor(float64(lc.Window-lc.Hop) / 2))
	}
	cond := make([][]float64, T)
	for t := range cond {
		col := min(max(n.start+t+1-off, 0), F*lc.Hop-1)
		for c := 0; c < C; c++ {
			cond[t] = append(cond[t], u[c][col])
		}
	}
	return cond
}

// losses returns the cross-entropy of every position.
func (n *refNet) losses(x, y []int32) []float64 {
	lg := n.forward(x).logits
	out := make([]float64, len(x))
	for t := range x {
		mx := math.Inf(-1)
		for _, v := range lg[t] {
			mx = math.Max(mx, v)
		}
		var z float64
		for _, v := range lg[t] {
			z += math.Exp(v - mx)
		}
		out[t] = mx + math.Log(z) - lg[t][y[t]]
	}
	return out
}

// loss is the summed cross-entropy of positions from..T−1.
func (n *refNet) loss(x, y []int32, from int) float64 {
	var sum float64
	for _, v := range n.losses(x, y)[from:] {
		sum += v
	}
	return sum
}

// numGrads returns, for each scoring offset, the central-difference
// gradient of the loss of positions from..T−1.
func (n *refNet) numGrads(x, y []int32, froms []int) [][]float64 {
	g := make([][]float64, len(froms))
	for i := range g {
		g[i] = make([]float64, len(n.p))
	}
	const h = 1e-6
	for i := range n.p {
		v := n.p[i]
		n.p[i] = v + h
		up := n.losses(x, y)
		n.p[i] = v - h
		down := n.losses(x, y)
		n.p[i] = v
		for fi, from := range froms {
			var d float64
			for t := from; t < len(x); t++ {
				d += up[t] - down[t]
			}
			g[fi][i] = d / (2 * h)
		}
	}
	return g
}
