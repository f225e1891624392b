package launch

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/nextsample/nextsample/audio/corpus"
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
		return nil, fmt.Errorf("%d training files have no speaker (a manifest's speaker column, a Kaldi directory's utt2spk): %s", len(missing), firstFew(missing, 5))
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

// SpeakerRows returns each entry's row in table (-1 when its speaker is
// not there) and the distinct speakers not found, in the order met (an
// entry without a speaker counts as "(none: NAME)").
func SpeakerRows(entries []corpus.Entry, table []string) (rows []int, unknown []string) {
	row := make(map[string]int, len(table))
	for i, s := range table {
		row[s] = i
	}
	rows = make([]int, len(entries))
	seen := map[string]bool{}
	for i, e := range entries {
		r, ok := row[e.Speaker]
		if !ok {
			r = -1
			name := e.Speaker
			if name == "" {
				name = "(none: " + e.Name() + ")"
			}
			if !seen[name] {
				seen[name] = true
				unknown = append(unknown, name)
			}
		}
		rows[i] = r
	}
	return rows, unknown
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
	var unknown []string
	if trainRows, unknown = SpeakerRows(trainSet, table); len(unknown) > 0 {
		return nil, nil, LeftOut{}, fmt.Errorf("the model's speaker table (%d speakers) does not hold the speakers of these training files: %s", len(table), strings.Join(unknown, ", "))
	}
	validRows, unknown = SpeakerRows(*valid, table)
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

// firstFew joins the first n of names, saying how many more there are.
func firstFew(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}
