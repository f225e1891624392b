package train

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/kernels"
)

// memFeatures is an in-memory FeatureSource: feats[i] holds file i's
// features channel by channel.
type memFeatures struct {
	dims   int
	frames []int
	feats  [][]float32
}

func (m memFeatures) Dims() int        { return m.dims }
func (m memFeatures) Frames(i int) int { return m.frames[i] }
func (m memFeatures) ReadFeatures(i int, dst []float32) error {
	copy(dst, m.feats[i])
	return nil
}

// tinyHop is the frame hop of tinyLCConfig.
const tinyHop = 4

// tinyLCConfig is tinyConfig locally conditioned on 3 feature dims, one
// frame every 4 samples.
func tinyLCConfig() causalconv.Config {
	c := tinyConfig()
	c.LocalCondition = &causalconv.LocalCondition{Channels: 3, Hop: tinyHop, Window: 8, SnipEdges: true, Context: 1,
		UpsampleScales: []int{2, 2}, Mean: []float64{0.1, -0.2, 0.3}, Std: []float64{1, 2, 0.5}}
	return c
}

// tinyFeatures returns features for files of the given lengths that
// follow their classes (a frame's mean class, and noise), so that a
// conditioned model can learn from them; a file of fewer than 8 samples
// has no frame.
func tinyFeatures(files Classes, seed uint64) memFeatures {
	r := rand.New(rand.NewPCG(seed, 5))
	m := memFeatures{dims: 3}
	for _, x := range files {
		n := 0
		if len(x) >= 8 {
			n = (len(x)-8)/tinyHop + 1
		}
		f := make([]float32, 3*n)
		for k := range n {
			var mean float64
			for _, c := range x[k*tinyHop : k*tinyHop+8] {
				mean += float64(c) / 8
			}
			f[k] = float32(mean)
			f[n+k] = float32(r.NormFloat64())
			f[2*n+k] = float32(math.Sin(float64(k)))
		}
		m.frames = append(m.frames, n)
		m.feats = append(m.feats, f)
	}
	return m
}

// tinyLCData is tinyData(1) with features.
func tinyLCData() Data {
	d := tinyData(1)
	d.Train = WithFeatures(d.Train, tinyFeatures(d.Train.(Classes), 1))
	d.Valid = WithFeatures(d.Valid, tinyFeatures(d.Valid.(Classes), 2))
	return d
}

func TestLocallyConditionedRunLearns(t *testing.T) {
	o := tinyOptions(Adam)
	o.Steps = 30
	r := newTinyRunOf(t, t.TempDir(), o, tinyLCConfig(), tinyLCData())
	defer r.Close()
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	first, last := r.rows[1].TrainBits, r.rows[len(r.rows)-1].TrainBits
	if !(last < first) {
		t.Fatalf("training bits went from %.4f to %.4f", first, last)
	}
}

func TestFeatureStats(t *testing.T) {
	d := Classes{make([]int32, 10), make([]int32, 10)}
	f := memFeatures{dims: 2, frames: []int{2, 1}, feats: [][]float32{{1, 3, 5, 5}, {2, 5}}}
	mean, std, err := FeatureStats(WithFeatures(d, f))
	if err != nil {
		t.Fatal(err)
	}
	if mean[0] != 2 || mean[1] != 5 || math.Abs(std[0]-math.Sqrt(2.0/3)) > 1e-12 || std[1] != 1 {
		t.Fatalf("mean %v std %v; want [2 5] [%g 1]", mean, std, math.Sqrt(2.0/3))
	}
}

