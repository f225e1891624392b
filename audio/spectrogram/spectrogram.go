// Package spectrogram computes and draws log-magnitude spectrograms: how a
// sound's energy is spread over frequency (vertical axis) and time
// (horizontal axis), the usual picture of speech, in which voiced sounds
// show as stacks of harmonics and fricatives as noise high up.
//
// nextsample generate draws one for every continuation, with a marker
// where the prompt ends and the model's own samples begin, so a glance
// says whether the continuation keeps the prompt's pitch and formants or
// drifts into noise.
//
// The transform is a short-time Fourier transform with a periodic Hann
// window over frames centred on multiples of the hop (zeros beyond the
// ends), computed with gonum's dsp/fourier. Magnitudes are scaled so that
// a full-scale sine at a bin's centre frequency reads 0 dB.
package spectrogram

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"math/cmplx"

	"gonum.org/v1/gonum/dsp/fourier"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/nextsample/nextsample/audio/atomicfile"
)

// Options choose the analysis. Zero values take the defaults.
type Options struct {
	// Window is the frame length in samples; the default is the power of
	// two nearest to 32 ms (256 at 8 kHz, 512 at 16 kHz), which resolves
	// the harmonics of a speaking voice.
	Window int
	// Hop is the step between frames in samples; the default is Window/4.
	Hop int
}

// Spectrogram is a log-magnitude short-time spectrum: Frames frames of
// Bins = Window/2+1 frequency bins from 0 Hz to the Nyquist frequency.
type Spectrogram struct {
	Rate         int // sample rate of the analysed signal, Hz
	Window, Hop  int // frame length and step, samples
	Frames, Bins int
	// DB[f·Bins+k] is the level of bin k in frame f, in dB relative to a
	// full-scale sine; silence reads -200 dB rather than -Inf.
	DB []float64
}

// floorDB is the level of an exactly zero magnitude.
const floorDB = -200

// Compute returns the spectrogram of x, sampled at rate Hz.
func Compute(x []float32, rate int, opt Options) (*Spectrogram, error) {
	if rate <= 0 {
		return nil, fmt.Errorf("spectrogram: sample rate %d", rate)
	}
	if len(x) == 0 {
		return nil, errors.New("spectrogram: no samples")
	}
	win := opt.Window
	if win == 0 {
		win = 1 << int(math.Round(math.Log2(0.032*float64(rate))))
		win = max(win, 16)
	}
	if win < 2 || win > 1<<20 {
		return nil, fmt.Errorf("spectrogram: window of %d samples: must be between 2 and %d", win, 1<<20)
	}
	hop := opt.Hop
	if hop == 0 {
		hop = max(1, win/4)
	}
	if hop < 1 {
		return nil, fmt.Errorf("spectrogram: hop of %d samples", hop)
	}
	frames := (len(x) + hop - 1) / hop
	bins := win/2 + 1
	s := &Spectrogram{Rate: rate, Window: win, Hop: hop, Frames: frames, Bins: bins, DB: make([]float64, frames*bins)}

	// Periodic Hann window; the amplitude of a sine at a bin centre is
	// |X_k|·2/Σw (for the 0 Hz and Nyquist bins, |X_k|/Σw, a nicety
	// not worth the code for a picture).
	w := make([]float64, win)
	var sum float64
	for i := range w {
		w[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(win))
		sum += w[i]
	}
	scale := 2 / sum
	fft := fourier.NewFFT(win)
	seq := make([]float64, win)
	coef := make([]complex128, bins)
	for f := 0; f < frames; f++ {
		start := f*hop - win/2 // frame f is centred on sample f·hop
		for i := range seq {
			seq[i] = 0
			if j := start + i; j >= 0 && j < len(x) {
				seq[i] = float64(x[j]) * w[i]
			}
		}
		coef = fft.Coefficients(coef, seq)
		row := s.DB[f*bins : (f+1)*bins]
		for k, c := range coef {
			m := cmplx.Abs(c) * scale
			if m > 0 {
				row[k] = math.Max(floorDB, 20*math.Log10(m))
			} else {
				row[k] = floorDB
			}
		}
	}
	return s, nil
}

// Time returns the time of frame f's centre, in seconds.
func (s *Spectrogram) Time(f int) float64 { return float64(f*s.Hop) / float64(s.Rate) }

// Freq returns the centre frequency of bin k, in Hz.
func (s *Spectrogram) Freq(k int) float64 { return float64(k) * float64(s.Rate) / float64(s.Window) }

