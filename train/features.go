package train

import (
	"fmt"
	"math"

	"github.com/nextsample/nextsample/causalconv"
)

// A FeatureSource holds the frame features of a locally conditioned
// model's files (causalconv.Config.LocalCondition): for file i, Frames(i)
// frames of Dims() values each. The feature cache of package corpus is
// one; a run reads one file's features at a time, with its classes, so
// they need not be in memory.
type FeatureSource interface {
	// Dims is the number of feature channels per frame.
	Dims() int
	// Frames is the number of frames of file i.
	Frames(i int) int
	// ReadFeatures fills dst, Dims() × Frames(i) values, with the features
	// of file i channel by channel: dst[c·Frames(i)+k] is channel c of
	// frame k (the layout of causalconv.Workspace.SetFeatures). It may be
	// called from several goroutines at once.
	ReadFeatures(i int, dst []float32) error
}

// WithFeatures returns s with the features of its files, f's file i for
// file i: the split of a locally conditioned model. A file without a
// frame cannot be conditioned, so it has no samples in the result (it is
// neither trained on nor scored). Speakers of s are kept.
func WithFeatures(s Dataset, f FeatureSource) Dataset {
	d := featured{s, f}
	if _, ok := s.(interface{ Speaker(int) int }); ok {
		return featuredSpeakers{d}
	}
	return d
}

type featured struct {
	Dataset
	feats FeatureSource
}

func (s featured) featureSource() FeatureSource { return s.feats }

// Len implements Dataset: 0 for a file without frames.
func (s featured) Len(i int) int {
	if s.feats.Frames(i) == 0 {
		return 0
	}
	return s.Dataset.Len(i)
}

func (s featured) ClassCounts() []int64 {
	if cc, ok := s.Dataset.(classCounter); ok {
		return cc.ClassCounts()
	}
	return nil
}

type featuredSpeakers struct{ featured }

func (s featuredSpeakers) Speaker(i int) int { return speakerOf(s.Dataset, i) }

// featuresOf returns the features of s, or nil when it has none.
func featuresOf(s Dataset) FeatureSource {
	if f, ok := s.(interface{ featureSource() FeatureSource }); ok {
		return f.featureSource()
	}
	return nil
}

// readFeatures reads file i's features of f into *buf (grown as needed)
// and returns them as the matrix SetFeatures takes.
func readFeatures(f FeatureSource, i int, buf *[]float32) (causalconv.Matrix, error) {
	c, n := f.Dims(), f.Frames(i)
	if cap(*buf) < c*n {
		*buf = make([]float32, c*n)
	}
	b := (*buf)[:c*n]
	if err := f.ReadFeatures(i, b); err != nil {
		return causalconv.Matrix{}, err
	}
	return causalconv.Matrix{Rows: c, Cols: n, Stride: n, Data: b}, nil
}

// checkFeatures checks that s has features of the model's lc dims (lc
// set), or none (lc nil).
func checkFeatures(s Dataset, lc *causalconv.LocalCondition, what string) error {
	f := featuresOf(s)
	switch {
	case lc == nil && f != nil:
		return fmt.Errorf("%s files have features, but the model is not locally conditioned", what)
	case lc != nil && f == nil:
		return fmt.Errorf("the model is locally conditioned (%d feature dims per %d-sample frame), but the %s files have no features", lc.Channels, lc.Hop, what)
	case lc != nil && f.Dims() != lc.Channels:
		return fmt.Errorf("%s features have %d dims; the model takes %d", what, f.Dims(), lc.Channels)
	}
	return nil
}

// FeatureStats returns the per-channel mean and standard deviation of the
// features of s's files over all their frames: the normalisation a new
// locally conditioned model stores (causalconv.LocalCondition's Mean and
// Std), computed before its first step from the training split. Sums are
// float64, in file order, so the result does not depend on the thread
// count. The standard deviation is the population one (as sklearn's
// StandardScaler, r9y9's choice); a channel that never varies gets 1.
func FeatureStats(s Dataset) (mean, std []float64, err error) {
	f := featuresOf(s)
	if f == nil {
		return nil, nil, fmt.Errorf("feature statistics: the files have no features")
	}
	c := f.Dims()
	sum, sq := make([]float64, c), make([]float64, c)
	var frames int64
	var buf []float32
	for i := range numFiles(s) {
		m, err := readFeatures(f, i, &buf)
		if err != nil {
			return nil, nil, fmt.Errorf("feature statistics: file %d: %w", i, err)
		}
		for ch := range c {
			for _, v := range m.Data[ch*m.Stride : ch*m.Stride+m.Cols] {
				sum[ch] += float64(v)
				sq[ch] += float64(v) * float64(v)
			}
		}
		frames += int64(m.Cols)
	}
	if frames == 0 {
		return nil, nil, fmt.Errorf("feature statistics: no frames")
	}
	mean, std = make([]float64, c), make([]float64, c)
	for ch := range c {
		mean[ch] = sum[ch] / float64(frames)
		v := sq[ch]/float64(frames) - mean[ch]*mean[ch]
		std[ch] = math.Sqrt(max(v, 0))
		if !(std[ch] > 1e-8) || math.IsInf(std[ch], 0) {
			std[ch] = 1
		}
	}
	return mean, std, nil
}

// stridedFeatures is the features of a strided Dataset.
type stridedFeatures struct {
	f          FeatureSource
	from, step int
}

func (p stridedFeatures) Dims() int        { return p.f.Dims() }
func (p stridedFeatures) Frames(i int) int { return p.f.Frames(p.from + i*p.step) }
func (p stridedFeatures) ReadFeatures(i int, dst []float32) error {
	return p.f.ReadFeatures(p.from+i*p.step, dst)
}
