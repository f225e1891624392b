package train

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/kernels"
)

// convSteps trains the tiny real model for a few steps and returns its
// parameters and losses.
func convSteps(t *testing.T, optimizer string, threads, chunk, steps int) ([]float32, []float64) {
	t.Helper()
	m, err := causalconv.NewRandom(tinyConfig(), 3)
	if err != nil {
		t.Fatal(err)
	}
	net, err := newConvNet(m, true, kernels.Set{}, causalconv.PrecisionFP32)
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions(optimizer)
	opt, _ := o.newOptimizer(m.NumParams())
	e := mustEngine(t, net, opt, threads, chunk)
	defer e.close()
	bat := newFileBatcher(tinyData(1).Train.(Classes), 5)
	var units []Unit
	var losses []float64
	for s := range steps {
		units = bat.next(units, 4, 100)
		res, err := e.step(units, int64(s+1), o.LR, 1)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, res.Nats)
	}
	return m.Params, losses
}

func TestConvEngineIndependentOfThreads(t *testing.T) {
	for _, optimizer := range []string{SGD, Adam} {
		want, wantLoss := convSteps(t, optimizer, 1, 30, 4)
		for _, threads := range []int{2, 5} {
			got, gotLoss := convSteps(t, optimizer, threads, 30, 4)
			if !slices.Equal(got, want) || !slices.Equal(gotLoss, wantLoss) {
				t.Fatalf("%s, threads=%d: parameters or losses differ from threads=1", optimizer, threads)
			}
		}
	}
}

func TestConvEngineChunkingKeepsTheGradient(t *testing.T) {
	// SGD, not Adam: Adam's first update is lr·sign(g), which turns the
	// rounding differences of near-zero gradients into whole steps.
	whole, wholeLoss := convSteps(t, SGD, 2, 1000, 3)
	split, splitLoss := convSteps(t, SGD, 2, 7, 3)
	for i := range wholeLoss {
		if math.Abs(wholeLoss[i]-splitLoss[i]) > 1e-5 {
			t.Fatalf("step %d loss: whole %v, chunked %v", i, wholeLoss[i], splitLoss[i])
		}
	}
	var worst float64
	for i := range whole {
		worst = math.Max(worst, math.Abs(float64(whole[i]-split[i])))
	}
	if worst > 1e-5 {
		t.Fatalf("chunked training differs by up to %g from whole windows", worst)
	}
}

