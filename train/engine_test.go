package train

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func fakeBatch(r *rand.Rand, q int) []Unit {
	var units []Unit
	for _, n := range []int{50, 200, 31, 120} {
		s := randomSeq(r, n, q)
		start := r.IntN(n / 3)
		units = append(units, Unit{Seq: s, Start: start, Targets: n - 1 - start - r.IntN(5)})
	}
	return units
}

func trainFake(t *testing.T, threads, chunkLen, steps int) ([]float32, []float64) {
	t.Helper()
	net := newFakeNet(8, 3, 1)
	opt, err := NewSGD(len(net.p), SGDOptions{Momentum: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	e := mustEngine(t, net, opt, threads, chunkLen)
	defer e.close()
	r := rand.New(rand.NewPCG(5, 6))
	var losses []float64
	for s := 0; s < steps; s++ {
		res, err := e.step(fakeBatch(r, 8), int64(s+1), 0.5, 0)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, res.Nats)
	}
	return net.p, losses
}

func TestEngineIndependentOfThreads(t *testing.T) {
	want, wantLoss := trainFake(t, 1, 16, 5)
	for _, threads := range []int{2, 3, 7} {
		got, gotLoss := trainFake(t, threads, 16, 5)
		if !slices.Equal(got, want) || !slices.Equal(gotLoss, wantLoss) {
			t.Fatalf("threads=%d: parameters or losses differ from threads=1", threads)
		}
	}
	// The model must actually learn, or the test above proves little.
	if wantLoss[4] >= wantLoss[0] {
		t.Fatalf("loss did not fall: %v", wantLoss)
	}
}

func TestEngineChunkingKeepsTheGradient(t *testing.T) {
	// Chunks carry their own context, so splitting only reorders float sums.
	whole, wholeLoss := trainFake(t, 2, 1000, 3)
	split, splitLoss := trainFake(t, 2, 7, 3)
	for i := range wholeLoss {
		if math.Abs(wholeLoss[i]-splitLoss[i]) > 1e-9 {
			t.Fatalf("step %d loss: whole %v, chunked %v", i, wholeLoss[i], splitLoss[i])
		}
	}
	for i := range whole {
		if math.Abs(float64(whole[i]-split[i])) > 1e-5 {
			t.Fatalf("param %d: whole %v, chunked %v", i, whole[i], split[i])
		}
	}
}

func TestEngineGradientIsMaskedMean(t *testing.T) {
	net := newFakeNet(6, 2, 3)
	opt, _ := NewSGD(len(net.p), SGDOptions{})
	e := mustEngine(t, net, opt, 2, 5)
	defer e.close()
	r := rand.New(rand.NewPCG(1, 2))
	units := fakeBatch(r, 6)
	before := slices.Clone(net.p)
	res, err := e.step(units, 1, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Reference: each unit whole, one worker, summed loss and gradient / count.
	ref := make([]float32, len(net.p))
	net2 := &fakeNet{q: net.q, k: net.k, p: before}
	w, _ := net2.newWorker(0)
	var nats float64
	total := 0
	for _, u := range units {
		total += u.Targets
	}
	for _, u := range units {
		x := u.Seq[:u.Start+u.Targets]
		y := u.Seq[1 : u.Start+u.Targets+1]
		l, _ := w.forwardBackward(x, y, u.Start, float32(1/float64(total)), ref)
		nats += l
	}
	if math.Abs(res.Nats-nats/float64(total)) > 1e-12 {
		t.Fatalf("loss %v, reference %v", res.Nats, nats/float64(total))
	}
	var sq float64
	for i, g := range ref {
		sq += float64(g) * float64(g)
		// SGD without momentum, lr 1: p_new = p - g.
		if d := math.Abs(float64(before[i] - ref[i] - net.p[i])); d > 1e-6 {
			t.Fatalf("param %d: got %v, want %v", i, net.p[i], before[i]-ref[i])
		}
	}
	if math.Abs(res.GradNorm-math.Sqrt(sq)) > 1e-6*math.Sqrt(sq) {
		t.Fatalf("grad norm %v, reference %v", res.GradNorm, math.Sqrt(sq))
	}
}

func TestEngineClipping(t *testing.T) {
	net := newFakeNet(6, 2, 3)
	opt, _ := NewSGD(len(net.p), SGDOptions{})
	e := mustEngine(t, net, opt, 1, 50)
	defer e.close()
	before := slices.Clone(net.p)
	r := rand.New(rand.NewPCG(1, 2))
	res, err := e.step(fakeBatch(r, 6), 1, 1, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	var sq float64
	for i := range before {
		d := float64(before[i] - net.p[i])
		sq += d * d
	}
	if res.GradNorm < 0.02 || math.Abs(math.Sqrt(sq)-0.01) > 1e-5 {
		t.Fatalf("pre-clip norm %v; applied step has norm %v, want 0.01", res.GradNorm, math.Sqrt(sq))
	}
}

func TestEngineSkipsNonFiniteSteps(t *testing.T) {
	net := newFakeNet(6, 2, 3)
	opt, _ := NewAdam(len(net.p), DefaultAdam())
	e := mustEngine(t, net, opt, 2, 10)
	defer e.close()
	net.p[len(net.p)-1] = float32(math.Inf(1)) // a bias: every logit row sees it
	before := slices.Clone(net.p)
	r := rand.New(rand.NewPCG(1, 2))
	res, err := e.step(fakeBatch(r, 6), 1, 1e-3, 1)
	if err != nil {
		t.Fatal(err)
	}
	if res.Finite {
		t.Fatalf("step with an infinite parameter reported finite: %+v", res)
	}
	if !slices.Equal(before, net.p) || slices.ContainsFunc(opt.State()[0].Data, func(v float32) bool { return v != 0 }) {
		t.Fatal("a non-finite step changed the parameters or the optimizer state")
	}
	// The gradient slots must be clean again for the next step.
	for _, s := range e.slots {
		if slices.ContainsFunc(s, func(v float32) bool { return v != 0 }) {
			t.Fatal("gradient slot not zeroed after a skipped step")
		}
	}
}

func TestEngineEvaluate(t *testing.T) {
	net := newFakeNet(6, 3, 3)
	opt, _ := NewSGD(len(net.p), SGDOptions{})
	e := mustEngine(t, net, opt, 2, 9)
	defer e.close()
	r := rand.New(rand.NewPCG(1, 2))
	seqs := [][]int32{randomSeq(r, 40, 6), randomSeq(r, 1, 6), randomSeq(r, 2, 6), randomSeq(r, 100, 6)}
	nats, n, err := e.evaluate(seqs, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want float64
	w, _ := net.newWorker(0)
	for _, s := range seqs {
		if len(s) > 1 {
			l, _ := w.loss(s[:len(s)-1], s[1:], 0)
			want += l
		}
	}
	if n != 39+1+99 || math.Abs(nats-want) > 1e-9 {
		t.Fatalf("evaluate = %v over %d, want %v over %d", nats, n, want, 139)
	}
}

func TestEngineStepDoesNotAllocate(t *testing.T) {
	net := newFakeNet(4, 2, 3)
	opt, _ := NewAdam(len(net.p), DefaultAdam())
	e := mustEngine(t, net, opt, 2, 16)
	defer e.close()
	r := rand.New(rand.NewPCG(1, 2))
	units := fakeBatch(r, 4)
	if _, err := e.step(units, 1, 1e-3, 1); err != nil {
		t.Fatal(err)
	}
	update := int64(1)
	allocs := testing.AllocsPerRun(20, func() {
		update++
		if _, err := e.step(units, update, 1e-3, 1); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("a steady-state step allocates %v times", allocs)
	}
}

func TestUnitValidate(t *testing.T) {
	s := make([]int32, 10)
	for _, u := range []Unit{{Seq: s, Start: -1, Targets: 2}, {Seq: s, Start: 0, Targets: 0}, {Seq: s, Start: 5, Targets: 5}} {
		if u.validate() == nil {
			t.Errorf("unit %d+%d over %d samples accepted", u.Start, u.Targets, len(u.Seq))
		}
	}
	if (Unit{Seq: s, Start: 5, Targets: 4}).validate() != nil {
		t.Error("unit that exactly fits rejected")
	}
}

func mustEngine(t testing.TB, net network, opt Optimizer, threads, chunkLen int) *engine {
	t.Helper()
	e, err := newEngine(net, opt, threads, chunkLen)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
