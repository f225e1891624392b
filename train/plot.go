package train

import (
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Baselines are the reference lines of the loss curve, in bits per sample.
type Baselines struct {
	// Uniform is log2 Q: a model that knows nothing.
	Uniform float64
	// Unigram is the entropy of the training classes: a model that knows
	// only how often each class occurs.
	Unigram float64
}

// writePlot draws training and validation bits per sample against the step,
// with the baselines as horizontal lines, as a PNG. A run with a moving
// average (Options.EMA) has two validation curves: the average's
// ("validation (EMA)") and, thinner, the raw weights'.
func writePlot(w io.Writer, rows []LogRow, base Baselines, title string) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "step"
	p.Y.Label.Text = "bits per sample"
	// Loss curves fall from the top left; the bottom left stays empty.
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(30)
	p.Legend.YOffs = vg.Points(10)

	var trainPts, valPts, rawPts plotter.XYs
	var last int64
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range rows {
		if r.Step > last {
			last = r.Step
		}
		if isFinite(r.TrainBits) {
			trainPts = append(trainPts, plotter.XY{X: float64(r.Step), Y: r.TrainBits})
		}
		if isFinite(r.ValBits) {
			valPts = append(valPts, plotter.XY{X: float64(r.Step), Y: r.ValBits})
			lo, hi = math.Min(lo, r.ValBits), math.Max(hi, r.ValBits)
		}
		if isFinite(r.ValRawBits) {
			rawPts = append(rawPts, plotter.XY{X: float64(r.Step), Y: r.ValRawBits})
			lo, hi = math.Min(lo, r.ValRawBits), math.Max(hi, r.ValRawBits)
		}
	}
	if last == 0 {
		last = 1
	}
	if len(trainPts) > 0 {
		l, err := plotter.NewLine(trainPts)
		if err != nil {
			return err
		}
		l.Color = color.RGBA{R: 120, G: 160, B: 220, A: 255}
		p.Add(l)
		p.Legend.Add("train (per batch)", l)
	}
	if len(valPts) > 0 {
		l, pts, err := plotter.NewLinePoints(valPts)
		if err != nil {
			return err
		}
		l.Color = color.RGBA{R: 200, G: 40, B: 40, A: 255}
		l.Width = vg.Points(1.5)
		pts.Color = l.Color
		p.Add(l, pts)
		name := "validation"
		if len(rawPts) > 0 {
			name = "validation (EMA)"
		}
		p.Legend.Add(name, l)
	}
	if len(rawPts) > 0 {
		l, err := plotter.NewLine(rawPts)
		if err != nil {
			return err
		}
		l.Color = color.RGBA{R: 120, G: 60, B: 170, A: 255}
		p.Add(l)
		p.Legend.Add("validation (raw weights)", l)
	}
	for _, b := range []struct {
		name string
		v    float64
		c    color.RGBA
	}{
		{fmt.Sprintf("uniform %.2f", base.Uniform), base.Uniform, color.RGBA{A: 255}},
		{fmt.Sprintf("unigram %.2f", base.Unigram), base.Unigram, color.RGBA{R: 90, G: 150, B: 60, A: 255}},
	} {
		if !isFinite(b.v) || b.v <= 0 {
			continue
		}
		l, err := plotter.NewLine(plotter.XYs{{X: 0, Y: b.v}, {X: float64(last), Y: b.v}})
		if err != nil {
			return err
		}
		l.Color = b.c
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(l)
		p.Legend.Add(b.name, l)
		lo, hi = math.Min(lo, b.v), math.Max(hi, b.v)
	}
	// Training losses of the first steps are far above everything else;
	// frame the validation curve and the baselines instead.
	if isFinite(lo) && isFinite(hi) {
		pad := math.Max(0.25, 0.1*(hi-lo))
		p.Y.Min, p.Y.Max = math.Max(0, lo-pad), hi+pad
	}
	p.X.Min, p.X.Max = 0, float64(last)
	wt, err := p.WriterTo(8*vg.Inch, 5*vg.Inch, "png")
	if err != nil {
		return err
	}
	_, err = wt.WriteTo(w)
	return err
}
