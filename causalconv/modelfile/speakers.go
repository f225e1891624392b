package modelfile

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nextsample/nextsample/causalconv"
)

// Speakers returns the speaker table of a conditioned model from its
// file's KeySpeakers entry, checked against its config: one distinct,
// non-empty name per row of gc_embedding.weight. It is nil for an
// unconditioned model.
func Speakers(meta map[string]string, c causalconv.Config) ([]string, error) {
	n := c.Speakers()
	raw, ok := meta[KeySpeakers]
	if n == 0 {
		return nil, nil
	}
	if !ok {
		return nil, fmt.Errorf("the model is conditioned on %d speakers but its metadata has no %q list", n, KeySpeakers)
	}
	var names []string
	if err := json.Unmarshal([]byte(raw), &names); err != nil {
		return nil, fmt.Errorf("metadata %q: %v", KeySpeakers, err)
	}
	if len(names) != n {
		return nil, fmt.Errorf("metadata %q names %d speakers, the model's table has %d", KeySpeakers, len(names), n)
	}
	seen := map[string]bool{}
	for _, s := range names {
		if s == "" || seen[s] {
			return nil, fmt.Errorf("metadata %q: empty or repeated speaker %q", KeySpeakers, s)
		}
		seen[s] = true
	}
	return names, nil
}

// Speakers returns the speaker table of the file's model (see the
// function Speakers), its errors naming the file.
func (f *File) Speakers() ([]string, error) {
	table, err := Speakers(f.Metadata, f.Model.Config)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	return table, nil
}

// DescribeSpeakers reads a file's speakers for a report, leniently where
// Speakers is strict: names are the KeySpeakers entry's (nil without
// one), count is the size of the model's speaker table (else the number
// of names), and note says where the two disagree ("" where they agree).
// Only an entry that is not a list of names is an error.
func DescribeSpeakers(meta map[string]string, c causalconv.Config) (names []string, count int, note string, err error) {
	if raw, ok := meta[KeySpeakers]; ok {
		if err := json.Unmarshal([]byte(raw), &names); err != nil || names == nil {
			return nil, 0, "", fmt.Errorf("metadata %q is not a JSON list of speaker names", KeySpeakers)
		}
		count = len(names)
	}
	switch n := c.Speakers(); {
	case n > 0 && names == nil:
		count, note = n, fmt.Sprintf("the model is conditioned on %d speakers, but the metadata has no %q list naming them", n, KeySpeakers)
	case n > 0 && n != len(names):
		count, note = n, fmt.Sprintf("the model's speaker table has %d entries, but the metadata names %d", n, len(names))
	case n == 0 && names != nil:
		note = "the metadata names speakers, but the model has no global_condition: it is not conditioned on them"
	}
	return names, count, note, nil
}

// SpeakerPolicy says how LookupSpeakers chooses each item's row of a
// speaker table. The items are the files of a corpus, each perhaps with a
// speaker of its own, or generated streams, which have none.
type SpeakerPolicy struct {
	// Given are the speakers a user named: none, one for every item, or
	// one per item.
	Given []string
	// Own makes an item's own speaker win where the table has it: Given
	// then covers only the other items. Without Own, own speakers are
	// ignored and every item gets the given speaker.
	Own bool
}

// SpeakerRows is what LookupSpeakers chose.
type SpeakerRows struct {
	// Rows holds each item's row of the table, -1 for an item left without
	// one; nil for an unconditioned model.
	Rows []int
	// Own counts the items that got their own speaker.
	Own int
	// Missing lists the items left without a row, in order: an item
	// whose own speaker the table lacks (or that has none) when no
	// speaker was given, or with Own unset, every item.
	Missing []int
}

// Unknown lists, in item order and once each, the own speakers of the
// Missing items; an item without a speaker is listed as "(none: NAME)",
// NAME being name(i).
func (r SpeakerRows) Unknown(own []string, name func(i int) string) []string {
	var out []string
	seen := map[string]bool{}
	for _, i := range r.Missing {
		s := own[i]
		if s == "" {
			s = "(none: " + name(i) + ")"
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// ErrNotConditioned is LookupSpeakers' error when speakers are given for
// an unconditioned model.
var ErrNotConditioned = errors.New("the model is not conditioned on speakers")

// UnknownSpeakerError is LookupSpeakers' error for a given speaker the
// table does not hold.
type UnknownSpeakerError struct {
	Name  string
	Table []string
}

func (e *UnknownSpeakerError) Error() string {
	return fmt.Sprintf("speaker %s is not one of the model's %d speakers", e.Name, len(e.Table))
}

// SpeakerCountError is LookupSpeakers' error when neither one speaker nor
// one per item is given.
type SpeakerCountError struct {
	Given, Items int
}

func (e *SpeakerCountError) Error() string {
	return fmt.Sprintf("%d speakers given for %d items: give one, or one per item", e.Given, e.Items)
}

// LookupSpeakers chooses each item's row of table (a model's speaker
// table, nil for an unconditioned model) by policy p; own holds the
// items' own speakers ("" for none), one per item. Every given speaker
// must be in the table (else an *UnknownSpeakerError), and there must be
// one or one per item (else a *SpeakerCountError); an unconditioned model
// takes none (ErrNotConditioned). Items left without a row are not an
// error: the caller decides (refuse them, leave them out, ask for a
// speaker) and SpeakerRows lists them.
func LookupSpeakers(table []string, own []string, p SpeakerPolicy) (SpeakerRows, error) {
	if table == nil {
		if len(p.Given) > 0 {
			return SpeakerRows{}, ErrNotConditioned
		}
		return SpeakerRows{}, nil
	}
	if g := len(p.Given); g > 1 && g != len(own) {
		return SpeakerRows{}, &SpeakerCountError{Given: g, Items: len(own)}
	}
	row := make(map[string]int, len(table))
	for i, s := range table {
		row[s] = i
	}
	given := make([]int, len(p.Given))
	for i, s := range p.Given {
		r, ok := row[s]
		if !ok {
			return SpeakerRows{}, &UnknownSpeakerError{Name: s, Table: table}
		}
		given[i] = r
	}
	out := SpeakerRows{Rows: make([]int, len(own))}
	for i, s := range own {
		if r, ok := row[s]; ok && p.Own {
			out.Rows[i] = r
			out.Own++
			continue
		}
		switch len(given) {
		case 0:
			out.Rows[i] = -1
			out.Missing = append(out.Missing, i)
		case 1:
			out.Rows[i] = given[0]
		default:
			out.Rows[i] = given[i]
		}
	}
	return out, nil
}