func TestFeaturesAreChecked(t *testing.T) {
	m, err := causalconv.NewRandom(tinyLCConfig(), 1)
	if err != nil {
		t.Fatal(err)
	}
	plain := tinyData(1)
	if _, err := New(m, plain, tinyOptions(Adam), Setup{Out: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "no features") {
		t.Fatalf("a conditioned model on data without features: %v", err)
	}
	wrong := tinyLCData()
	f := tinyFeatures(plain.Train.(Classes), 1)
	f.dims = 2
	wrong.Train = WithFeatures(plain.Train, f)
	if _, err := New(m, wrong, tinyOptions(Adam), Setup{Out: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "2 dims") {
		t.Fatalf("features of the wrong dims: %v", err)
	}
	u, err := causalconv.NewRandom(tinyConfig(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(u, tinyLCData(), tinyOptions(Adam), Setup{Out: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "not locally conditioned") {
		t.Fatalf("an unconditioned model on data with features: %v", err)
	}
}

// A crop of an utterance, given the utterance's features and its offset,
// scores its targets as the whole utterance does; the wrong offset does not.
func TestCropIsConditionedAsTheWholeUtterance(t *testing.T) {
	m, err := causalconv.NewRandom(tinyLCConfig(), 3)
	if err != nil {
		t.Fatal(err)
	}
	net, err := newConvNet(m, false, kernels.Best(), causalconv.PrecisionFP32)
	if err != nil {
		t.Fatal(err)
	}
	net.prepare()
	d := tinyData(1)
	seq := d.Train.(Classes)[4] // 200 samples
	f := tinyFeatures(Classes{seq}, 1)
	var buf []float32
	feats, err := readFeatures(f, 0, &buf)
	if err != nil {
		t.Fatal(err)
	}
	w, err := net.newWorker(len(seq))
	if err != nil {
		t.Fatal(err)
	}
	const from = 120
	if err := w.setFeatures(feats, 0); err != nil {
		t.Fatal(err)
	}
	whole, err := w.loss(seq[:len(seq)-1], seq[1:], from)
	if err != nil {
		t.Fatal(err)
	}
	ctx := m.Config.ReceptiveField() - 1
	x, y := seq[from-ctx:len(seq)-1], seq[from-ctx+1:]
	for _, off := range []int{from - ctx, from - ctx + 1} {
		if err := w.setFeatures(feats, off); err != nil {
			t.Fatal(err)
		}
		crop, err := w.loss(x, y, ctx)
		if err != nil {
			t.Fatal(err)
		}
		if right := off == from-ctx; (crop == whole) != right {
			t.Errorf("offset %d: crop %.17g nats, whole %.17g", off, crop, whole)
		}
	}
}

// A batch's units carry their files' features and the utterance sample
// their Seq starts at, whichever way speakers and features are combined.
func TestBatchUnitsCarryFeatures(t *testing.T) {
	d := tinyData(1)
	files := d.Train.(Classes)
	f := tinyFeatures(files, 1)
	speakers := []int{0, 1, 0, 1, 0, 1}
	for name, s := range map[string]Dataset{
		"features(speakers)": WithFeatures(WithSpeakers(files, speakers), f),
		"speakers(features)": WithSpeakers(WithFeatures(files, f), speakers),
	} {
		if featuresOf(s) == nil || speakerOf(s, 1) != 1 || s.Len(3) != 0 || s.Len(4) != 200 {
			t.Fatalf("%s: features %v, speaker %d, lengths %d %d", name, featuresOf(s), speakerOf(s, 1), s.Len(3), s.Len(4))
		}
		var b batch
		ids := []int32{4, 1}
		if err := b.read(s, ids, []window{{file: 0, start: 50, targets: 20}, {file: 1, start: 3, targets: 10}}, 8, 16); err != nil {
			t.Fatal(err)
		}
		u := b.units[0]
		if u.Start != 8 || u.Offset != 42 || u.Speaker != 0 || u.Feats.Rows != 3 || u.Feats.Cols != f.frames[4] || u.Feats.Data[0] != f.feats[4][0] {
			t.Errorf("%s: unit 0: start %d, offset %d, speaker %d, features %d×%d", name, u.Start, u.Offset, u.Speaker, u.Feats.Rows, u.Feats.Cols)
		}
		if u := b.units[1]; u.Start != 3 || u.Offset != 0 || u.Speaker != 1 {
			t.Errorf("%s: unit 1: start %d, offset %d, speaker %d", name, u.Start, u.Offset, u.Speaker)
		}
	}
}
