package kaldifeat

import (
	"fmt"
	"math"
)

// melBanks builds Kaldi's triangular filters (mel-computations.cc,
// MelBanks without VTLN) for an FFT of length padded: NumMelBins triangles
// whose corners are equally spaced in mel between LowFreq and HighFreq,
// each rising linearly in mel from its left corner to 1 at its centre and
// falling to 0 at its right corner. FFT bins 0 .. padded/2-1 are weighted;
// the Nyquist bin never is, as in Kaldi.
func melBanks(cfg Config, padded int) ([]melBin, error) {
	numFFTBins := padded / 2
	nyquist := 0.5 * cfg.SampleFrequency
	high := cfg.HighFreq
	if high <= 0 {
		high += nyquist
	}
	binWidth := cfg.SampleFrequency / float64(padded)
	melLow, melHigh := MelScale(cfg.LowFreq), MelScale(high)
	delta := (melHigh - melLow) / float64(cfg.NumMelBins+1)

	banks := make([]melBin, cfg.NumMelBins)
	for b := range banks {
		left := melLow + float64(b)*delta
		center := melLow + float64(b+1)*delta
		right := melLow + float64(b+2)*delta
		first, last := -1, -1
		weights := make([]float64, numFFTBins)
		for i := range numFFTBins {
			mel := MelScale(binWidth * float64(i))
			if mel <= left || mel >= right {
				continue
			}
			if mel <= center {
				weights[i] = (mel - left) / (center - left)
			} else {
				weights[i] = (right - mel) / (right - center)
			}
			if first < 0 {
				first = i
			}
			last = i
		}
		if first < 0 {
			return nil, fmt.Errorf("kaldifeat: mel bin %d of %d covers no FFT bin: num_mel_bins is too large for an FFT of %d points at %v Hz",
				b, cfg.NumMelBins, padded, cfg.SampleFrequency)
		}
		banks[b] = melBin{offset: first, weights: weights[first : last+1 : last+1]}
	}
	return banks, nil
}

// dctMatrix returns Kaldi's DCT (ComputeDctMatrix): the first numCeps rows
// of the orthonormal DCT-II of size numBins, row-major,
// D[k][m] = sqrt(2/M)·cos(πk(m+½)/M) with row 0 equal to sqrt(1/M).
func dctMatrix(numCeps, numBins int) []float64 {
	d := make([]float64, numCeps*numBins)
	m := float64(numBins)
	for k := range numCeps {
		for j := range numBins {
			if k == 0 {
				d[j] = math.Sqrt(1 / m)
				continue
			}
			d[k*numBins+j] = math.Sqrt(2/m) * math.Cos(math.Pi/m*(float64(j)+0.5)*float64(k))
		}
	}
	return d
}

// lifterCoefficients returns Kaldi's cepstral lifter 1 + L/2·sin(πi/L)
// for i = 0 .. numCeps-1 (all ones when L is 0). C0 is scaled by 1.
func lifterCoefficients(numCeps int, lifter float64) []float64 {
	c := make([]float64, numCeps)
	for i := range c {
		c[i] = 1
		if lifter != 0 {
			c[i] += 0.5 * lifter * math.Sin(math.Pi*float64(i)/lifter)
		}
	}
	return c
}
