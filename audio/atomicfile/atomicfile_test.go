package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.bin")
	if err := WriteBytes(path, []byte("old")); err != nil {
		t.Fatal(err)
	}
	if err := WriteBytes(path, []byte("new contents")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "new contents" {
		t.Fatalf("got %q, %v", got, err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	assertOnly(t, dir, "out.bin")
}

func TestWriteErrorKeepsOldFileAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.bin")
	if err := WriteBytes(path, []byte("old")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(path, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "old" {
		t.Errorf("destination changed to %q", got)
	}
	assertOnly(t, dir, "out.bin")
}

func TestWriteMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "f")
	if err := WriteBytes(path, nil); err == nil {
		t.Fatal("no error for a missing directory")
	}
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if len(got) != len(names) {
		t.Fatalf("directory holds %v, want %v", got, names)
	}
	for i := range got {
		if got[i] != names[i] {
			t.Fatalf("directory holds %v, want %v", got, names)
		}
	}
}

// TestRemoveTemporary: the temporaries of writes in flight (a Write whose
// callback has not returned, a File not yet committed, a tracked staging
// directory) are what RemoveTemporary deletes, and committed or aborted
// ones are no longer listed.
func TestRemoveTemporary(t *testing.T) {
	dir := t.TempDir()
	if got := RemoveTemporary(); len(got) != 0 {
		t.Fatalf("temporaries before any write: %q", got)
	}
	inWrite := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Write(filepath.Join(dir, "a.bin"), func(w io.Writer) error {
			close(inWrite)
			<-release
			return nil
		})
	}()
	<-inWrite
	f, err := Create(filepath.Join(dir, "b.bin"))
	if err != nil {
		t.Fatal(err)
	}
	staging := filepath.Join(dir, ".staging")
	os.Mkdir(staging, 0o755)
	os.WriteFile(filepath.Join(staging, "x"), []byte("x"), 0o644)
	Track(staging)
	committed, _ := Create(filepath.Join(dir, "c.bin"))
	if err := committed.Commit(); err != nil {
		t.Fatal(err)
	}
	aborted, _ := Create(filepath.Join(dir, "d.bin"))
	aborted.Abort()

	got := RemoveTemporary()
	if len(got) != 3 {
		t.Fatalf("RemoveTemporary = %q, want the temporaries of a.bin and b.bin and the staging dir", got)
	}
	for _, p := range got {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still exists", p)
		}
	}
	close(release)
	<-done // the write fails or not; nothing is left either way
	f.Abort()
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"a.bin", "c.bin"}; strings.Join(names, " ") != strings.Join(want, " ") && strings.Join(names, " ") != "c.bin" {
		t.Errorf("left in dir: %q", names)
	}
	if got := RemoveTemporary(); len(got) != 0 {
		t.Fatalf("temporaries after: %q", got)
	}
}

func TestCheckTarget(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	for path, want := range map[string]string{
		filepath.Join(dir, "new.wav"):       "",
		file:                                "",
		dir:                                 dir + " is a directory; give a file name",
		filepath.Join(dir, "nope", "x.wav"): "cannot write " + filepath.Join(dir, "nope", "x.wav") + ": stat " + filepath.Join(dir, "nope") + ": no such file or directory",
		filepath.Join(file, "x.wav"):        "cannot write " + filepath.Join(file, "x.wav") + ": " + file + " is not a directory",
	} {
		err := CheckTarget(path)
		if got := fmt.Sprint(err); (want == "" && err != nil) || (want != "" && got != want) {
			t.Errorf("CheckTarget(%s) = %v, want %q", path, err, want)
		}
	}
}
