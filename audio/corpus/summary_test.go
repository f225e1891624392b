package corpus

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The text form of a Summary: every line, the histograms most frequent
// first (numeric keys in numeric order), splits by name.
func TestSummaryText(t *testing.T) {
	minS, medianS, maxS := 0.5, 2.0, 4000.0
	s := Summary{Kind: "kaldi", Path: "data/train", Utterances: 12, Recordings: 1, Speakers: 1, Labelled: 0,
		Splits: map[string]int{"train": 11, "dev": 1}, SplitsAssigned: 12, Seconds: 4100.25, UnknownLength: 1,
		MinS: &minS, MedianS: &medianS, MaxS: &maxS,
		SampleRates: map[string]int{"16000": 5, "8000": 5, "unknown": 2},
		Channels:    map[string]int{"1": 9, "2": 1, "unknown": 2},
		Containers:  map[string]int{"wav/pcm": 9, "flac/pcm": 1, "pipe": 2}}
	var b strings.Builder
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := "Corpus   : data/train (Kaldi data directory)\n" +
		"Contents : 12 utterances from 1 recording, 1 speaker, 0 labelled\n" +
		"Splits   : dev 1, train 11 (assigned by key hash)\n" +
		"Duration : 1 h 08 min (4100.250 s); per utterance min 0.500 s, median 2.000 s, max 4000.000 s\n" +
		"Unknown  : 1 utterance of wav.scp commands without a segment end, not in the duration (the commands are not run)\n" +
		"Rates    : 8000 Hz (5), 16000 Hz (5), unknown (2)\n" +
		"Channels : 1 channel (9), unknown (2), 2 channels (1)\n" +
		"Encoding : wav/pcm (9), pipe (2), flac/pcm (1)\n"
	if b.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", b.String(), want)
	}

	s = Summary{Kind: "folder", Path: "d", Splits: map[string]int{"train": 9, "validation": 1}, Utterances: 10, SplitsAssigned: 4}
	b.Reset()
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"Corpus   : d (folder of audio files)\n", "Splits   : train 9, validation 1 (4 assigned by key hash)\n", "Duration : unknown\n"} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("text lacks %q:\n%s", line, b.String())
		}
	}
}

// A manifest's Summary, from Open to JSON and text.
func TestManifestSummary(t *testing.T) {
	dir := t.TempDir()
	writeWAV(t, filepath.Join(dir, "a.wav"), 800, 8000)
	writeWAV(t, filepath.Join(dir, "b.wav"), 1600, 8000)
	manifest := filepath.Join(dir, "m.csv")
	if err := os.WriteFile(manifest, []byte("path,speaker,split\na.wav,x,train\nb.wav,y,test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Open(manifest)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Summary()
	js, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"kind":"manifest","path":"` + manifest + `","utterances":2,"recordings":2,"speakers":2,"labelled":0,"splits":{"test":1,"train":1},` +
		`"splits_assigned":0,"seconds":0.3,"unknown_length":0,"min_s":0.1,"median_s":0.15000000000000002,"max_s":0.2,` +
		`"sample_rates":{"8000":2},"channels":{"1":2},"containers":{"wav/pcm":2}}`
	if string(js) != want {
		t.Errorf("JSON %s\nwant %s", js, want)
	}
	var b strings.Builder
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "Corpus   : "+manifest+" (manifest)\nContents : 2 utterances from 2 recordings, 2 speakers, 0 labelled\n") {
		t.Errorf("text:\n%s", b.String())
	}
}

func TestValidationSplits(t *testing.T) {
	v := ValidationSplits()
	if strings.Join(v, ",") != "valid,validation,dev,test" {
		t.Errorf("ValidationSplits() = %q", v)
	}
	v[0] = "changed" // each call returns its own slice
	if ValidationSplits()[0] != "valid" {
		t.Error("ValidationSplits shares its slice")
	}
}
