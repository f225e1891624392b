package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/corpus"
)

// infoGolden is audio/testdata/golden.json: what sox says about files
// written by sox, ffmpeg and espeak-ng, and the malformed ones.
type infoGolden struct {
	Valid []struct {
		Name       string  `json:"name"`
		Format     string  `json:"format"`
		Bits       int     `json:"bits"`
		Channels   int     `json:"channels"`
		SampleRate int     `json:"sample_rate"`
		Frames     int64   `json:"frames"`
		Peak       float64 `json:"peak"`
		RMS        float64 `json:"rms"`
		DC         float64 `json:"dc"`
	} `json:"valid"`
	Bad []struct {
		Name   string `json:"name"`
		Phrase string `json:"phrase"`
	} `json:"bad"`
}

const goldenDir = "../../audio/testdata"

func loadInfoGolden(t *testing.T) infoGolden {
	b, err := os.ReadFile(filepath.Join(goldenDir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g infoGolden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func runCLI(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"nextsample"}, args...), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestInfoMatchesSox: every valid golden file, good and bad ones mixed on
// one command line, reported as sox reports them; every bad one gets
// exactly one line on stderr naming it, and the exit status is 1.
func TestInfoMatchesSox(t *testing.T) {
	g := loadInfoGolden(t)
	args := []string{"info", "--json"}
	for i, v := range g.Valid {
		args = append(args, filepath.Join(goldenDir, "wav", v.Name))
		if i < len(g.Bad) {
			args = append(args, filepath.Join(goldenDir, "wav", g.Bad[i].Name))
		}
	}
	for _, b := range g.Bad[min(len(g.Valid), len(g.Bad)):] {
		args = append(args, filepath.Join(goldenDir, "wav", b.Name))
	}
	code, stdout, stderr := runCLI("", args...)
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	var got []audio.FileSummary
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var fi audio.FileSummary
		if err := json.Unmarshal(sc.Bytes(), &fi); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, fi)
	}
	if len(got) != len(g.Valid) {
		t.Fatalf("%d JSON lines for %d valid files", len(got), len(g.Valid))
	}
	for i, v := range g.Valid {
		fi := got[i]
		if filepath.Base(fi.Path) != v.Name || fi.Format != v.Format || fi.Bits != v.Bits || fi.Channels != v.Channels ||
			fi.SampleRate != v.SampleRate || fi.Frames != v.Frames ||
			math.Abs(fi.DurationS-float64(v.Frames)/float64(v.SampleRate)) > 1e-9 ||
			math.Abs(fi.Peak-v.Peak) > 1e-4 || math.Abs(fi.RMS-v.RMS) > 1e-4 || math.Abs(fi.DC-v.DC) > 1e-4 {
			t.Errorf("%s: info %+v, sox %+v", v.Name, fi, v)
		}
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if len(lines) != len(g.Bad) {
		t.Fatalf("%d error lines for %d bad files:\n%s", len(lines), len(g.Bad), stderr)
	}
	for i, b := range g.Bad {
		prefix := "nextsample: " + filepath.Join(goldenDir, "wav", b.Name) + ": "
		if !strings.HasPrefix(lines[i], prefix) || !strings.Contains(lines[i], b.Phrase) || strings.Count(lines[i], b.Name) != 1 {
			t.Errorf("error line %q, want %q... saying %q", lines[i], prefix, b.Phrase)
		}
	}
}

func TestInfoStdinAndText(t *testing.T) {
	wav, err := os.ReadFile(filepath.Join(goldenDir, "wav", "sox_pipe_s16.wav"))
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(string(wav), "info", "-")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{"File     : -\n", "Format   : 16-bit PCM, 1 channel, 8000 Hz\n", "Length   : 2000 frames, 0.250 s (streamed", "Peak     : 0.684998 (-3.3 dBFS)\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	code, _, stderr = runCLI("this is not a wav file", "info", "-")
	if code != 1 || stderr != "nextsample: stdin: not a WAV, FLAC or NIST SPHERE file (it starts with \"this\", not RIFF/WAVE, fLaC or NIST_1A)\n" {
		t.Errorf("bad stdin: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runCLI("", "info")
	if code != 1 || !strings.Contains(stderr, "no files given") {
		t.Errorf("no arguments: exit %d, stderr %q", code, stderr)
	}
}

// flacSphereGolden is audio/testdata/flac_sphere.json: FLAC and SPHERE
// files made by flac and sox, with what sox --i and sox stat say.
type flacSphereGolden struct {
	Valid []struct {
		Name       string  `json:"name"`
		Container  string  `json:"container"`
		Format     string  `json:"format"`
		Bits       int     `json:"bits"`
		Channels   int     `json:"channels"`
		SampleRate int     `json:"sample_rate"`
		Frames     int64   `json:"frames"`
		Peak       float64 `json:"peak"`
		RMS        float64 `json:"rms"`
		DC         float64 `json:"dc"`
	} `json:"valid"`
	Bad []struct {
		Name   string `json:"name"`
		Phrase string `json:"phrase"`
	} `json:"bad"`
}

func flacSpherePath(name string) string {
	if strings.HasSuffix(name, ".flac") {
		return filepath.Join(goldenDir, "flac", name)
	}
	return filepath.Join(goldenDir, "sphere", name)
}

// TestInfoFLACSphereMatchesSox: info --json reports FLAC and SPHERE files
// as sox --i and sox stat do (frames, rate, channels, peak, RMS and DC of
// the channels averaged), and a malformed one gets one line on stderr
// naming it, with exit status 1, while the others are still described.
func TestInfoFLACSphereMatchesSox(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(goldenDir, "flac_sphere.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g flacSphereGolden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	args := []string{"info", "--json"}
	for _, v := range g.Valid {
		args = append(args, flacSpherePath(v.Name))
	}
	for _, b := range g.Bad {
		args = append(args, flacSpherePath(b.Name))
	}
	code, stdout, stderr := runCLI("", args...)
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	var got []audio.FileSummary
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var fi audio.FileSummary
		if err := json.Unmarshal(sc.Bytes(), &fi); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, fi)
	}
	if len(got) != len(g.Valid) {
		t.Fatalf("%d JSON lines for %d valid files", len(got), len(g.Valid))
	}
	for i, v := range g.Valid {
		fi := got[i]
		if filepath.Base(fi.Path) != v.Name || fi.Container != v.Container || fi.Format != v.Format || fi.Bits != v.Bits ||
			fi.Channels != v.Channels || fi.SampleRate != v.SampleRate || fi.Frames != v.Frames ||
			math.Abs(fi.DurationS-float64(v.Frames)/float64(v.SampleRate)) > 1e-9 ||
			math.Abs(fi.Peak-v.Peak) > 1e-4 || math.Abs(fi.RMS-v.RMS) > 1e-4 || math.Abs(fi.DC-v.DC) > 1e-4 {
			t.Errorf("%s: info %+v, sox %+v", v.Name, fi, v)
		}
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if len(lines) != len(g.Bad) {
		t.Fatalf("%d error lines for %d bad files:\n%s", len(lines), len(g.Bad), stderr)
	}
	for i, b := range g.Bad {
		prefix := "nextsample: " + flacSpherePath(b.Name) + ": "
		if !strings.HasPrefix(lines[i], prefix) || !strings.Contains(lines[i], b.Phrase) {
			t.Errorf("error line %q, want %q... saying %q", lines[i], prefix, b.Phrase)
		}
	}
}

// TestInfoFLACSphereText: the text report names the encoding as sox does
// ("16-bit FLAC", "8-bit μ-law"), and FLAC and SPHERE on standard input
// are recognized by their bytes.
func TestInfoFLACSphereText(t *testing.T) {
	cases := []struct {
		name  string
		stdin bool
		want  []string
	}{
		{"speech_s16_mono_l5.flac", false, []string{"Format   : 16-bit FLAC, 1 channel, 8000 Hz\n", "Length   : 2384 frames, 0.298 s\n", "Peak     : 0.315979 (-10.0 dBFS)\n"}},
		{"s16_stereo_16k_l8.flac", true, []string{"File     : -\n", "Format   : 16-bit FLAC, 2 channels, 16000 Hz\n"}},
		{"stream_no_total.flac", true, []string{"Length   : 2384 frames, 0.298 s (streamed: STREAMINFO has no sample count"}},
		{"sox_s16be_stereo.sph", true, []string{"Format   : 16-bit PCM, NIST SPHERE, 2 channels, 8000 Hz\n"}},
		{"sox_ulaw.sph", false, []string{"Format   : 8-bit μ-law, NIST SPHERE, 1 channel, 8000 Hz\n"}},
		{"alaw.sph", false, []string{"Format   : 8-bit A-law, NIST SPHERE, 1 channel, 8000 Hz\n"}},
		{"SA1.WAV", false, []string{"Format   : 16-bit PCM, NIST SPHERE, 1 channel, 16000 Hz\n", "Length   : 4768 frames, 0.298 s\n"}},
	}
	for _, c := range cases {
		p := flacSpherePath(c.name)
		var code int
		var stdout, stderr string
		if c.stdin {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr = runCLI(string(b), "info", "-")
		} else {
			code, stdout, stderr = runCLI("", "info", p)
		}
		if code != 0 || stderr != "" {
			t.Fatalf("%s: exit %d, stderr %q", c.name, code, stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("%s: output lacks %q:\n%s", c.name, w, stdout)
			}
		}
	}
	b, err := os.ReadFile(flacSpherePath("bad_shorten.sph"))
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(string(b), "info", "-")
	if code != 1 || !strings.HasPrefix(stderr, "nextsample: stdin: NIST SPHERE with shorten compression") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("shorten on stdin: exit %d, stderr %q", code, stderr)
	}
}

// writeTone writes a 16-bit mono WAV of frames samples at rate Hz.
func writeTone(t *testing.T, path string, rate, frames int) {
	t.Helper()
	s := make([]float32, frames)
	for i := range s {
		s[i] = float32(0.3 * math.Sin(float64(i)*0.05))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := audio.WriteFile(path, s, rate, audio.PCM16); err != nil {
		t.Fatal(err)
	}
}

// writeFiles writes name → content below dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// corpusJSON runs info --json on args and decodes the corpus lines
// (those with a kind), failing on any other output or a non-zero exit.
func corpusJSON(t *testing.T, args ...string) []corpus.Summary {
	t.Helper()
	code, stdout, stderr := runCLI("", append([]string{"info", "--json"}, args...)...)
	if code != 0 || stderr != "" {
		t.Fatalf("info --json %v: exit %d, stderr %q", args, code, stderr)
	}
	var out []corpus.Summary
	for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		var ci corpus.Summary
		if err := json.Unmarshal([]byte(line), &ci); err != nil || ci.Kind == "" {
			t.Fatalf("line %q: not a corpus object (%v)", line, err)
		}
		out = append(out, ci)
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// checkDurations compares the total and the min/median/max.
func checkDurations(t *testing.T, ci corpus.Summary, seconds, minS, medianS, maxS float64) {
	t.Helper()
	if !near(ci.Seconds, seconds) || ci.MinS == nil || ci.MedianS == nil || ci.MaxS == nil ||
		!near(*ci.MinS, minS) || !near(*ci.MedianS, medianS) || !near(*ci.MaxS, maxS) {
		got := []any{ci.Seconds, ci.MinS, ci.MedianS, ci.MaxS}
		if ci.MinS != nil && ci.MedianS != nil && ci.MaxS != nil {
			got = []any{ci.Seconds, *ci.MinS, *ci.MedianS, *ci.MaxS}
		}
		t.Errorf("seconds, min, median, max = %v, want %v", got, []float64{seconds, minS, medianS, maxS})
	}
}

// TestInfoKaldiDir: a Kaldi data directory whose wav.scp mixes a WAV
// file, a FLAC file, a SPHERE file and two commands, cut by segments,
// with utt2spk and text, is counted exactly from the headers; the pipe
// utterance whose segment runs to the end has an unknown length and is
// left out of the durations, the one with an end is in them.
func TestInfoKaldiDir(t *testing.T) {
	dir := t.TempDir()
	rec1 := filepath.Join(dir, "rec1.wav")
	writeTone(t, rec1, 8000, 16000)                                    // 2 s
	flac, _ := filepath.Abs(flacSpherePath("speech_s16_mono_l5.flac")) // 2384 frames at 8000 Hz
	sph, _ := filepath.Abs(flacSpherePath("sox_ulaw.sph"))             // 2384 frames at 8000 Hz
	kd := filepath.Join(dir, "data", "train")
	os.MkdirAll(kd, 0o755)
	writeFiles(t, kd, map[string]string{
		"wav.scp": "rec1 " + rec1 + "\n" +
			"rec2 " + flac + "\n" +
			"rec3 " + sph + "\n" +
			"rec4 cat " + rec1 + " |\n" +
			"rec5 cat " + rec1 + " " + rec1 + " |\n",
		"segments": "rec1-a rec1 0.00 0.50\n" +
			"rec1-b rec1 0.50 -1\n" +
			"rec2-a rec2 0.10 0.20\n" +
			"rec3-a rec3 0 -1\n" +
			"rec4-a rec4 0.25 1.00\n" +
			"rec5-a rec5 0.50 -1\n",
		"utt2spk": "rec1-a alice\nrec1-b alice\nrec2-a bob\nrec4-a carol\n",
		"text":    "rec1-a HELLO WORLD\nrec2-a ONE\n",
		"spk2utt": "alice rec1-a rec1-b\nbob rec2-a\ncarol rec4-a\n",
	})
	got := corpusJSON(t, kd)
	if len(got) != 1 {
		t.Fatalf("%d objects", len(got))
	}
	ci := got[0]
	want := corpus.Summary{Kind: "kaldi", Path: kd, Utterances: 6, Recordings: 5, Speakers: 3, Labelled: 2,
		Splits: map[string]int{"train": 6}, UnknownLength: 1,
		SampleRates: map[string]int{"8000": 4, "unknown": 2},
		Channels:    map[string]int{"1": 4, "unknown": 2},
		Containers:  map[string]int{"wav/pcm": 2, "flac/pcm": 1, "sphere/ulaw": 1, "pipe": 2}}
	if ci.Kind != want.Kind || ci.Path != want.Path || ci.Utterances != want.Utterances || ci.Recordings != want.Recordings ||
		ci.Speakers != want.Speakers || ci.Labelled != want.Labelled || ci.UnknownLength != want.UnknownLength || ci.SplitsAssigned != 0 ||
		!maps.Equal(ci.Splits, want.Splits) || !maps.Equal(ci.SampleRates, want.SampleRates) ||
		!maps.Equal(ci.Channels, want.Channels) || !maps.Equal(ci.Containers, want.Containers) {
		t.Errorf("got  %+v\nwant %+v", ci, want)
	}
	// rec1-a 0.5 s, rec1-b 1.5 s, rec2-a 0.1 s, rec3-a 0.298 s, rec4-a 0.75 s (from its times).
	checkDurations(t, ci, 0.5+1.5+0.1+0.298+0.75, 0.1, 0.5, 1.5)

	code, stdout, stderr := runCLI("", "info", kd)
	if code != 0 || stderr != "" {
		t.Fatalf("text: exit %d, stderr %q", code, stderr)
	}
	for _, w := range []string{
		"Corpus   : " + kd + " (Kaldi data directory)\n",
		"Contents : 6 utterances from 5 recordings, 3 speakers, 2 labelled\n",
		"Splits   : train 6\n",
		"Duration : 3.148 s; per utterance min 0.100 s, median 0.500 s, max 1.500 s\n",
		"Unknown  : 1 utterance of wav.scp commands without a segment end",
		"Rates    : 8000 Hz (4), unknown (2)\n",
		"Channels : 1 channel (4), unknown (2)\n",
		"Encoding : pipe (2), wav/pcm (2), flac/pcm (1), sphere/ulaw (1)\n",
	} {
		if !strings.Contains(stdout, w) {
			t.Errorf("text lacks %q:\n%s", w, stdout)
		}
	}
}

// TestInfoKaldiPipeWithoutSegments: without a segments file a command's
// recording is one utterance of unknown length: counted apart, never
// guessed as 0 s; with only such utterances the durations are null.
func TestInfoKaldiPipeWithoutSegments(t *testing.T) {
	dir := t.TempDir()
	wav := filepath.Join(dir, "a.wav")
	writeTone(t, wav, 16000, 8000) // 0.5 s
	kd := filepath.Join(dir, "dev")
	os.MkdirAll(kd, 0o755)
	writeFiles(t, kd, map[string]string{"wav.scp": "a " + wav + "\nb sox " + wav + " -t wav - |\n"})
	ci := corpusJSON(t, kd)[0]
	if ci.Utterances != 2 || ci.Recordings != 2 || ci.UnknownLength != 1 || !maps.Equal(ci.Splits, map[string]int{"dev": 2}) ||
		!maps.Equal(ci.SampleRates, map[string]int{"16000": 1, "unknown": 1}) || !maps.Equal(ci.Containers, map[string]int{"wav/pcm": 1, "pipe": 1}) {
		t.Errorf("%+v", ci)
	}
	checkDurations(t, ci, 0.5, 0.5, 0.5, 0.5)
	_, stdout, _ := runCLI("", "info", kd)
	if !strings.Contains(stdout, "Unknown  : 1 utterance of wav.scp commands") {
		t.Errorf("text does not state the unknown length:\n%s", stdout)
	}

	writeFiles(t, kd, map[string]string{"wav.scp": "b cat " + wav + " |\n"})
	code, stdout, _ := runCLI("", "info", "--json", kd)
	if code != 0 || !strings.Contains(stdout, `"seconds":0,"unknown_length":1,"min_s":null,"median_s":null,"max_s":null`) {
		t.Errorf("only a pipe: exit %d, %s", code, stdout)
	}
	_, stdout, _ = runCLI("", "info", kd)
	if !strings.Contains(stdout, "Duration : unknown\n") {
		t.Errorf("only a pipe, text:\n%s", stdout)
	}
}

// TestInfoManifest: a manifest with speakers, labels and splits (one
// left empty, so assigned), mixing sample rates and channel counts.
func TestInfoManifest(t *testing.T) {
	dir := t.TempDir()
	writeTone(t, filepath.Join(dir, "wav", "a.wav"), 8000, 2000)      // 0.25 s
	writeTone(t, filepath.Join(dir, "wav", "b.wav"), 16000, 16000)    // 1 s
	writeTone(t, filepath.Join(dir, "wav", "c.wav"), 16000, 4000)     // 0.25 s
	stereo, _ := filepath.Abs(flacSpherePath("sox_s16be_stereo.sph")) // 1600 frames, 2 channels, 8000 Hz
	man := filepath.Join(dir, "list.csv")
	writeFiles(t, dir, map[string]string{"list.csv": "path,speaker,label,split,gender\n" +
		"wav/a.wav,ann,yes,train,f\n" +
		"wav/b.wav,ann,,test,f\n" +
		"wav/c.wav,,no,,m\n" +
		stereo + ",bo,no,train,m\n"})
	ci := corpusJSON(t, man)[0]
	split := corpus.AssignSplit("wav/c")
	wantSplits := map[string]int{"train": 2, "test": 1}
	wantSplits[split]++
	if ci.Kind != "manifest" || ci.Path != man || ci.Utterances != 4 || ci.Recordings != 4 || ci.Speakers != 2 || ci.Labelled != 3 ||
		ci.UnknownLength != 0 || ci.SplitsAssigned != 1 || !maps.Equal(ci.Splits, wantSplits) ||
		!maps.Equal(ci.SampleRates, map[string]int{"8000": 2, "16000": 2}) ||
		!maps.Equal(ci.Channels, map[string]int{"1": 3, "2": 1}) ||
		!maps.Equal(ci.Containers, map[string]int{"wav/pcm": 3, "sphere/pcm": 1}) {
		t.Errorf("%+v (splits want %v)", ci, wantSplits)
	}
	checkDurations(t, ci, 0.25+1+0.25+0.2, 0.2, 0.25, 1)
}

// TestInfoFolderMixedWithFiles: a folder (hidden files and other
// extensions skipped), a file and a bad corpus in one call: the good ones
// are described in order, the bad one gets one line on stderr, exit 1.
func TestInfoFolderMixedWithFiles(t *testing.T) {
	dir := t.TempDir()
	folder := filepath.Join(dir, "clips")
	writeTone(t, filepath.Join(folder, "a.wav"), 8000, 4000)         // 0.5 s
	writeTone(t, filepath.Join(folder, "sub", "B.WAV"), 8000, 12000) // 1.5 s
	writeTone(t, filepath.Join(folder, ".hidden", "c.wav"), 8000, 800)
	writeFiles(t, folder, map[string]string{"notes.txt": "not audio"})
	file := filepath.Join(folder, "a.wav")
	bad := filepath.Join(dir, "bad")
	os.MkdirAll(bad, 0o755)
	writeFiles(t, bad, map[string]string{"wav.scp": "r1 " + file + "\nr2\n"})

	code, stdout, stderr := runCLI("", "info", "--json", folder, bad, file)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("stdout:\n%s", stdout)
	}
	var ci corpus.Summary
	var fi audio.FileSummary
	if err := json.Unmarshal([]byte(lines[0]), &ci); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &fi); err != nil || fi.Path != file || fi.Frames != 4000 {
		t.Errorf("file line %q (%v)", lines[1], err)
	}
	if ci.Kind != "folder" || ci.Path != folder || ci.Utterances != 2 || ci.Recordings != 2 || ci.Speakers != 0 || ci.Labelled != 0 ||
		ci.SplitsAssigned != 2 || ci.Splits[corpus.Train]+ci.Splits[corpus.Validation] != 2 ||
		!maps.Equal(ci.Containers, map[string]int{"wav/pcm": 2}) {
		t.Errorf("%+v", ci)
	}
	checkDurations(t, ci, 2, 0.5, 1, 1.5)
	prefix := "nextsample: " + filepath.Join(bad, "wav.scp") + ":2: "
	if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, prefix) {
		t.Errorf("stderr %q, want one line starting %q", stderr, prefix)
	}

	code, stdout, _ = runCLI("", "info", folder)
	if code != 0 || !strings.Contains(stdout, "Corpus   : "+folder+" (folder of audio files)\n") ||
		!strings.Contains(stdout, "Splits   : ") || !strings.Contains(stdout, "(assigned by key hash)\n") ||
		!strings.Contains(stdout, "Duration : 2.000 s; per utterance min 0.500 s, median 1.000 s, max 1.500 s\n") {
		t.Errorf("text: exit %d\n%s", code, stdout)
	}
}

// TestInfoCorpusErrors: a missing manifest and a manifest listing a bad
// file each give one line naming the corpus, exit 1.
func TestInfoCorpusErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.csv")
	code, _, stderr := runCLI("", "info", missing)
	if code != 1 || stderr != "nextsample: "+missing+": no such file or directory\n" {
		t.Errorf("missing manifest: exit %d, stderr %q", code, stderr)
	}
	writeFiles(t, dir, map[string]string{"m.csv": "path\nnot.wav\n", "not.wav": "hello"})
	code, _, stderr = runCLI("", "info", filepath.Join(dir, "m.csv"))
	want := "nextsample: " + filepath.Join(dir, "m.csv") + ": " + filepath.Join(dir, "not.wav") + ": "
	if code != 1 || !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("bad file in a manifest: exit %d, stderr %q, want %q...", code, stderr, want)
	}
}
