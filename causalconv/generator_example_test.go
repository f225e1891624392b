package causalconv_test

import (
	"context"
	"fmt"
	"log"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/causalconv"
)

// Generation as `nextsample generate` does it: three continuations of a
// prompt of μ-law classes, a quarter of a second each at 8 kHz, drawn at
// temperature 0.9 on all cores. A trained model would come from a model
// file; the prompt from a WAV file encoded with the model's μ-law (here a
// random model and silence).
func ExampleContinue() {
	cfg := causalconv.DefaultConfig()
	m, err := causalconv.NewRandom(cfg, 1)
	if err != nil {
		log.Fatal(err)
	}
	mu := audio.MuLaw{Q: cfg.QuantizationChannels}
	prompt := make([]int32, 400)
	for i := range prompt {
		prompt[i] = mu.Silence()
	}
	res, err := causalconv.Continue(context.Background(), m.Packed(), prompt, causalconv.ContinueOptions{
		Count: 3, Samples: 2000, Temperature: 0.9, Seed: 1,
		Progress: func(p causalconv.ContinueProgress) {
			// p.Done of p.Total samples, in p.Elapsed: draw a status line.
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	for s, classes := range res.Classes {
		x := make([]float32, len(classes))
		mu.Decode(classes, x) // audio in [-1, 1], for audio.WriteFile
		fmt.Printf("continuation %d: %d samples\n", s, len(x))
	}
	// Output:
	// continuation 0: 2000 samples
	// continuation 1: 2000 samples
	// continuation 2: 2000 samples
}
