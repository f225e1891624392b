package featio

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// OpenKeyed reads the same matrices by key from a features folder, its
// scp (from another working directory: the ark path is then resolved from
// the scp's folder), its ark, and an npy file keyed by its base name; a
// key listed twice is refused.
func TestOpenKeyed(t *testing.T) {
	dir := t.TempDir()
	ark := filepath.Join(dir, "ark")
	writeCorpus(t, ark, Options{Format: FormatArk, Sidecar: baselineSidecar()})
	want := map[string]Matrix{}
	for _, u := range testCorpus() {
		want[u.key] = u.m
	}
	check := func(spec string, keys int) {
		t.Helper()
		k, err := OpenKeyed(spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if len(k.Keys) != keys {
			t.Fatalf("%s: %d keys, want %d", spec, len(k.Keys), keys)
		}
		for i, key := range k.Keys {
			m, err := k.Load(i)
			if err != nil {
				t.Fatalf("%s: %s: %v", spec, key, err)
			}
			w := want[key]
			if m.Rows == 0 && w.Rows == 0 {
				continue // an empty matrix read at an scp offset has no dims either
			}
			if m.Rows != w.Rows || m.Cols != w.Cols || !slices.Equal(m.Data, w.Data) {
				t.Errorf("%s: %s: %d × %d, want %d × %d", spec, key, m.Rows, m.Cols, w.Rows, w.Cols)
			}
		}
		for i, key := range k.Keys {
			if j, ok := k.Index(key); !ok || j != i || k.Where(i) == "" {
				t.Errorf("%s: Index(%s) = %d, %v; Where %q", spec, key, j, ok, k.Where(i))
			}
		}
	}
	check(ark, len(want))
	check(filepath.Join(ark, ArkName), len(want))

	// The scp names its ark as the writer wrote it; read it from elsewhere
	// with a relative path, which must resolve from the scp's folder.
	scp, err := os.ReadFile(filepath.Join(ark, ScpName))
	if err != nil {
		t.Fatal(err)
	}
	rel := strings.ReplaceAll(string(scp), filepath.Join(ark, ArkName), ArkName)
	os.WriteFile(filepath.Join(ark, "rel.scp"), []byte(rel), 0o644)
	wd, _ := os.Getwd()
	os.Chdir(t.TempDir())
	defer os.Chdir(wd)
	check(filepath.Join(ark, "rel.scp"), len(want))

	u := testCorpus()[0]
	npy := filepath.Join(dir, "0_george_0.npy")
	f, _ := os.Create(npy)
	WriteNpy(f, u.m)
	f.Close()
	want["0_george_0"] = u.m
	check(npy, 1)

	dup := filepath.Join(dir, "dup.scp")
	line := strings.SplitN(string(scp), "\n", 2)[0] + "\n"
	os.WriteFile(dup, []byte(line+line), 0o644)
	if _, err := OpenKeyed(dup); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("a key listed twice: %v", err)
	}
}
