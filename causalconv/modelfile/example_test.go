package modelfile_test

import (
	"fmt"

	"github.com/nextsample/nextsample/causalconv/modelfile"
)

// A conditioned model's speaker table (from Speakers) and a corpus of
// four files, two of speakers it knows: evaluating scores each file as
// its own speaker and leaves out the others; with a given speaker, as
// features does, they take that one.
func ExampleLookupSpeakers() {
	table := []string{"george", "jackson", "lucas"}
	own := []string{"lucas", "nicolas", "george", ""}
	files := []string{"a.wav", "b.wav", "c.wav", "d.wav"}

	r, _ := modelfile.LookupSpeakers(table, own, modelfile.SpeakerPolicy{Own: true})
	fmt.Println(r.Rows, "unknown:", r.Unknown(own, func(i int) string { return files[i] }))

	r, _ = modelfile.LookupSpeakers(table, own, modelfile.SpeakerPolicy{Own: true, Given: []string{"jackson"}})
	fmt.Println(r.Rows, "own:", r.Own)

	_, err := modelfile.LookupSpeakers(table, own, modelfile.SpeakerPolicy{Given: []string{"paul"}})
	fmt.Println(err)
	// Output:
	// [2 -1 0 -1] unknown: [nicolas (none: d.wav)]
	// [2 1 0 1] own: 2
	// speaker paul is not one of the model's 3 speakers
}
