package main

import (
	"errors"
	"fmt"

	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/causalconv/modelfile"
)

// The speaker of a conditioned model: every command reads the model's
// table with modelfile.Speakers and chooses rows with
// modelfile.LookupSpeakers, under the policy of its --speaker flag; what
// is here only says it in the flag's words.

// modelSpeakers returns the speaker table of mf (nil for an
// unconditioned model), naming the file in an error.
func modelSpeakers(mf *modelfile.File) ([]string, error) {
	table, err := modelfile.Speakers(mf.Metadata, mf.Model.Config)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", mf.Path, err)
	}
	return table, nil
}

// entrySpeakers returns the speaker of each entry ("" for none), the own
// speakers modelfile.LookupSpeakers takes.
func entrySpeakers(entries []corpus.Entry) []string {
	own := make([]string, len(entries))
	for i, e := range entries {
		own[i] = e.Speaker
	}
	return own
}

// unknownSpeakers lists the speakers of the entries left without a row,
// once each, in corpus order ("(none: NAME)" for an entry without one).
func unknownSpeakers(entries []corpus.Entry, r modelfile.SpeakerRows) []string {
	return r.Unknown(entrySpeakers(entries), func(i int) string { return entries[i].Name() })
}

// speakerIDs returns each entry's row in table (-1 when its speaker is not
// there) and the distinct speakers not found.
func speakerIDs(entries []corpus.Entry, table []string) ([]int, []string) {
	r, _ := modelfile.LookupSpeakers(table, entrySpeakers(entries), modelfile.SpeakerPolicy{Own: true}) // no given speaker: no error
	return r.Rows, unknownSpeakers(entries, r)
}

// speakerFlagError says what is wrong with --speaker flag, as given, for
// the model in path, whose speaker table is table.
func speakerFlagError(err error, flag, path string, table []string) error {
	var unknown *modelfile.UnknownSpeakerError
	var count *modelfile.SpeakerCountError
	switch {
	case errors.Is(err, modelfile.ErrNotConditioned):
		return fmt.Errorf("--speaker %s: %s is not conditioned on speakers", flag, path)
	case errors.As(err, &unknown):
		return fmt.Errorf("--speaker %s is not one of the %d speakers of %s: %s", unknown.Name, len(table), path, firstFew(table, 20))
	case errors.As(err, &count):
		return fmt.Errorf("--speaker names %d speakers for --count %d: give one, or one per continuation", count.Given, count.Items)
	}
	return err
}
