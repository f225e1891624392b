// Package probe measures how much a set of frame features knows about a
// label (the spoken digit, the speaker) with a linear probe: each
// utterance's frames are pooled into one vector (their mean and standard
// deviation per dimension), the vectors are standardised with statistics
// of the training part only, and a multinomial logistic regression with
// L2 regularisation (scikit-learn's LogisticRegression, C = 1) is trained
// and tested.
//
// Two protocols:
//
//   - split trains on the manifest rows with split=train and tests on
//     split=test;
//   - loso (leave one speaker out) makes one fold per speaker: train on
//     every other speaker, test on that one. It asks whether what the
//     features encode carries over to a voice never seen in training; the
//     reported accuracy is the mean over folds.
//
// Everything is deterministic: same features, same numbers. Run returns
// a Result, whose JSON and text (Result.WriteText) forms are what
// `nextsample probe` prints.
package probe

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/audio/featio"
	"github.com/nextsample/nextsample/audio/regular"
)

// Protocols.
const (
	ProtocolSplit = "split"
	ProtocolLOSO  = "loso"
)

// Options of Run.
type Options struct {
	// Features are folders written by `nextsample features` (several for
	// the shards of one corpus).
	Features []string
	// Manifest is the corpus manifest CSV: a path column relative to the
	// manifest's folder, the label column, and split or speaker.
	Manifest string
	// Label names the manifest column to predict.
	Label string
	// Protocol is ProtocolSplit or ProtocolLOSO.
	Protocol string
	// C is the inverse L2 strength; 0 means 1.
	C float64
	// Workers bounds the folds trained at once; 0 means GOMAXPROCS.
	Workers int
}

// Fold is the result on one held-out part.
type Fold struct {
	// Speaker held out (loso), or empty (split).
	Speaker  string  `json:"speaker,omitempty"`
	Train    int     `json:"train"`
	N        int     `json:"n"`
	Correct  int     `json:"correct"`
	Accuracy float64 `json:"accuracy"`
	// Confusion counts the test utterances by true label, then predicted
	// label.
	Confusion map[string]map[string]int `json:"confusion"`
}

// Result of a probe.
type Result struct {
	Protocol string `json:"protocol"`
	Label    string `json:"label"`
	// Accuracy is the test accuracy (split) or the mean of the fold
	// accuracies (loso), in [0, 1].
	Accuracy float64 `json:"accuracy"`
	Folds    []Fold  `json:"folds"`

	Utterances int      `json:"utterances"`
	Classes    []string `json:"classes"`
	// FeatureDims is the per-frame dimension; the probe sees twice that.
	FeatureDims int     `json:"feature_dims"`
	Kind        string  `json:"kind"`
	C           float64 `json:"c"`
	// Unused counts feature entries with no manifest row.
	Unused int `json:"unused"`
	// Features are the folders the features were read from
	// (Options.Features).
	Features []string `json:"-"`
}

