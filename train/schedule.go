package train

import (
	"fmt"
	"math"
)

// Learning-rate decay shapes accepted by Schedule.Decay.
const (
	DecayConstant = "constant"
	DecayCosine   = "cosine"
)

// Schedule shapes the learning rate over a run: a linear warm-up from
// lr/Warmup to lr over the first Warmup updates, then either constant or a
// half cosine from lr down to Floor·lr at the last step.
type Schedule struct {
	// Warmup is the number of warm-up updates (0: none).
	Warmup int64
	// Decay is DecayConstant or DecayCosine.
	Decay string
	// Floor is the final learning rate as a fraction of the peak (cosine
	// only), in [0, 1].
	Floor float64
	// Total is the number of updates of the whole run.
	Total int64
}

// Validate reports a schedule that cannot be followed.
func (s Schedule) Validate() error {
	if s.Warmup < 0 {
		return fmt.Errorf("warm-up %d: must be >= 0", s.Warmup)
	}
	switch s.Decay {
	case DecayConstant, DecayCosine:
	default:
		return fmt.Errorf("decay %q: must be %q or %q", s.Decay, DecayConstant, DecayCosine)
	}
	if !(s.Floor >= 0 && s.Floor <= 1) {
		return fmt.Errorf("learning-rate floor %g: must be in [0, 1]", s.Floor)
	}
	return nil
}

// Factor returns the multiplier of the peak learning rate for update number
// step (0-based).
func (s Schedule) Factor(step int64) float64 {
	if step < s.Warmup {
		return float64(step+1) / float64(s.Warmup)
	}
	if s.Decay != DecayCosine || s.Total <= s.Warmup+1 {
		return 1
	}
	progress := float64(step-s.Warmup) / float64(s.Total-s.Warmup-1)
	if progress > 1 {
		progress = 1
	}
	return s.Floor + (1-s.Floor)*0.5*(1+math.Cos(math.Pi*progress))
}
