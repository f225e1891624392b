package main

import (
	"errors"
	"fmt"

	"github.com/nextsample/nextsample/audio/humanize"
	"github.com/nextsample/nextsample/causalconv/modelfile"
)

// The speaker of a conditioned model: every command reads the model's
// table with (*modelfile.File).Speakers and chooses rows with
// modelfile.LookupSpeakers (launch.SpeakerRows for a corpus's files),
// under the policy of its --speaker flag; what is here only says it in
// the flag's words.

// speakerFlagError says what is wrong with --speaker flag, as given, for
// the model in path, whose speaker table is table.
func speakerFlagError(err error, flag, path string, table []string) error {
	var unknown *modelfile.UnknownSpeakerError
	var count *modelfile.SpeakerCountError
	switch {
	case errors.Is(err, modelfile.ErrNotConditioned):
		return fmt.Errorf("--speaker %s: %s is not conditioned on speakers", flag, path)
	case errors.As(err, &unknown):
		return fmt.Errorf("--speaker %s is not one of the %d speakers of %s: %s", unknown.Name, len(table), path, humanize.FirstFew(table, 20))
	case errors.As(err, &count):
		return fmt.Errorf("--speaker names %d speakers for --count %d: give one, or one per continuation", count.Given, count.Items)
	}
	return err
}