// Run loads the features, joins them to the manifest and runs the probe.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.C == 0 {
		opts.C = 1
	}
	if opts.Protocol != ProtocolSplit && opts.Protocol != ProtocolLOSO {
		return nil, fmt.Errorf("probe: protocol %q is not %q or %q", opts.Protocol, ProtocolSplit, ProtocolLOSO)
	}
	if opts.Label == "" {
		return nil, errors.New("probe: no label column given")
	}
	group := "split"
	if opts.Protocol == ProtocolLOSO {
		group = "speaker"
	}
	rows, err := ReadManifest(opts.Manifest, opts.Label, group)
	if err != nil {
		return nil, err
	}
	pooled, info, err := loadPooled(ctx, opts.Features)
	if err != nil {
		return nil, err
	}

	ds := &dataset{dims: 2 * info.dims}
	var missing []string
	used := 0
	for _, r := range rows {
		v, ok := pooled[r.Key]
		if !ok {
			missing = append(missing, r.Key)
			continue
		}
		used++
		ds.x = append(ds.x, v...)
		ds.labels = append(ds.labels, r.Label)
		ds.groups = append(ds.groups, r.Group)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("probe: %d of %d manifest rows have no features (first: %q); were the features made from this corpus?",
			len(missing), len(rows), missing[0])
	}

	res := &Result{
		Protocol: opts.Protocol, Label: opts.Label, Utterances: used,
		FeatureDims: info.dims, Kind: info.kind, C: opts.C, Unused: len(pooled) - used,
		Classes: sortedUnique(ds.labels), Features: opts.Features,
	}
	var folds []foldSpec
	if opts.Protocol == ProtocolSplit {
		f := foldSpec{}
		for i, g := range ds.groups {
			switch g {
			case "train":
				f.train = append(f.train, i)
			case "test":
				f.test = append(f.test, i)
			}
		}
		if len(f.train) == 0 || len(f.test) == 0 {
			return nil, fmt.Errorf("probe: %s: split protocol needs rows with split=train and split=test (found %d and %d)", opts.Manifest, len(f.train), len(f.test))
		}
		folds = []foldSpec{f}
	} else {
		speakers := sortedUnique(ds.groups)
		if len(speakers) < 2 {
			return nil, fmt.Errorf("probe: %s: leave-one-speaker-out needs at least 2 speakers, found %d", opts.Manifest, len(speakers))
		}
		for _, s := range speakers {
			f := foldSpec{speaker: s}
			for i, g := range ds.groups {
				if g == s {
					f.test = append(f.test, i)
				} else {
					f.train = append(f.train, i)
				}
			}
			folds = append(folds, f)
		}
	}

	res.Folds = make([]Fold, len(folds))
	errs := make([]error, len(folds))
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for i, f := range folds {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res.Folds[i], errs[i] = ds.runFold(ctx, f, opts.C)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	var sum float64
	for _, f := range res.Folds {
		sum += f.Accuracy
	}
	res.Accuracy = sum / float64(len(res.Folds))
	return res, nil
}

// dataset holds pooled vectors (n × dims, row-major) with their labels
// and group (split value or speaker).
type dataset struct {
	dims   int
	x      []float64
	labels []string
	groups []string
}

type foldSpec struct {
	speaker     string
	train, test []int
}

// runFold standardises with the training rows, fits, and scores the test
// rows. Test labels never seen in training count as errors.
func (d *dataset) runFold(ctx context.Context, f foldSpec, c float64) (Fold, error) {
	classes := make([]string, 0)
	for _, i := range f.train {
		classes = append(classes, d.labels[i])
	}
	classes = sortedUnique(classes)
	classIndex := make(map[string]int, len(classes))
	for i, l := range classes {
		classIndex[l] = i
	}
	if len(classes) < 2 {
		return Fold{}, fmt.Errorf("probe: fold %q: training part has %d class(es); need at least 2", f.speaker, len(classes))
	}

	mean, std := standardiser(d.x, d.dims, f.train)
	gather := func(idx []int) []float64 {
		out := make([]float64, 0, len(idx)*d.dims)
		for _, i := range idx {
			for j, v := range d.x[i*d.dims : (i+1)*d.dims] {
				out = append(out, (v-mean[j])/std[j])
			}
		}
		return out
	}
	xTrain := gather(f.train)
	yTrain := make([]int, len(f.train))
	for n, i := range f.train {
		yTrain[n] = classIndex[d.labels[i]]
	}
	clf, err := FitLogistic(ctx, xTrain, yTrain, len(classes), d.dims, FitOptions{C: c})
	if err != nil {
		if f.speaker != "" {
			return Fold{}, fmt.Errorf("fold %q: %w", f.speaker, err)
		}
		return Fold{}, err
	}
	xTest := gather(f.test)
	correct := 0
	confusion := map[string]map[string]int{}
	for n, i := range f.test {
		got, want := classes[clf.Predict(xTest[n*d.dims:(n+1)*d.dims])], d.labels[i]
		if got == want {
			correct++
		}
		if confusion[want] == nil {
			confusion[want] = map[string]int{}
		}
		confusion[want][got]++
	}
	return Fold{
		Speaker: f.speaker, Train: len(f.train), N: len(f.test), Correct: correct,
		Accuracy: float64(correct) / float64(len(f.test)), Confusion: confusion,
	}, nil
}

