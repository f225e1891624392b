package modelfile

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/causalconv"
)

func TestSpeakers(t *testing.T) {
	gc := tiny(2, true, causalconv.InputOneHot, 1)
	gc.GlobalCondition = &causalconv.GlobalCondition{Channels: 2, Cardinality: 3}
	plain := tiny(2, true, causalconv.InputOneHot, 1)
	named := map[string]string{KeySpeakers: `["a","b","c"]`}

	if table, err := Speakers(named, gc); err != nil || !slices.Equal(table, []string{"a", "b", "c"}) {
		t.Errorf("conditioned: %v, %v", table, err)
	}
	if table, err := Speakers(named, plain); err != nil || table != nil {
		t.Errorf("unconditioned: %v, %v", table, err)
	}
	for _, raw := range []string{`["a","b"]`, `["a","b","a"]`, `["a","","c"]`, `{"a":1}`} {
		if _, err := Speakers(map[string]string{KeySpeakers: raw}, gc); err == nil {
			t.Errorf("%s accepted for a table of 3", raw)
		}
	}
	if _, err := Speakers(nil, gc); err == nil {
		t.Error("a conditioned model without names accepted")
	}

	// DescribeSpeakers reports what Speakers refuses, with a note.
	for _, c := range []struct {
		meta  map[string]string
		cfg   causalconv.Config
		count int
		note  string
	}{
		{named, gc, 3, ""},
		{nil, gc, 3, "no \"speakers\" list"},
		{map[string]string{KeySpeakers: `["a"]`}, gc, 3, "has 3 entries, but the metadata names 1"},
		{named, plain, 3, "not conditioned"},
		{nil, plain, 0, ""},
	} {
		_, count, note, err := DescribeSpeakers(c.meta, c.cfg)
		if err != nil || count != c.count || (c.note == "") != (note == "") || !strings.Contains(note, c.note) {
			t.Errorf("%v: count %d, note %q, %v; want %d, %q", c.meta, count, note, err, c.count, c.note)
		}
	}
	if _, _, _, err := DescribeSpeakers(map[string]string{KeySpeakers: `{"a":1}`}, gc); err == nil {
		t.Error("a speakers entry that is not a list accepted")
	}
}

// TestLookupSpeakers: each policy the commands use.
func TestLookupSpeakers(t *testing.T) {
	table := []string{"a", "b", "c"}
	own := []string{"b", "x", "", "a"}
	name := func(i int) string { return []string{"f0", "f1", "f2", "f3"}[i] }
	cases := []struct {
		name    string
		p       SpeakerPolicy
		rows    []int
		own     int
		missing []int
	}{
		{"own (eval, train)", SpeakerPolicy{Own: true}, []int{1, -1, -1, 0}, 2, []int{1, 2}},
		{"given for all (eval --speaker)", SpeakerPolicy{Given: []string{"c"}}, []int{2, 2, 2, 2}, 0, nil},
		{"own else given (features --speaker)", SpeakerPolicy{Given: []string{"c"}, Own: true}, []int{1, 2, 2, 0}, 2, nil},
		{"one per item (generate)", SpeakerPolicy{Given: []string{"a", "b", "c", "a"}}, []int{0, 1, 2, 0}, 0, nil},
		{"none given (generate without --speaker)", SpeakerPolicy{}, []int{-1, -1, -1, -1}, 0, []int{0, 1, 2, 3}},
	}
	for _, c := range cases {
		r, err := LookupSpeakers(table, own, c.p)
		if err != nil || !slices.Equal(r.Rows, c.rows) || r.Own != c.own || !slices.Equal(r.Missing, c.missing) {
			t.Errorf("%s: %+v, %v; want rows %v, own %d, missing %v", c.name, r, err, c.rows, c.own, c.missing)
		}
	}
	r, _ := LookupSpeakers(table, own, SpeakerPolicy{Own: true})
	if u := r.Unknown(own, name); !slices.Equal(u, []string{"x", "(none: f2)"}) {
		t.Errorf("unknown %v", u)
	}

	var unknown *UnknownSpeakerError
	if _, err := LookupSpeakers(table, own, SpeakerPolicy{Given: []string{"z"}, Own: true}); !errors.As(err, &unknown) || unknown.Name != "z" {
		t.Errorf("an unknown given speaker: %v", err)
	}
	var count *SpeakerCountError
	if _, err := LookupSpeakers(table, own, SpeakerPolicy{Given: []string{"a", "b"}}); !errors.As(err, &count) || count.Given != 2 || count.Items != 4 {
		t.Errorf("two speakers for four items: %v", err)
	}
	if _, err := LookupSpeakers(nil, own, SpeakerPolicy{Given: []string{"a"}}); !errors.Is(err, ErrNotConditioned) {
		t.Errorf("a speaker for an unconditioned model: %v", err)
	}
	if r, err := LookupSpeakers(nil, own, SpeakerPolicy{Own: true}); err != nil || r.Rows != nil {
		t.Errorf("an unconditioned model: %+v, %v", r, err)
	}
}