func TestConvStepDoesNotAllocate(t *testing.T) {
	m, _ := causalconv.NewRandom(tinyConfig(), 3)
	net, _ := newConvNet(m, true, kernels.Set{}, causalconv.PrecisionFP32)
	opt, _ := NewSGD(m.NumParams(), SGDOptions{Momentum: 0.9})
	e := mustEngine(t, net, opt, 2, 40)
	defer e.close()
	// The batches are drawn first: the batcher allocates an order per
	// epoch (on the run's reader goroutine); the step must not allocate.
	bat := newFileBatcher(tinyData(1).Train.(Classes), 5)
	var batches [][]Unit
	for range 26 {
		batches = append(batches, bat.next(nil, 4, 100))
	}
	update := int64(0)
	step := func() {
		update++
		if _, err := e.step(batches[update%int64(len(batches))], update, 0.01, 1); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 { // every file and chunk count seen once
		step()
	}
	if allocs := testing.AllocsPerRun(20, step); allocs != 0 {
		t.Fatalf("a steady-state training step allocates %v times", allocs)
	}
}

func TestEvaluateMatchesOnePass(t *testing.T) {
	m, _ := causalconv.NewRandom(tinyConfig(), 3)
	files := tinyData(1).Train.(Classes)
	res, err := Evaluate(context.Background(), m, files, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Reference: each file in one call of a workspace as long as the file.
	p := m.Packed()
	var nats float64
	var n int64
	for _, f := range files {
		if len(f) < 2 {
			continue
		}
		ws, err := causalconv.NewEvalWorkspace(m.Config, kernels.Reference(), len(f))
		if err != nil {
			t.Fatal(err)
		}
		l, err := ws.Loss(p, f[:len(f)-1], f[1:], 0)
		if err != nil {
			t.Fatal(err)
		}
		nats += l
		n += int64(len(f) - 1)
	}
	if res.Samples != n || res.Files != 5 || math.Abs(res.Nats-nats) > 1e-4*nats {
		t.Fatalf("Evaluate = %+v, one pass per file gives %v nats over %d samples", res, nats, n)
	}
	chunked, err := evaluate(context.Background(), m, files, 3, 7)
	if err != nil {
		t.Fatal(err)
	}
	if chunked.Samples != n || math.Abs(chunked.Nats-nats) > 1e-4*nats {
		t.Fatalf("evaluate in chunks of 7 = %+v, one pass per file gives %v nats over %d samples", chunked, nats, n)
	}
	if b := res.BitsPerSample(); math.Abs(b-nats/float64(n)/math.Ln2) > 1e-4 {
		t.Fatalf("bits per sample %v", b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Evaluate(ctx, m, files, 1); err == nil {
		t.Fatal("cancelled evaluation returned no error")
	}
}

func TestStepper(t *testing.T) {
	seq := make([]int32, 201)
	for i := range seq {
		seq[i] = int32(i*7) % 16
	}
	units := []Unit{{Seq: seq, Start: 0, Targets: 200}, {Seq: seq, Start: 50, Targets: 100}}
	train := func(threads int) ([]float32, float64) {
		m, _ := causalconv.NewRandom(tinyConfig(), 3)
		o := DefaultOptions(Adam)
		o.Chunk, o.Threads, o.LR = 30, threads, 0.03
		st, err := NewStepper(m, o)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var first, last StepResult
		for i := range 10 {
			if last, err = st.Step(units); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = last
			}
		}
		if !(last.Nats < first.Nats-0.02) || last.Targets != 300 || !last.Finite {
			t.Fatalf("10 steps on a periodic sequence: first %+v, last %+v", first, last)
		}
		if allocs := testing.AllocsPerRun(5, func() { st.Step(units) }); allocs != 0 {
			t.Fatalf("Stepper.Step allocates %v times", allocs)
		}
		return m.Params, last.Nats
	}
	p1, l1 := train(1)
	p2, l2 := train(2)
	if !slices.Equal(p1, p2) || l1 != l2 {
		t.Fatal("Stepper results depend on the thread count")
	}
}

// TestConvBF16 checks the bf16 training path of the real model: it changes
// the step (the bf16 kernels run), stays close to fp32, gives the same
// results for any thread count, validates in float32, and does not
// allocate.
func TestConvBF16(t *testing.T) {
	k := bf16Kernels()
	steps := func(prec causalconv.Precision, threads int) ([]float32, []float64, *convNet) {
		m, _ := causalconv.NewRandom(tinyConfig(), 3)
		net, err := newConvNet(m, true, k, prec)
		if err != nil {
			t.Fatal(err)
		}
		opt, _ := NewSGD(m.NumParams(), SGDOptions{Momentum: 0.9})
		e := mustEngine(t, net, opt, threads, 30)
		defer e.close()
		bat := newFileBatcher(tinyData(1).Train.(Classes), 5)
		var units []Unit
		var losses []float64
		for s := range 4 {
			units = bat.next(units, 4, 100)
			res, err := e.step(units, int64(s+1), 0.05, 1)
			if err != nil {
				t.Fatal(err)
			}
			losses = append(losses, res.Nats)
		}
		return m.Params, losses, net
	}
	fp, fpLoss, _ := steps(causalconv.PrecisionFP32, 2)
	bf, bfLoss, net := steps(causalconv.PrecisionBF16, 2)
	bf1, bf1Loss, _ := steps(causalconv.PrecisionBF16, 1)
	if !slices.Equal(bf, bf1) || !slices.Equal(bfLoss, bf1Loss) {
		t.Fatal("bf16 training depends on the thread count")
	}
	if slices.Equal(bf, fp) {
		t.Fatal("bf16 training gave the fp32 parameters: the bf16 kernels did not run")
	}
	for i := range fpLoss {
		if math.Abs(bfLoss[i]-fpLoss[i]) > 1e-3*fpLoss[i] {
			t.Errorf("step %d: bf16 loss %v, fp32 %v", i, bfLoss[i], fpLoss[i])
		}
	}

	// Validation (loss) scores in float32 whatever the training precision.
	w, err := net.newWorker(200)
	if err != nil {
		t.Fatal(err)
	}
	f := tinyData(1).Valid.(Classes)[0]
	net.prepare()
	got, _ := w.loss(f[:len(f)-1], f[1:], 0)
	ws, _ := causalconv.NewEvalWorkspace(tinyConfig(), k, 200)
	want, _ := ws.Loss(net.packed, f[:len(f)-1], f[1:], 0)
	if got != want {
		t.Errorf("validation in a bf16 run: %v nats, float32 evaluation %v", got, want)
	}

	m, _ := causalconv.NewRandom(tinyConfig(), 3)
	o := DefaultOptions(Adam)
	o.Chunk, o.Threads, o.Precision, o.Kernels = 40, 2, causalconv.PrecisionBF16, k
	st, err := NewStepper(m, o)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	units := []Unit{{Seq: f, Start: 0, Targets: len(f) - 1}}
	for range 3 {
		if _, err := st.Step(units); err != nil {
			t.Fatal(err)
		}
	}
	if allocs := testing.AllocsPerRun(5, func() { st.Step(units) }); allocs != 0 {
		t.Fatalf("a bf16 step allocates %v times", allocs)
	}
	if k.Name != "reference" {
		o.Kernels = kernels.Generic()
		if _, err := NewStepper(m, o); err == nil || !strings.Contains(err.Error(), "AVX512_BF16") {
			t.Errorf("bf16 on the generic set: %v", err)
		}
	}
}
