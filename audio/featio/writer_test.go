package featio

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/audio/kaldifeat"
)

type utt struct {
	key, rel string
	m        Matrix
}

func testCorpus() []utt {
	mk := func(rows int, base float32) Matrix {
		m := NewMatrix(rows, 3)
		for i := range m.Data {
			m.Data[i] = base + float32(i)/4
		}
		return m
	}
	return []utt{
		{"recordings/0_george_0", "recordings/0_george_0.wav", mk(4, 1)},
		{"recordings/sub/1_theo_2", "recordings/sub/1_theo_2.wav", mk(2, -3)},
		{"top", "top.wav", mk(1, 100)},
		{"silent", "silent.wav", Matrix{Rows: 0, Cols: 3, Data: []float32{}}},
	}
}

func baselineSidecar() Sidecar {
	cfg := kaldifeat.DefaultFbank(8000)
	return Sidecar{Kind: KindFbank, SampleRate: 8000, WindowSamples: 200, HopSamples: 80, SnipEdges: true, Kaldi: &cfg}
}

func writeCorpus(t *testing.T, dir string, opts Options) {
	t.Helper()
	w, err := NewWriter(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range testCorpus() {
		if err := w.Write(u.key, u.rel, u.m); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// listFiles returns every file under dir, relative, sorted.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func TestWriterRoundTrip(t *testing.T) {
	for _, format := range []string{FormatArk, FormatNpy, FormatHTK} {
		t.Run(format, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			writeCorpus(t, dir, Options{Format: format, Sidecar: baselineSidecar(), ArkText: true})

			var want []string
			switch format {
			case FormatArk:
				want = []string{ArkName, SidecarName, ScpName, ArkTextName, Utt2NumFrameName}
			default:
				ext := "." + format
				want = []string{SidecarName, IndexName, "recordings/0_george_0" + ext, "recordings/sub/1_theo_2" + ext, "silent" + ext, "top" + ext}
			}
			sort.Strings(want)
			if got := listFiles(t, dir); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("files %v, want %v (no temporaries left)", got, want)
			}

			for _, f := range want {
				if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o644 {
					t.Errorf("%s: mode %v, want 0644", f, fi.Mode().Perm())
				}
			}
			set, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			sc := set.Sidecar
			if sc.Version != SidecarVersion || sc.Format != format || sc.Count != 4 || sc.Dims != 3 || sc.Kind != KindFbank ||
				sc.Kaldi == nil || sc.Kaldi.NumMelBins != 23 || !strings.HasPrefix(sc.FrameConvention, "snip-edges") {
				t.Errorf("sidecar %+v", sc)
			}
			corpus := testCorpus()
			for i, e := range set.Entries {
				if e.Key != corpus[i].key {
					t.Fatalf("entry %d: key %q, want %q (write order)", i, e.Key, corpus[i].key)
				}
				m, err := set.Load(i)
				if err != nil {
					t.Fatal(err)
				}
				want := corpus[i].m
				if format == FormatArk && want.Rows == 0 {
					want = Matrix{} // Kaldi stores empty matrices as 0×0
				}
				if !sameMatrix(m, want) {
					t.Errorf("%s: loaded %+v, want %+v", e.Key, m, want)
				}
			}
			if format == FormatArk {
				b, _ := os.ReadFile(filepath.Join(dir, Utt2NumFrameName))
				if got := string(b); got != "recordings/0_george_0 4\nrecordings/sub/1_theo_2 2\ntop 1\nsilent 0\n" {
					t.Errorf("utt2num_frames %q", got)
				}
				ark, _ := os.ReadFile(filepath.Join(dir, ArkName))
				scp, _ := os.ReadFile(filepath.Join(dir, ScpName))
				entries, err := ReadScp(ScpName, scp)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range entries {
					if e.Path != filepath.Join(dir, ArkName) || !bytes.HasPrefix(ark[e.Offset:], []byte("\x00BFM ")) {
						t.Errorf("scp entry %+v does not point at a matrix in %s", e, dir)
					}
				}
				txt, _ := os.ReadFile(filepath.Join(dir, ArkTextName))
				fromText, err := ReadArk(ArkTextName, txt)
				if err != nil || len(fromText) != 4 || !sameMatrix(fromText[1].Matrix, corpus[1].m) {
					t.Errorf("text archive: %v", err)
				}
			}
			if format == FormatHTK {
				b, _ := os.ReadFile(filepath.Join(dir, "top.htk"))
				_, h, err := ReadHTK("top.htk", b)
				if err != nil || h.SampPeriod != 100000 || h.ParmKind != HTKFbank {
					t.Errorf("HTK header %+v %v", h, err)
				}
			}
		})
	}
}

