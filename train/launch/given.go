package launch

import (
	"fmt"
	"math"

	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/audio/featio"
	"github.com/nextsample/nextsample/audio/kaldifeat"
)

// FrameSlack is how many frames fewer than its audio needs a file's given
// features may have: toolkits differ at the edges (a last partial frame
// dropped or padded, centred or snipped windows), so a frame or two short
// is accepted, and the last frame then conditions the samples beyond it
// (the alignment clamps). Fewer means features of other audio, another
// hop, or a truncated file, and is refused.
const FrameSlack = 2

// GivenFeatures are frame features read rather than computed (the
// --features of train and eval): a Kaldi scp or ark file, an npy file or
// a features folder written by `nextsample features` (ark, npy or HTK,
// with features.json), keyed like the corpus's entries (featio.Keyed).
// Folder and scp matrices are read one at a time, when a file's features
// are needed.
type GivenFeatures struct {
	*featio.Keyed
}

// OpenGivenFeatures opens the index of the features at spec.
func OpenGivenFeatures(spec string) (*GivenFeatures, error) {
	k, err := featio.OpenKeyed(spec)
	if err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	return &GivenFeatures{k}, nil
}

// Framing returns the window, hop and frame convention of the features:
// the folder's features.json's, checked against rate, or for an scp file
// (which does not say) those of fbank at rate.
func (g *GivenFeatures) Framing(rate int, fbank kaldifeat.Config) (window, hop int, snipEdges bool, err error) {
	if sc := g.Sidecar; sc != nil {
		if sc.SampleRate != rate {
			return 0, 0, false, fmt.Errorf("features: %s holds features of %d Hz audio; the model's is %d Hz", g.Spec, sc.SampleRate, rate)
		}
		return sc.WindowSamples, sc.HopSamples, sc.SnipEdges, nil
	}
	return fbank.WindowSize(), fbank.WindowShift(), fbank.SnipEdges, nil
}

// Dims returns the dims of the features of the first of entries.
func (g *GivenFeatures) Dims(entries []corpus.Entry) (int, error) {
	if len(entries) == 0 {
		return 0, fmt.Errorf("features: no files")
	}
	i, ok := g.Index(entries[0].Key)
	if !ok {
		return 0, g.missing(entries[0])
	}
	m, err := g.Load(i)
	if err != nil {
		return 0, err
	}
	return m.Cols, nil
}

func (g *GivenFeatures) missing(e corpus.Entry) error {
	return fmt.Errorf("features: %s has no features for key %q (%s)", g.Spec, e.Key, e.Path)
}

// givenSource is a train.FeatureSource of given features for a list of
// entries.
type givenSource struct {
	g      *GivenFeatures
	dims   int
	idx    []int // the features' index of each entry
	frames []int
}

// source checks the given features of entries, whose classes are lens[i]
// samples long, against the model's dims and framing: every key present,
// dims as the model's, every value finite, and no fewer frames than the
// audio needs less FrameSlack. Each matrix is read once. The first
// problem is the error, naming the key and the file.
func (g *GivenFeatures) source(entries []corpus.Entry, lens func(i int) int, dims, window, hop int, snipEdges bool) (*givenSource, error) {
	s := &givenSource{g: g, dims: dims, idx: make([]int, len(entries)), frames: make([]int, len(entries))}
	for i, e := range entries {
		j, ok := g.Index(e.Key)
		if !ok {
			return nil, g.missing(e)
		}
		m, err := g.Load(j)
		if err != nil {
			return nil, fmt.Errorf("features of %q: %w", e.Key, err)
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("features of %q (%s): %s", e.Key, g.Where(j), fmt.Sprintf(format, args...))
		}
		if m.Cols != dims {
			return nil, bad("%d dims; the model takes %d", m.Cols, dims)
		}
		for k, v := range m.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, bad("frame %d, dim %d is %g", k/dims, k%dims, v)
			}
		}
		need := kaldifeat.NumFrames(lens(i), window, hop, snipEdges)
		if m.Rows < need-FrameSlack {
			return nil, bad("%d frames for %d samples, which need %d (%d-sample hop, %d-sample window): features of other audio or another hop?",
				m.Rows, lens(i), need, hop, window)
		}
		s.idx[i], s.frames[i] = j, m.Rows
	}
	return s, nil
}

func (s *givenSource) Dims() int        { return s.dims }
func (s *givenSource) Frames(i int) int { return s.frames[i] }

// ReadFeatures implements train.FeatureSource: the matrix of entry i,
// transposed to channel by channel.
func (s *givenSource) ReadFeatures(i int, dst []float32) error {
	m, err := s.g.Load(s.idx[i])
	if err != nil {
		return err
	}
	n := s.frames[i]
	if m.Rows != n || m.Cols != s.dims || len(dst) != n*s.dims {
		return fmt.Errorf("features of entry %d (%s) changed since they were checked", i, s.g.Where(s.idx[i]))
	}
	for k := range n {
		for c := range s.dims {
			dst[c*n+k] = m.Data[k*s.dims+c]
		}
	}
	return nil
}
