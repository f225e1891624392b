package causalconv

import (
	"runtime"
	"sync/atomic"
)

// Generation on two cores (GeneratorOptions.Threads = 2).
//
// One generated sample is a chain: the layers one after the other, the
// head, the draw, and the drawn class is the next step's input; so the
// second goroutine cannot run ahead. What it can do is what does not have
// to wait:
//
//	caller                          helper
//	layer 0 → z_0   ─ready─▶
//	layer 1 → z_1   ─ready─▶        skip = W_skip,0..1·[z_0; z_1] + Σb
//	layer 2 → z_2   ─ready─▶
//	layer 3 → z_3   ─ready─▶        skip += W_skip,2..3·[z_2; z_3]
//	…                               …
//	layer L−1                       skip += …·z_L−1; relu
//	                ◀─skipDone─
//	end[part 0] = relu(post1·skip)  end[part 1] = relu(post1·skip)
//	                ◀─end1─  ─end0─▶
//	out[part 0] = post2·end         out[part 1] = post2·end
//	                ◀─out1─
//	draw
//
// The skip product (40% of the default model's weights) hides behind the
// layers, and the weights split so that each core's L2 cache holds its
// share: the caller's layers and half of post1 and post2, the helper's
// skip matrix and the other halves. Every product is computed by the
// same kernel calls as on one goroutine (layers' skip parts in layer
// order, the post products in the same two row parts), so the logits are
// bit-identical.
//
// The goroutines hand over by spinning on atomic counters (a hand-over
// takes ~0.1 µs; a channel would cost microseconds, as much as a layer),
// yielding to the scheduler every few hundred polls. Each counter says how
// far its writer is (step t, layer l), so no counter is ever reset, and
// each sits on its own cache line.
type pairSync struct {
	zReady   paddedCounter // caller: t·L + l + 1 once z_l of step t is written
	end0     paddedCounter // caller: t + 1 once part 0 of end is written
	skipDone paddedCounter // helper: t + 1 once relu(skip) of step t is written
	end1     paddedCounter // helper: t + 1 once part 1 of end is written
	out1     paddedCounter // helper: t + 1 once part 1 of the logits is written
	stop     atomic.Bool   // caller: Generate is returning
}

type paddedCounter struct {
	atomic.Int64
	_ [56]byte
}

// await spins until v reaches want. It returns false if stop (which may be
// nil) is set first.
func await(v *atomic.Int64, want int64, stop *atomic.Bool) bool {
	for i := 1; v.Load() < want; i++ {
		if i%256 == 0 {
			if stop != nil && stop.Load() {
				return false
			}
			runtime.Gosched()
		}
	}
	return true
}

// pairStep is the caller's side of step t of a two-goroutine Generate: it
// leaves the logits in g.out.
func (g *Generator) pairStep(ps *pairSync, x []int32, t int64) {
	g.layers(x, false, &ps.zReady.Int64, t*int64(g.n.L))
	g.lcAhead() // a vocoder's next terms, while the helper finishes the skip sum
	await(&ps.skipDone.Int64, t+1, nil)
	g.post1(0)
	ps.end0.Store(t + 1)
	await(&ps.end1.Int64, t+1, nil)
	g.post2(0)
	await(&ps.out1.Int64, t+1, nil)
}

// helper is the second goroutine of a two-goroutine Generate: it runs
// steps until ps.stop is set.
func (g *Generator) helper(ps *pairSync) {
	L := int64(g.n.L)
	for t := int64(0); ; t++ {
		for l := range g.n.L {
			if !await(&ps.zReady.Int64, t*L+int64(l)+1, &ps.stop) {
				return
			}
			g.skipLayer(l)
		}
		g.k.ReLU(g.n.S*g.streams, g.skip)
		ps.skipDone.Store(t + 1)
		g.post1(1)
		ps.end1.Store(t + 1)
		if !await(&ps.end0.Int64, t+1, &ps.stop) {
			return
		}
		g.post2(1)
		ps.out1.Store(t + 1)
	}
}
