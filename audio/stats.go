package audio

import "math"

// Stats summarizes the level of a signal, as `sox FILE -n stat` does.
type Stats struct {
	Peak float64 `json:"peak"` // largest absolute sample
	RMS  float64 `json:"rms"`  // root of the mean square
	DC   float64 `json:"dc"`   // mean
}

// Measure computes the stats of x, accumulating in float64. An empty
// signal has all-zero stats.
func Measure(x []float32) Stats {
	if len(x) == 0 {
		return Stats{}
	}
	var peak, sum, sumSq float64
	for _, v := range x {
		f := float64(v)
		peak = max(peak, math.Abs(f))
		sum += f
		sumSq += f * f
	}
	n := float64(len(x))
	return Stats{Peak: peak, RMS: math.Sqrt(sumSq / n), DC: sum / n}
}
