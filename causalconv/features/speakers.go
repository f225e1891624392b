package features

import (
	"fmt"

	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/causalconv/modelfile"
)

// MissingSpeakersError is ChooseSpeakers' error when files have no
// speaker the model knows and no speaker was given for them.
type MissingSpeakersError struct {
	// Files names the files left without a speaker (corpus.Entry.Name).
	Files []string
	// Speakers are their own speakers, once each, "(none: NAME)" for a
	// file without one (modelfile.SpeakerRows.Unknown).
	Speakers []string
	// Table is the model's speaker table.
	Table []string
}

func (e *MissingSpeakersError) Error() string {
	return fmt.Sprintf("the model is conditioned on speakers, and %d files have no speaker it knows", len(e.Files))
}

// ChooseSpeakers returns, for the learned features of a speaker-conditioned
// model whose speaker table is table, each entry's row of it (the rows
// RunOptions.Speakers takes): the entry's own speaker where the table has
// it, else given ("" for none). An entry left with neither is refused
// with a *MissingSpeakersError; a given speaker the table lacks with a
// *modelfile.UnknownSpeakerError. The choice is recorded in the sidecar
// (features.json) and the description. For an unconditioned model (table
// nil) the rows are nil, and a given speaker is refused with
// modelfile.ErrNotConditioned.
func (r *Recipe) ChooseSpeakers(table []string, entries []corpus.Entry, given string) ([]int, error) {
	own := make([]string, len(entries))
	for i, e := range entries {
		own[i] = e.Speaker
	}
	p := modelfile.SpeakerPolicy{Own: true}
	if given != "" {
		p.Given = []string{given}
	}
	rows, err := modelfile.LookupSpeakers(table, own, p)
	if err != nil || table == nil {
		return nil, err
	}
	if len(rows.Missing) > 0 {
		e := &MissingSpeakersError{Table: table, Speakers: rows.Unknown(own, func(i int) string { return entries[i].Name() })}
		for _, i := range rows.Missing {
			e.Files = append(e.Files, entries[i].Name())
		}
		return nil, e
	}
	note := fmt.Sprintf("each file's own speaker (%d files)", rows.Own)
	if rows.Own < len(entries) {
		note += fmt.Sprintf(", %s for the %d others", given, len(entries)-rows.Own)
	}
	r.Sidecar.Speakers = note
	r.Description += "; speakers: " + note
	return rows.Rows, nil
}
