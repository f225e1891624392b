package launch

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/audio/humanize"
	"github.com/nextsample/nextsample/causalconv/modelfile"
)

// SpeakerTable returns the speaker table of a new speaker-conditioned
// model: the sorted distinct speakers of its training entries. It refuses
// entries without one.
func SpeakerTable(entries []corpus.Entry) ([]string, error) {
	seen := map[string]bool{}
	var missing []string
	for _, e := range entries {
		if e.Speaker == "" {
			missing = append(missing, e.Name())
			continue
		}
		seen[e.Speaker] = true
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%d training files have no speaker (a manifest's speaker column, a Kaldi directory's utt2spk): %s", len(missing), humanize.FirstFew(missing, 5))
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

// SpeakerRows chooses each entry's row of a model's speaker table (nil
// for an unconditioned model) by policy p: modelfile.LookupSpeakers of
// the entries' own speakers. unknown lists the speakers of the entries
// left without a row, once each in corpus order ("(none: NAME)" for an
// entry without a speaker), for a message.
func SpeakerRows(table []string, entries []corpus.Entry, p modelfile.SpeakerPolicy) (r modelfile.SpeakerRows, unknown []string, err error) {
	own := make([]string, len(entries))
	for i, e := range entries {
		own[i] = e.Speaker
	}
	if r, err = modelfile.LookupSpeakers(table, own, p); err != nil {
		return modelfile.SpeakerRows{}, nil, err
	}
	return r, r.Unknown(own, func(i int) string { return entries[i].Name() }), nil
}

// LeftOut is what a speaker-conditioned run left out of its validation
// set: Files of its Of files, whose Speakers the model does not know.
type LeftOut struct {
	Files, Of int
	Speakers  []string
}

// speakerRows returns the rows of the training and validation files in
// the table. A training file of an unknown speaker is an error; validation
// files of unknown speakers are left out of valid, since a conditioned
// model scores only speakers it knows.
func speakerRows(table []string, trainSet []corpus.Entry, valid *[]corpus.Entry) (trainRows, validRows []int, left LeftOut, err error) {
	own := modelfile.SpeakerPolicy{Own: true} // no speaker given: no error
	tr, unknown, _ := SpeakerRows(table, trainSet, own)
	if len(unknown) > 0 {
		return nil, nil, LeftOut{}, fmt.Errorf("the model's speaker table (%d speakers) does not hold the speakers of these training files: %s", len(table), strings.Join(unknown, ", "))
	}
	vr, unknown, _ := SpeakerRows(table, *valid, own)
	trainRows, validRows = tr.Rows, vr.Rows
	if len(unknown) == 0 {
		return trainRows, validRows, LeftOut{}, nil
	}
	var kept []corpus.Entry
	var ids []int
	for i, e := range *valid {
		if validRows[i] >= 0 {
			kept, ids = append(kept, e), append(ids, validRows[i])
		}
	}
	left = LeftOut{Files: len(*valid) - len(kept), Of: len(*valid), Speakers: unknown}
	*valid = kept
	return trainRows, ids, left, nil
}
