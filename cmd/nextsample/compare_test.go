package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/corpus"
	"github.com/nextsample/nextsample/audio/distance"
)

// compareSummary is the last line of compare --json.
func compareSummary(t *testing.T, stdout string) distance.Summary {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var s distance.Summary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
		t.Fatalf("%v: %q", err, stdout)
	}
	if len(lines) != s.NumPairs+1 {
		t.Fatalf("%d lines for %d pairs", len(lines), s.NumPairs)
	}
	return s
}

// TestCompareSelf: a recording against itself is 0 for both distances, in
// the table and in JSON.
func TestCompareSelf(t *testing.T) {
	f := "../../samples/fsdd/recordings/0_george_0.wav"
	code, out, errOut := runCLI("", "compare", "--json", f, f)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if s := compareSummary(t, out); s.NumPairs != 1 || s.MCD != 0 || s.LSD != 0 || s.Frames != 55 || s.Options.Alpha != 0.31 {
		t.Errorf("summary %+v", s)
	}
	code, out, errOut = runCLI("", "compare", f, f)
	if code != 0 || !strings.Contains(out, "0_george_0      55   0.000   0.000") {
		t.Errorf("exit %d, table:\n%s%s", code, out, errOut)
	}
}

// TestCompareMuLawFloor compares FSDD's test split with its 8-bit μ-law
// round trip (our encoder, written as 16-bit PCM): the floor a vocoder
// that outputs μ-law classes cannot go below. It also checks pairing by
// key between a manifest and a folder, and the refusals.
func TestCompareMuLawFloor(t *testing.T) {
	corp, err := corpus.Open("../../samples/fsdd/manifest.csv")
	if err != nil {
		t.Fatal(err)
	}
	test, err := corp.Select("test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mu := audio.MuLaw{Q: 256}
	for _, e := range test {
		clip, err := audio.ReadFile(e.Path, audio.DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		codes := make([]int32, len(clip.Samples))
		mu.Encode(clip.Samples, codes)
		y := make([]float32, len(codes))
		mu.Decode(codes, y)
		path := filepath.Join(dir, filepath.FromSlash(e.Key)+".wav")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := audio.WriteFile(path, y, clip.Info.SampleRate, audio.PCM16); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := runCLI("", "compare", "--json", "--split", "test", "../../samples/fsdd/manifest.csv", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	s := compareSummary(t, out)
	t.Logf("FSDD test (%d files, %d frames) vs its 8-bit μ-law round trip: MCD %.3f dB, LSD %.3f dB", s.NumPairs, s.Frames, s.MCD, s.LSD)
	if s.NumPairs != len(test) || !(s.MCD > 0.5 && s.MCD < 5) || !(s.LSD > 0.5 && s.LSD < 10) {
		t.Errorf("summary %+v", s)
	}

	// Without --split the train keys have no partner: one line, naming the flag.
	code, _, errOut = runCLI("", "compare", "../../samples/fsdd/manifest.csv", dir)
	if code == 0 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "200 keys only in ../../samples/fsdd/manifest.csv") || !strings.Contains(errOut, "--allow-unpaired") {
		t.Errorf("unpaired: exit %d, stderr %q", code, errOut)
	}
	code, out, errOut = runCLI("", "compare", "--json", "--allow-unpaired", "../../samples/fsdd/manifest.csv", dir)
	if code != 0 || compareSummary(t, out).NumPairs != len(test) || !strings.Contains(errOut, "skipped 200 keys only in") {
		t.Errorf("--allow-unpaired: exit %d, stderr %q", code, errOut)
	}
}

// TestCompareRefusals: a rate mismatch, a length mismatch and a file
// against a folder each give one line and exit status 1.
func TestCompareRefusals(t *testing.T) {
	f := "../../samples/fsdd/recordings/0_george_0.wav"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{f, "../../audio/distance/testdata/ref_16k.wav"}, "16000 Hz but the reference's is 8000 Hz"},
		{[]string{f, "../../samples/fsdd/recordings/0_george_1.wav"}, "--max-frame-diff"},
		{[]string{f, "../../samples/fsdd/recordings"}, "two files or two corpora"},
		{[]string{f}, "want REF and DEG"},
	} {
		code, _, errOut := runCLI("", append([]string{"compare"}, c.args...)...)
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if code != 1 || !strings.Contains(lines[len(lines)-1], c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, errOut, c.want)
		}
	}
}
