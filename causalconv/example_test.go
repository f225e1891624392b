package causalconv_test

import (
	"fmt"
	"log"

	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/kernels"
)

// A training step on one worker: pack the weights once, run each sequence
// through a reused workspace accumulating into a gradient arena, then
// update the parameter arena (here plain SGD).
func ExampleWorkspace_ForwardBackward() {
	cfg := causalconv.DefaultConfig()
	m, err := causalconv.NewRandom(cfg, 1)
	if err != nil {
		log.Fatal(err)
	}
	packed, _ := causalconv.NewPacked(cfg)
	const targets = 1000
	context := cfg.ReceptiveField() - 1 // what a chunk needs in front of its first scored position
	ws, err := causalconv.NewTrainingWorkspace(cfg, kernels.Best(), context+targets)
	if err != nil {
		log.Fatal(err)
	}
	grad := m.NewGrad()

	seq := make([]int32, context+targets+1) // μ-law classes; silence here
	for i := range seq {
		seq[i] = 128
	}
	x, y := seq[:len(seq)-1], seq[1:] // y[t] is the class after x[t]

	packed.Pack(m.Params) // once per step, shared by every worker
	clear(grad)
	nats, err := ws.ForwardBackward(packed, x, y, context, 1.0/targets, grad)
	if err != nil {
		log.Fatal(err)
	}
	for i, g := range grad {
		m.Params[i] -= 0.01 * g
	}
	fmt.Printf("%.2f nats per sample\n", nats/targets)
}