func TestWriterDeterministic(t *testing.T) {
	for _, format := range []string{FormatArk, FormatNpy, FormatHTK} {
		a, b := filepath.Join(t.TempDir(), "same"), filepath.Join(t.TempDir(), "same")
		// Same relative name so the scp paths match too.
		t.Chdir(filepath.Dir(a))
		writeCorpus(t, "same", Options{Format: format, Sidecar: baselineSidecar()})
		t.Chdir(filepath.Dir(b))
		writeCorpus(t, "same", Options{Format: format, Sidecar: baselineSidecar()})
		for _, f := range listFiles(t, a) {
			x, _ := os.ReadFile(filepath.Join(a, f))
			y, _ := os.ReadFile(filepath.Join(b, f))
			if !bytes.Equal(x, y) {
				t.Errorf("%s: %s differs between two identical runs", format, f)
			}
		}
	}
}

func TestWriterAbortKeepsEarlierRun(t *testing.T) {
	for _, format := range []string{FormatArk, FormatNpy} {
		dir := t.TempDir()
		writeCorpus(t, dir, Options{Format: format, Sidecar: baselineSidecar()})
		before := listFiles(t, dir)
		sidecar, _ := os.ReadFile(filepath.Join(dir, SidecarName))

		w, err := NewWriter(dir, Options{Format: format, Sidecar: baselineSidecar()})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write("new", "new.wav", NewMatrix(2, 3)); err != nil {
			t.Fatal(err)
		}
		if err := w.Abort(); err != nil {
			t.Fatal(err)
		}
		if err := w.Write("late", "late.wav", NewMatrix(2, 3)); err == nil {
			t.Error("Write after Abort accepted")
		}
		if err := w.Close(); err == nil {
			t.Error("Close after Abort succeeded")
		}
		if after := listFiles(t, dir); strings.Join(after, " ") != strings.Join(before, " ") {
			t.Errorf("%s: files after abort %v, before %v", format, after, before)
		}
		if again, _ := os.ReadFile(filepath.Join(dir, SidecarName)); !bytes.Equal(again, sidecar) {
			t.Errorf("%s: features.json changed by an aborted run", format)
		}
		if _, err := Open(dir); err != nil {
			t.Errorf("%s: earlier run unreadable after abort: %v", format, err)
		}
	}
}

func TestWriterRejects(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(dir, Options{Format: FormatNpy, Sidecar: baselineSidecar()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if err := w.Write("a", "x/a.wav", NewMatrix(2, 3)); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]utt{
		"duplicate key":   {"a", "y/a.wav", NewMatrix(1, 3)},
		"same output":     {"b", "x/a.flac", NewMatrix(1, 3)},
		"dims":            {"c", "c.wav", NewMatrix(1, 4)},
		"absolute":        {"d", "/etc/d.wav", NewMatrix(1, 3)},
		"escapes":         {"e", "../e.wav", NewMatrix(1, 3)},
		"key with space":  {"f g", "f.wav", NewMatrix(1, 3)},
		"shape mismatch":  {"h", "h.wav", Matrix{Rows: 2, Cols: 3}},
		"staging collide": {"i", stagingPrefix + "x/i.wav", NewMatrix(1, 3)},
	} {
		if err := w.Write(c.key, c.rel, c.m); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewWriter(dir, Options{Format: "csv"}); err == nil {
		t.Error("unknown format accepted")
	}
	sc := baselineSidecar()
	sc.HopSamples = 3
	sc.SampleRate = 7
	if _, err := NewWriter(dir, Options{Format: FormatHTK, Sidecar: sc}); err == nil {
		t.Error("HTK with a hop that is not a whole number of 100 ns accepted")
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "features.json") {
		t.Errorf("missing sidecar: %v", err)
	}
	writeCorpus(t, dir, Options{Format: FormatNpy, Sidecar: baselineSidecar()})
	// A count that disagrees with the index.
	var sc Sidecar
	b, _ := os.ReadFile(filepath.Join(dir, SidecarName))
	json.Unmarshal(b, &sc)
	sc.Count = 9
	b, _ = json.Marshal(sc)
	os.WriteFile(filepath.Join(dir, SidecarName), b, 0o644)
	if _, err := Open(dir); err == nil {
		t.Error("count mismatch accepted")
	}
	// An index escaping the folder.
	sc.Count = 1
	b, _ = json.Marshal(sc)
	os.WriteFile(filepath.Join(dir, SidecarName), b, 0o644)
	os.WriteFile(filepath.Join(dir, IndexName), []byte("key,path,frames,dims\na,../../etc/passwd,1,3\n"), 0o644)
	if _, err := Open(dir); err == nil {
		t.Error("index path outside the folder accepted")
	}
	// A file whose shape disagrees with the index.
	os.WriteFile(filepath.Join(dir, IndexName), []byte("key,path,frames,dims\na,top.npy,5,3\n"), 0o644)
	set, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := set.Load(0); err == nil {
		t.Error("shape mismatch with the index accepted")
	}
}

func TestFrameConvention(t *testing.T) {
	s := Sidecar{WindowSamples: 200, HopSamples: 80, SnipEdges: false}
	if got := s.frameConvention(); !strings.Contains(got, "[80·t -60, 80·t +140)") || !strings.Contains(got, "centre 80·t + 40") {
		t.Errorf("centred convention: %q", got)
	}
}