// standardiser returns the per-dimension mean and standard deviation
// (population, ddof 0) of the rows idx of x; a constant dimension gets
// std 1, as scikit-learn's StandardScaler does.
func standardiser(x []float64, dims int, idx []int) (mean, std []float64) {
	mean = make([]float64, dims)
	std = make([]float64, dims)
	for _, i := range idx {
		for j, v := range x[i*dims : (i+1)*dims] {
			mean[j] += v
		}
	}
	n := float64(len(idx))
	for j := range mean {
		mean[j] /= n
	}
	for _, i := range idx {
		for j, v := range x[i*dims : (i+1)*dims] {
			d := v - mean[j]
			std[j] += d * d
		}
	}
	for j := range std {
		std[j] = math.Sqrt(std[j] / n)
		if std[j] < 1e-12*math.Max(1, math.Abs(mean[j])) {
			std[j] = 1
		}
	}
	return mean, std
}

// PoolMeanStd reduces a frames × dims matrix to 2·dims values: the mean of
// each dimension over frames, then its standard deviation (population,
// ddof 0), in float64.
func PoolMeanStd(m featio.Matrix) ([]float64, error) {
	if m.Rows == 0 {
		return nil, errors.New("no frames to pool")
	}
	out := make([]float64, 2*m.Cols)
	mean, std := out[:m.Cols], out[m.Cols:]
	for t := range m.Rows {
		for j, v := range m.Row(t) {
			mean[j] += float64(v)
		}
	}
	n := float64(m.Rows)
	for j := range mean {
		mean[j] /= n
	}
	for t := range m.Rows {
		for j, v := range m.Row(t) {
			d := float64(v) - mean[j]
			std[j] += d * d
		}
	}
	for j := range std {
		std[j] = math.Sqrt(std[j] / n)
	}
	for _, v := range out {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, errors.New("features are not finite")
		}
	}
	return out, nil
}

type featureInfo struct {
	dims int
	kind string
}

// loadPooled opens every features folder and pools each utterance. All
// folders must hold the same kind of features with the same dims.
func loadPooled(ctx context.Context, dirs []string) (map[string][]float64, featureInfo, error) {
	var info featureInfo
	if len(dirs) == 0 {
		return nil, info, errors.New("probe: no features folder given")
	}
	pooled := map[string][]float64{}
	for n, dir := range dirs {
		set, err := featio.Open(dir)
		if err != nil {
			return nil, info, fmt.Errorf("probe: %w", err)
		}
		sc := set.Sidecar
		if n == 0 {
			info = featureInfo{dims: sc.Dims, kind: sc.Kind}
		} else if sc.Dims != info.dims || sc.Kind != info.kind {
			return nil, info, fmt.Errorf("probe: %s holds %s features of %d dims, %s holds %s of %d", dir, sc.Kind, sc.Dims, dirs[0], info.kind, info.dims)
		}
		if sc.Dims <= 0 {
			return nil, info, fmt.Errorf("probe: %s: features have %d dims", dir, sc.Dims)
		}
		for i, e := range set.Entries {
			if err := ctx.Err(); err != nil {
				return nil, info, err
			}
			if _, dup := pooled[e.Key]; dup {
				return nil, info, fmt.Errorf("probe: utterance %q appears in more than one features folder", e.Key)
			}
			m, err := set.Load(i)
			if err != nil {
				return nil, info, fmt.Errorf("probe: %w", err)
			}
			v, err := PoolMeanStd(m)
			if err != nil {
				return nil, info, fmt.Errorf("probe: %s: utterance %q: %w", dir, e.Key, err)
			}
			pooled[e.Key] = v
		}
	}
	return pooled, info, nil
}