// Max returns the loudest level, in dB.
func (s *Spectrogram) Max() float64 {
	m := math.Inf(-1)
	for _, v := range s.DB {
		m = math.Max(m, v)
	}
	return m
}

// PlotOptions describe a picture.
type PlotOptions struct {
	Title string
	// RangeDB is how far below the loudest bin the colours reach;
	// quieter bins take the darkest colour. 0 means 80 dB.
	RangeDB float64
	// Marker, if positive, draws a dashed vertical line at that time
	// (seconds), explained by MarkerLabel under the time axis.
	Marker      float64
	MarkerLabel string
	// Width and Height of the image; 0 means 10 × 4 inches (at the PNG
	// default of 96 dots per inch).
	Width, Height vg.Length
}

// grid adapts a Spectrogram to plotter.GridXYZ: columns are frames,
// rows are frequency bins.
type grid struct{ s *Spectrogram }

func (g grid) Dims() (c, r int)   { return g.s.Frames, g.s.Bins }
func (g grid) Z(c, r int) float64 { return g.s.DB[c*g.s.Bins+r] }
func (g grid) X(c int) float64    { return g.s.Time(c) }
func (g grid) Y(r int) float64    { return g.s.Freq(r) }

// Plot returns the spectrogram as a plot: a heat map with time in seconds
// across and frequency in Hz up, and the marker if asked for.
func (s *Spectrogram) Plot(opt PlotOptions) (*plot.Plot, error) {
	rng := opt.RangeDB
	if rng == 0 {
		rng = 80
	}
	if !(rng > 0) || math.IsInf(rng, 0) {
		return nil, fmt.Errorf("spectrogram: range of %v dB", opt.RangeDB)
	}
	top := s.Max()
	if top <= floorDB {
		top = 0 // silence: show the scale down from full level
	}
	pal := moreland.ExtendedBlackBody()
	pal.SetMin(top - rng)
	pal.SetMax(top)
	hm := plotter.NewHeatMap(grid{s}, pal.Palette(256))
	hm.Min, hm.Max = top-rng, top
	hm.Rasterized = true
	cols := hm.Palette.Colors()
	hm.Underflow = cols[0]
	hm.Overflow = cols[len(cols)-1]

	p := plot.New()
	p.Title.Text = opt.Title
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "frequency (Hz)"
	p.Add(hm)
	// The heat map's cells are centred on the frames and bins; frame the
	// plot on the signal itself.
	half := float64(s.Hop) / float64(s.Rate) / 2
	p.X.Min, p.X.Max = math.Max(0, s.Time(0)-half), s.Time(s.Frames-1)+half
	p.Y.Min, p.Y.Max = 0, float64(s.Rate)/2
	if opt.Marker > 0 {
		// White dashes over a black line: visible on every colour of
		// the palette.
		xy := plotter.XYs{{X: opt.Marker, Y: 0}, {X: opt.Marker, Y: float64(s.Rate) / 2}}
		under, err := plotter.NewLine(xy)
		if err != nil {
			return nil, err
		}
		under.Color = color.Black
		under.Width = vg.Points(3)
		over, err := plotter.NewLine(xy)
		if err != nil {
			return nil, err
		}
		over.Color = color.White
		over.Width = vg.Points(1.5)
		over.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
		p.Add(under, over)
		if opt.MarkerLabel != "" {
			// Said under the axis: text on the picture would be
			// unreadable on some backgrounds and hide part of it.
			p.X.Label.Text = fmt.Sprintf("time (s); dashed line at %.2f s: %s", opt.Marker, opt.MarkerLabel)
		}
	}
	return p, nil
}

// WritePNG draws the spectrogram (see Plot) as a PNG image to w.
func (s *Spectrogram) WritePNG(w io.Writer, opt PlotOptions) error {
	p, err := s.Plot(opt)
	if err != nil {
		return err
	}
	width, height := opt.Width, opt.Height
	if width == 0 {
		width = 10 * vg.Inch
	}
	if height == 0 {
		height = 4 * vg.Inch
	}
	wt, err := p.WriterTo(width, height, "png")
	if err != nil {
		return err
	}
	_, err = wt.WriteTo(w)
	return err
}

// WriteFile writes the PNG to path atomically: a failure leaves no
// partial file (see package atomicfile).
func (s *Spectrogram) WriteFile(path string, opt PlotOptions) error {
	return atomicfile.Write(path, func(w io.Writer) error { return s.WritePNG(w, opt) })
}
