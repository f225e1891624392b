package launch

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/causalconv/modelfile"
	"github.com/nextsample/nextsample/train"
)

// MetaSource is the metadata key of a run's Source.
const MetaSource = modelfile.KeyTrainData

// Source is where a run's audio comes from, as its files record it
// (MetaSource): the model file's TrainData.
type Source = modelfile.TrainData

// SourceOf returns the Source that meta records, if it records a usable
// one.
func SourceOf(meta map[string]string) (src Source, ok bool) {
	d, err := modelfile.ReadTrainData(meta)
	if err != nil || d == nil || d.Data == "" {
		return Source{}, false
	}
	return *d, true
}

// ValSplitNames are the splits taken for validation, in order of
// preference, when Source.ValSplit is not given.
var ValSplitNames = corpus.ValidationSplits()

// Bound says how Source.ValSamples bounded a validation set: Kept of its
// Of files, chosen by key hash for at most Limit samples.
type Bound struct {
	Kept, Of int
	Limit    int64
}

// splits are the training and validation files of a Source.
type splits struct {
	corp         *corpus.Corpus
	train, valid []corpus.Entry
	// validName says what the validation files are: a split's name, a
	// corpus and split, or how they were held out ("": none).
	validName string
}

// openSplits opens the corpus of src and chooses its training and
// validation entries (see chooseSplits). With a separate validation
// corpus (ValData) the training set is the corpus's train split (all of a
// Kaldi data directory) and validation is the other corpus (its ValSplit,
// if given, else all of it).
func openSplits(src Source) (*splits, error) {
	corp, err := corpus.Open(src.Data)
	if err != nil {
		return nil, err
	}
	if src.ValData == "" {
		return chooseSplits(corp, src.ValSplit)
	}
	trainSet := corp.Split(corpus.Train)
	if corp.Kaldi {
		trainSet = corp.Entries
	}
	if len(trainSet) == 0 {
		return nil, fmt.Errorf("%s: no files in split %q (splits: %s)", corp.Source, corpus.Train, corp.SplitList())
	}
	vc, err := corpus.Open(src.ValData)
	if err != nil {
		return nil, &train.OptionError{Option: "ValData", After: ": " + err.Error(), Err: err}
	}
	s := &splits{corp: corp, train: trainSet, valid: vc.Entries, validName: vc.Source}
	if src.ValSplit != "" {
		if s.valid = vc.Split(src.ValSplit); len(s.valid) == 0 {
			return nil, noFiles(vc, src.ValSplit)
		}
		s.validName += ", split " + src.ValSplit
	}
	return s, nil
}

// noFiles is the error of a ValSplit that names no files of corp.
func noFiles(corp *corpus.Corpus, split string) error {
	return fmt.Errorf("%s: %w", corp.Source, &train.OptionError{Option: "ValSplit",
		After: fmt.Sprintf(" %q has no files (splits: %s)", split, corp.SplitList())})
}

// chooseSplits returns the training and validation entries of a corpus:
// split "train", and the split named by valSplit (or the first of
// ValSplitNames present). A corpus with no validation split gives up the
// training files that corpus.AssignSplit puts in its validation share.
//
// A Kaldi data directory is one split (data/train, data/dev are separate
// directories): all of it is training data, less the validation share
// held out by key hash.
func chooseSplits(corp *corpus.Corpus, valSplit string) (*splits, error) {
	s := &splits{corp: corp, train: corp.Split(corpus.Train)}
	if corp.Kaldi {
		if valSplit != "" {
			return nil, fmt.Errorf("%s: %w", corp.Source, &train.OptionError{
				Before: "a Kaldi data directory is a single split, so ", Option: "ValSplit", After: " does not apply to it"})
		}
		s.train = corp.Entries
	}
	if len(s.train) == 0 {
		return nil, fmt.Errorf("%s: no files in split %q (splits: %s)", corp.Source, corpus.Train, corp.SplitList())
	}
	if valSplit != "" {
		if s.valid = corp.Split(valSplit); len(s.valid) == 0 {
			return nil, noFiles(corp, valSplit)
		}
		s.validName = valSplit
		return s, nil
	}
	for _, name := range ValSplitNames {
		if v := corp.Split(name); len(v) > 0 {
			s.valid, s.validName = v, name
			return s, nil
		}
	}
	var kept, held []corpus.Entry
	for _, e := range s.train {
		if corpus.AssignSplit(e.Key) == corpus.Validation {
			held = append(held, e)
		} else {
			kept = append(kept, e)
		}
	}
	if len(kept) > 0 && len(held) > 0 {
		s.train, s.valid, s.validName = kept, held, "held out from train by key hash"
	}
	return s, nil
}

// bound applies Source.ValSamples (limit) to the validation files at the
// model's rate, recording the Bound when it left files out.
func (s *splits) bound(limit int64, rate int) *Bound {
	if limit <= 0 {
		return nil
	}
	kept := boundValidation(s.valid, limit, rate)
	if len(kept) == len(s.valid) {
		return nil
	}
	b := &Bound{Kept: len(kept), Of: len(s.valid), Limit: limit}
	s.valid = kept
	return b
}

// boundValidation keeps the files of valSet that a validation of at most
// limit samples (by their headers; files of unknown length count as one
// second) covers, chosen by the FNV-1a hash of their keys, so that the
// choice depends on the keys alone and adding files moves few others. It
// returns the kept files in corpus order.
func boundValidation(valSet []corpus.Entry, limit int64, rate int) []corpus.Entry {
	if limit <= 0 {
		return valSet
	}
	type item struct {
		h uint64
		i int
	}
	order := make([]item, len(valSet))
	for i, e := range valSet {
		h := fnv.New64a()
		h.Write([]byte(e.Key))
		order[i] = item{h.Sum64(), i}
	}
	slices.SortFunc(order, func(a, b item) int { return cmp.Compare(a.h, b.h) })
	var total int64
	keep := make([]bool, len(valSet))
	for _, it := range order {
		if total >= limit {
			break
		}
		n := int64(valSet[it.i].Info.Frames)
		if r := valSet[it.i].Info.SampleRate; r > 0 && rate > 0 && r != rate {
			n = n * int64(rate) / int64(r)
		}
		if n <= 0 {
			n = int64(rate)
		}
		total += n
		keep[it.i] = true
	}
	var out []corpus.Entry
	for i, e := range valSet {
		if keep[i] {
			out = append(out, e)
		}
	}
	return out
}

// CommonRate returns the most frequent sample rate of entries (the lowest
// on a tie): the model rate of a new run unless one is given. Entries of
// unknown rate (a pipe of a Kaldi directory, known only once decoded) do
// not count; it returns 0 when none is known.
func CommonRate(entries []corpus.Entry) int {
	n := map[int]int{}
	best := 0
	for _, e := range entries {
		r := e.Info.SampleRate
		if r == 0 {
			continue
		}
		n[r]++
		if best == 0 || n[r] > n[best] || n[r] == n[best] && r < best {
			best = r
		}
	}
	return best
}

// trainKey identifies a training set by its files' keys and lengths (the
// train.Data key a resumed run must match).
func trainKey(entries []corpus.Entry, ds train.Dataset) string {
	h := fnv.New64a()
	for i, e := range entries {
		fmt.Fprintf(h, "%s\x00%d\x00", e.Key, ds.Len(i))
	}
	return fmt.Sprintf("%016x", h.Sum64())
}
