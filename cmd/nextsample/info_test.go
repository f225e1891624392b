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
	if code != 1 || stderr != "nextsample: stdin: not a WAV file (no RIFF/WAVE header)\n" {
		t.Errorf("bad stdin: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runCLI("", "info")
	if code != 1 || !strings.Contains(stderr, "no files given") {
		t.Errorf("no arguments: exit %d, stderr %q", code, stderr)
	}
}
