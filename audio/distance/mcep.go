package distance

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/dsp/fourier"
)

// MelCepstrum is SPTK's mel-cepstral analysis (the mcep command of SPTK
// 3.x, mcep.c; MelCepstralAnalysis in SPTK 4): for a windowed frame it
// finds the mel-cepstrum c̃_0..c̃_M, with all-pass constant α, whose
// spectrum exp(2·Σ c̃_m·Re(z̃^-m)) best fits the periodogram in the
// unbiased-estimation-of-log-spectrum (UELS) sense [Tokuda et al., "Mel-
// generalized cepstral analysis — a unified approach to speech spectral
// estimation", ICSLP 1994; Fukada et al., ICASSP 1992]. The arithmetic
// follows SPTK step by step:
//
//  1. periodogram I_k = |FFT_N(x)_k|² + ε, log;
//  2. initial cepstrum c = IFFT(log I) with c_0 and c_{N/2} halved,
//     warped to c̃ by freqt (the recursion through the all-pass z̃^-1);
//  3. Newton–Raphson: unwarp c̃ to c (freqt with −α), D = exp(2·Re FFT(c)),
//     r = IFFT(I/D), r̃ = frqtr(r) of order 2M, stop when r̃_0 changes by
//     less than Threshold relatively (checked from iteration MinIter on),
//     else solve (T + H)·Δ = r̃_{0..M} − (1, −α, α², …) with T_ij = r̃_|i−j|,
//     H_ij = r̃_{i+j} and add Δ to c̃.
//
// SPTK solves step 3's Toeplitz-plus-Hankel system with the Merchant–Parks
// recursion (theq); here the (M+1)² system is solved by Gaussian
// elimination with partial pivoting, which gives the same Δ to rounding.
// A MelCepstrum holds its FFT plan and buffers; it is not safe for
// concurrent use. Order, Alpha, FFTLength and Floor are fixed by
// NewMelCepstrum (the buffers depend on them): read them, do not change
// them; the iteration controls may be changed.
type MelCepstrum struct {
	Order     int     // M: c̃_0..c̃_M are computed
	Alpha     float64 // all-pass constant α (frequency warping)
	FFTLength int     // N, a power of two ≥ the frame length
	Floor     float64 // ε added to every periodogram bin (SPTK's -e)
	MinIter   int     // SPTK's -i (2)
	MaxIter   int     // SPTK's -j (30)
	Threshold float64 // SPTK's -d (0.001)

	fft      *fourier.FFT
	logI     []float64 // log periodogram, bins 0..N/2
	ratio    []float64 // I/|D|², bins 0..N/2
	seq      []float64 // length-N real sequence
	coef     []complex128
	c        []float64 // cepstrum, 0..N/2
	rt       []float64 // r̃, 0..2M
	alphaPow []float64 // 1, −α, α², …
	a        []float64 // (M+1)² system
	b        []float64
}

// NewMelCepstrum returns an analyser with SPTK mcep's iteration defaults
// (-i 2 -j 30 -d 0.001) and the given order, α, FFT length and floor.
func NewMelCepstrum(order int, alpha float64, fftLength int, floor float64) (*MelCepstrum, error) {
	if order < 1 || fftLength < 4 || fftLength&(fftLength-1) != 0 || 2*order > fftLength/2 {
		return nil, fmt.Errorf("mel-cepstrum: order %d and FFT length %d: want a power-of-two FFT length ≥ 4·order", order, fftLength)
	}
	if !(alpha > -1 && alpha < 1) {
		return nil, fmt.Errorf("mel-cepstrum: all-pass constant %g, want −1 < α < 1", alpha)
	}
	if !(floor >= 0) {
		return nil, fmt.Errorf("mel-cepstrum: floor %g, want ≥ 0", floor)
	}
	m := &MelCepstrum{Order: order, Alpha: alpha, FFTLength: fftLength, Floor: floor,
		MinIter: 2, MaxIter: 30, Threshold: 0.001}
	half := fftLength / 2
	m.fft = fourier.NewFFT(fftLength)
	m.logI = make([]float64, half+1)
	m.ratio = make([]float64, half+1)
	m.seq = make([]float64, fftLength)
	m.coef = make([]complex128, half+1)
	m.c = make([]float64, half+1)
	m.rt = make([]float64, 2*order+1)
	m.alphaPow = make([]float64, order+1)
	m.alphaPow[0] = 1
	for i := 1; i <= order; i++ {
		m.alphaPow[i] = -alpha * m.alphaPow[i-1]
	}
	m.a = make([]float64, (order+1)*(order+1))
	m.b = make([]float64, order+1)
	return m, nil
}

// Periodogram writes |FFT_N(frame)_k|² + Floor for k = 0..N/2 to dst
// (length N/2+1); frame, already windowed, is zero-padded to N.
func (m *MelCepstrum) Periodogram(dst, frame []float64) {
	clear(m.seq)
	copy(m.seq, frame)
	m.fft.Coefficients(m.coef, m.seq)
	for k, v := range m.coef {
		dst[k] = real(v)*real(v) + imag(v)*imag(v) + m.Floor
	}
}