// ManifestRow is the part of a manifest row the probe uses.
type ManifestRow struct {
	Key   string
	Label string
	Group string // split value or speaker
}

// ReadManifest reads the manifest CSV at path: a header naming at least
// "path", label and group, then one row per utterance. Keys come from
// the path column via UtteranceKey. Rows with an empty label or group are
// errors.
//
// A Kaldi data directory (one holding wav.scp) is read with corpus.Open
// instead: keys are its utterance ids, "speaker" is utt2spk, "label" (or
// "text") the text file, and "split" the directory's name.
func ReadManifest(path, label, group string) ([]ManifestRow, error) {
	if _, err := os.Stat(filepath.Join(path, corpus.WavScp)); err == nil {
		return readKaldiRows(path, label, group)
	}
	f, err := regular.Open(path)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.TrimLeadingSpace = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("probe: %s: header: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range head {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		col[h] = i
	}
	for _, want := range []string{"path", label, group} {
		if _, ok := col[want]; !ok {
			return nil, fmt.Errorf("probe: %s: no %q column (columns: %s)", path, want, strings.Join(head, ", "))
		}
	}
	var rows []ManifestRow
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("probe: %s: %w", path, err)
		}
		line, _ := cr.FieldPos(0)
		p := strings.TrimSpace(rec[col["path"]])
		key, err := UtteranceKey(p)
		if err != nil {
			return nil, fmt.Errorf("probe: %s:%d: %w", path, line, err)
		}
		if prev, dup := seen[key]; dup {
			return nil, fmt.Errorf("probe: %s:%d: utterance %q already on line %d", path, line, key, prev)
		}
		seen[key] = line
		r := ManifestRow{Key: key, Label: strings.TrimSpace(rec[col[label]]), Group: strings.TrimSpace(rec[col[group]])}
		if r.Label == "" || r.Group == "" {
			return nil, fmt.Errorf("probe: %s:%d: empty %q or %q", path, line, label, group)
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("probe: %s: no rows", path)
	}
	return rows, nil
}

// readKaldiRows is ReadManifest of a Kaldi data directory.
func readKaldiRows(dir, label, group string) ([]ManifestRow, error) {
	c, err := corpus.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	field := func(e corpus.Entry, name string) (string, bool) {
		switch name {
		case "speaker":
			return e.Speaker, true
		case "label", "text":
			return e.Label, true
		case "split":
			return e.Split, true
		}
		return "", false
	}
	var rows []ManifestRow
	for _, e := range c.Entries {
		l, ok1 := field(e, label)
		g, ok2 := field(e, group)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("probe: %s: a Kaldi data directory has the columns speaker (utt2spk), label (text) and split, not %q", dir, label)
		}
		if l == "" || g == "" {
			return nil, fmt.Errorf("probe: %s: utterance %q has an empty %q or %q (utt2spk and text must cover every utterance)", dir, e.Key, label, group)
		}
		rows = append(rows, ManifestRow{Key: e.Key, Label: l, Group: g})
	}
	return rows, nil
}

// UtteranceKey turns a manifest path (relative to the manifest's folder)
// into the key the features were stored under: corpus.KeyFor, the corpus
// key rule that `nextsample features` uses (slash form, cleaned, without
// a .wav extension, whitespace made "_"), e.g. "recordings/0_george_0.wav"
// → "recordings/0_george_0". Paths that leave the manifest's folder are
// refused: their keys could collide with those of files inside it.
func UtteranceKey(manifestPath string) (string, error) {
	if manifestPath == "" {
		return "", errors.New("empty path")
	}
	p := filepath.Clean(filepath.FromSlash(manifestPath))
	if !filepath.IsLocal(p) {
		return "", fmt.Errorf("path %q is not inside the manifest's folder", manifestPath)
	}
	return corpus.KeyFor(p), nil
}

func sortedUnique(v []string) []string {
	set := map[string]bool{}
	for _, s := range v {
		set[s] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}
