package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	var got []fileInfo
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var fi fileInfo
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
	var got []fileInfo
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var fi fileInfo
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