// Analyse writes the mel-cepstrum c̃_0..c̃_M of the periodogram I (bins
// 0..N/2, as Periodogram gives) to mc (length M+1). It fails if a bin is
// not positive or the Newton system is singular. As SPTK, it keeps the
// last iterate when MaxIter iterations do not converge.
func (m *MelCepstrum) Analyse(mc, periodogram []float64) error {
	half := m.FFTLength / 2
	if len(periodogram) != half+1 || len(mc) != m.Order+1 {
		return fmt.Errorf("mel-cepstrum: %d periodogram bins and %d coefficients, want %d and %d", len(periodogram), len(mc), half+1, m.Order+1)
	}
	for k, p := range periodogram {
		if !(p > 0) || math.IsInf(p, 0) {
			return fmt.Errorf("mel-cepstrum: periodogram bin %d is %g; add a floor", k, p)
		}
		m.logI[k] = math.Log(p)
	}
	// Initial cepstrum: IFFT of the log periodogram, c_0 and c_{N/2} halved.
	m.inverse(m.c, m.logI)
	m.c[0] /= 2
	m.c[half] /= 2
	freqt(mc, m.c, m.Alpha)
	s := m.c[0]
	for j := 1; j <= m.MaxIter; j++ {
		freqt(m.c, mc, -m.Alpha)
		clear(m.seq)
		copy(m.seq, m.c)
		m.fft.Coefficients(m.coef, m.seq)
		for k := range m.ratio {
			m.ratio[k] = math.Exp(m.logI[k] - 2*real(m.coef[k])) // I/|D|²
		}
		m.inverse(m.c, m.ratio)
		frqtr(m.rt, m.c, m.Alpha)
		t := m.rt[0]
		if j >= m.MinIter {
			if math.Abs((t-s)/t) < m.Threshold {
				return nil
			}
			s = t
		}
		if err := m.newtonStep(mc); err != nil {
			return err
		}
	}
	return nil
}

// inverse writes the first N/2+1 samples of the inverse FFT of the real,
// even spectrum whose bins 0..N/2 are spec: (1/N)·Σ_k spec_k·cos(2πkn/N).
func (m *MelCepstrum) inverse(dst, spec []float64) {
	for k, v := range spec {
		m.coef[k] = complex(v, 0)
	}
	m.fft.Sequence(m.seq, m.coef)
	inv := 1 / float64(m.FFTLength)
	for i := range dst {
		dst[i] = m.seq[i] * inv
	}
}

// newtonStep solves (T + H)·Δ = r̃_{0..M} − (−α)^i and adds Δ to mc.
func (m *MelCepstrum) newtonStep(mc []float64) error {
	size := m.Order + 1
	for i := 0; i < size; i++ {
		for j := 0; j < size; j++ {
			d := i - j
			if d < 0 {
				d = -d
			}
			m.a[i*size+j] = m.rt[d] + m.rt[i+j]
		}
		m.b[i] = m.rt[i] - m.alphaPow[i]
	}
	if err := solve(m.a, m.b, size); err != nil {
		return err
	}
	for i := range mc {
		mc[i] += m.b[i]
	}
	return nil
}

// solve overwrites b with the solution of a·x = b (a is n×n, row-major,
// destroyed) by Gaussian elimination with partial pivoting.
func solve(a, b []float64, n int) error {
	for col := 0; col < n; col++ {
		p := col
		for r := col + 1; r < n; r++ {
			if math.Abs(a[r*n+col]) > math.Abs(a[p*n+col]) {
				p = r
			}
		}
		if math.Abs(a[p*n+col]) < 1e-300 || math.IsNaN(a[p*n+col]) {
			return fmt.Errorf("mel-cepstrum: singular Newton system")
		}
		if p != col {
			for k := 0; k < n; k++ {
				a[p*n+k], a[col*n+k] = a[col*n+k], a[p*n+k]
			}
			b[p], b[col] = b[col], b[p]
		}
		for r := col + 1; r < n; r++ {
			f := a[r*n+col] / a[col*n+col]
			if f == 0 {
				continue
			}
			for k := col; k < n; k++ {
				a[r*n+k] -= f * a[col*n+k]
			}
			b[r] -= f * b[col]
		}
	}
	for r := n - 1; r >= 0; r-- {
		s := b[r]
		for k := r + 1; k < n; k++ {
			s -= a[r*n+k] * b[k]
		}
		b[r] = s / a[r*n+r]
	}
	return nil
}

// freqt is SPTK's frequency transform: it writes to dst (order len(dst)−1)
// the cepstrum warped by the all-pass z̃^-1 = (z^-1 − α)/(1 − α·z^-1) of
// the cepstrum src; with −α it unwarps.
func freqt(dst, src []float64, alpha float64) {
	clear(dst)
	beta := 1 - alpha*alpha
	for i := len(src) - 1; i >= 0; i-- {
		prev := dst[0] // d[0]
		dst[0] = src[i] + alpha*prev
		if len(dst) > 1 {
			d1 := dst[1]
			dst[1] = beta*prev + alpha*d1
			prev = d1
			for k := 2; k < len(dst); k++ {
				dk := dst[k]
				dst[k] = prev + alpha*(dk-dst[k-1])
				prev = dk
			}
		}
	}
}

// frqtr is SPTK's frequency transform of the autocorrelation-like
// sequence r (frqtr in SPTK 3, CoefficientsFrequencyTransform in SPTK 4):
// as freqt, but the newest input enters g_0 unscaled and g_1 uses the
// general recursion.
func frqtr(dst, src []float64, alpha float64) {
	clear(dst)
	for i := len(src) - 1; i >= 0; i-- {
		prev := dst[0]
		dst[0] = src[i]
		for k := 1; k < len(dst); k++ {
			dk := dst[k]
			dst[k] = prev + alpha*(dk-dst[k-1])
			prev = dk
		}
	}
}
