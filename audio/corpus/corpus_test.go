package corpus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/audio"
)

// writeWAV writes a short 16-bit file of n samples at rate.
func writeWAV(t *testing.T, path string, n, rate int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i%50-25) / 100
	}
	if err := audio.WriteFile(path, x, rate, audio.PCM16); err != nil {
		t.Fatal(err)
	}
}

func keys(es []Entry) []string {
	var k []string
	for _, e := range es {
		k = append(k, e.Key)
	}
	return k
}

func TestOpenDirectory(t *testing.T) {
	dir := t.TempDir()
	writeWAV(t, filepath.Join(dir, "b", "two.wav"), 100, 8000)
	writeWAV(t, filepath.Join(dir, "a one.wav"), 200, 8000)
	writeWAV(t, filepath.Join(dir, "b", "c", "THREE.WAV"), 300, 16000)
	writeWAV(t, filepath.Join(dir, ".hidden", "x.wav"), 10, 8000)
	os.WriteFile(filepath.Join(dir, "._two.wav"), []byte("AppleDouble junk"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not audio"), 0o644)
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keys(c.Entries), []string{"a_one", "b/c/THREE", "b/two"}; !slices.Equal(got, want) {
		t.Fatalf("keys %q, want %q", got, want)
	}
	e := c.Entries[1]
	if e.Path != filepath.Join(dir, "b", "c", "THREE.WAV") || e.Info.Frames != 300 || e.Info.SampleRate != 16000 {
		t.Errorf("entry %+v", e)
	}
	if c.Assigned != 3 || c.Root != dir {
		t.Errorf("assigned %d, root %q", c.Assigned, c.Root)
	}
	for _, e := range c.Entries {
		if e.Split != AssignSplit(e.Key) {
			t.Errorf("%s: split %q", e.Key, e.Split)
		}
	}
	err = Check(c.Entries, audio.DefaultSettings())
	if err == nil || !strings.Contains(err.Error(), "THREE.WAV: sample rate is 16000 Hz but the model's is 8000 Hz") {
		t.Errorf("Check: %v", err)
	}
	s := audio.DefaultSettings()
	s.Resample = true
	if err := Check(c.Entries, s); err != nil {
		t.Errorf("Check with resampling: %v", err)
	}
}

func TestOpenManifest(t *testing.T) {
	dir := t.TempDir()
	writeWAV(t, filepath.Join(dir, "rec", "x.wav"), 100, 8000)
	writeWAV(t, filepath.Join(dir, "rec", "y.wav"), 120, 8000)
	abs := filepath.Join(t.TempDir(), "z.wav")
	writeWAV(t, abs, 140, 8000)
	manifest := filepath.Join(dir, "m.csv")
	text := "\ufeffpath, speaker,label,split,gender\n" +
		"rec/y.wav,ann,3,test,f\n" +
		"rec/x.wav,bob,4,,m\n" +
		abs + ",cid,5,train,m\n"
	if err := os.WriteFile(manifest, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Open(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Entries) != 3 || c.Root != dir || c.Assigned != 1 {
		t.Fatalf("%d entries, root %q, %d assigned", len(c.Entries), c.Root, c.Assigned)
	}
	x := c.Entries[0]
	if x.Key != "rec/x" || x.Speaker != "bob" || x.Label != "4" || x.Split != AssignSplit("rec/x") ||
		x.Extra["gender"] != "m" || len(x.Extra) != 1 || x.Info.Frames != 100 || x.Path != filepath.Join(dir, "rec", "x.wav") {
		t.Errorf("entry %+v", x)
	}
	if y := c.Entries[1]; y.Key != "rec/y" || y.Split != "test" {
		t.Errorf("entry %+v", y)
	}
	if got := c.Split("test"); len(got) != 1 || got[0].Key != "rec/y" {
		t.Errorf("Split(test) = %q", keys(got))
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	writeWAV(t, filepath.Join(dir, "ok.wav"), 100, 8000)
	os.WriteFile(filepath.Join(dir, "bad1.wav"), []byte("RIFF\x00\x00\x00\x00WAVE"), 0o644)
	os.WriteFile(filepath.Join(dir, "bad2.wav"), nil, 0o644)
	for _, c := range []struct{ name, manifest, want string }{
		{"missing path column", "file,speaker\nok.wav,a\n", "no path column"},
		{"empty", "", "empty manifest"},
		{"no rows", "path\n", "lists no files"},
		{"empty path", "path,speaker\n,a\n", "m.csv:2: empty path"},
		{"missing file", "path\nok.wav\nnope.wav\n", "nope.wav: no such file"},
		{"bad wav", "path\nbad2.wav\nok.wav\nbad1.wav\n", "bad1.wav: no fmt chunk (and 1 more bad files)"},
		{"duplicate key", "path\nok.wav\n./ok.wav\n", "have the same key \"ok\""},
		{"ragged", "path,split\nok.wav\n", "wrong number of fields"},
	} {
		m := filepath.Join(dir, "m.csv")
		os.WriteFile(m, []byte(c.manifest), 0o644)
		_, err := Open(m)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := Open(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no .wav, .flac or .sph files") {
		t.Errorf("empty directory: %v", err)
	}
	os.Remove(filepath.Join(dir, "m.csv"))
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "bad1.wav: no fmt chunk") {
		t.Errorf("directory with bad files: %v", err)
	}
}

// TestAssignSplit pins the hash rule (changing it would silently move
// files between train and validation in existing runs) and its share.
func TestAssignSplit(t *testing.T) {
	for i := range 30 {
		k := fmt.Sprintf("recordings/%d_george_%d", i%10, i)
		want := Train
		if k == "recordings/1_george_11" {
			want = Validation
		}
		if got := AssignSplit(k); got != want {
			t.Errorf("AssignSplit(%q) = %q, want %q", k, got, want)
		}
	}
	n := 0
	for i := range 20000 {
		if AssignSplit(fmt.Sprintf("utt%06d", i)) == Validation {
			n++
		}
	}
	if n < 1800 || n > 2200 {
		t.Errorf("%d of 20000 keys in validation, want about %d%%", n, ValidationPercent)
	}
}

func TestKeyFor(t *testing.T) {
	for in, want := range map[string]string{
		"recordings/0_george_0.wav": "recordings/0_george_0",
		"./a/b.WAV":                 "a/b",
		"a b\tc.wav":                "a_b_c",
		"/abs/path/x.wav":           "abs/path/x",
		"noext":                     "noext",
		"x.flac":                    "x",
	} {
		if got := KeyFor(in); got != want {
			t.Errorf("KeyFor(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBundledSamples(t *testing.T) {
	c, err := Open("../../samples/fsdd/manifest.csv")
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Splits(); n["train"] != 200 || n["test"] != 100 || c.Assigned != 0 {
		t.Errorf("splits %v, %d assigned", n, c.Assigned)
	}
	if err := Check(c.Entries, audio.DefaultSettings()); err != nil {
		t.Error(err)
	}
}

func TestLoad(t *testing.T) {
	c, err := Open("../../samples/fsdd/manifest.csv")
	if err != nil {
		t.Fatal(err)
	}
	entries := c.Split("test")[:20]
	s := audio.DefaultSettings()
	one, reps, err := LoadClasses(context.Background(), entries, s, 1)
	if err != nil {
		t.Fatal(err)
	}
	three, _, err := LoadClasses(context.Background(), entries, s, 3)
	if err != nil {
		t.Fatal(err)
	}
	floats, _, err := LoadSamples(context.Background(), entries, s, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		x, _, err := s.Load(e.Path)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]int32, len(x))
		s.MuLaw().Encode(x, want)
		if !slices.Equal(one[i], want) || !slices.Equal(three[i], want) || !slices.Equal(floats[i], x) {
			t.Fatalf("%s: loaded classes differ from Settings.Load + Encode", e.Key)
		}
		if int64(reps[i].Samples) != e.Info.Frames {
			t.Errorf("%s: report %+v", e.Key, reps[i])
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := LoadClasses(ctx, entries, s, 2); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled load: %v", err)
	}
	s.SampleRate = 16000
	if _, _, err := LoadClasses(context.Background(), entries, s, 2); err == nil || !strings.Contains(err.Error(), "sample rate is 8000 Hz but the model's is 16000 Hz") {
		t.Errorf("rate mismatch: %v", err)
	}
}
