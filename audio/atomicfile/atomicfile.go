// Package atomicfile writes files so that readers, and the user after a
// crash or an error, see either the old file or the complete new one,
// never a partial file.
//
// The data goes to a temporary file in the destination's directory (so
// the final rename stays on one file system), which is flushed, synced to
// disk and renamed over the destination; the directory is then synced so
// the rename itself survives a crash. On any error the temporary file is
// removed and the destination is left as it was.
//
// A process that exits at once (os.Exit after a second Ctrl-C, or when a
// call it is blocked in does not return) runs no deferred calls, so the
// package also keeps the one piece of process-wide state it needs: the
// names of the temporary files and directories in flight, which
// RemoveTemporary deletes before such an exit. Track adds other writers'
// temporaries (a staging directory, say) to the same list.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// temporaries are the temporary files and directories of this process
// that are neither committed nor removed yet: a process-wide resource,
// like its open files, hence a package variable.
var temporaries = struct {
	sync.Mutex
	paths map[string]int // path → how many Track calls hold it
}{paths: map[string]int{}}

// Track records path, a temporary file or directory that the caller will
// rename or remove, so that RemoveTemporary deletes it if the process has
// to exit first; untrack ends the record (call it after the rename or the
// removal).
func Track(path string) (untrack func()) {
	temporaries.Lock()
	temporaries.paths[path]++
	temporaries.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			temporaries.Lock()
			if temporaries.paths[path]--; temporaries.paths[path] <= 0 {
				delete(temporaries.paths, path)
			}
			temporaries.Unlock()
		})
	}
}

// RemoveTemporary removes (with os.RemoveAll) every temporary file and
// directory in flight and returns their names, sorted. It is for a
// process about to exit without finishing its work; the writers that
// still run must not be relied on afterwards.
func RemoveTemporary() []string {
	temporaries.Lock()
	defer temporaries.Unlock()
	paths := make([]string, 0, len(temporaries.paths))
	for p := range temporaries.paths {
		paths = append(paths, p)
		os.RemoveAll(p)
		delete(temporaries.paths, p)
	}
	sort.Strings(paths)
	return paths
}

// Write creates or replaces the file at path with what write writes. The
// writer passed to write is buffered; write must not keep it. The new
// file gets permissions 0644.
func Write(path string, write func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	tmp := f.Name()
	untrack := Track(tmp)
	defer untrack()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 256<<10)
	if err := write(bw); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	syncDir(dir)
	return nil
}

// CheckTarget reports, before any work is done, a path that Write or
// Create could not place: one that is a directory, or whose directory
// does not exist.
func CheckTarget(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a directory; give a file name", path)
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("cannot write %s: %s is not a directory", path, dir)
	}
	return nil
}

// WriteBytes atomically replaces the file at path with b.
func WriteBytes(path string, b []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// syncDir makes a rename in dir durable. It is best effort: some file
// systems and platforms do not support syncing a directory, and the file
// itself is already complete.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync() // an error leaves nothing to undo: the new file is complete
	d.Close()
}

// A File is a new file under construction for random-access writers
// (WriteAt from several goroutines): it is a temporary file in the
// destination's directory until Commit renames it over the destination.
// Abort, or a failed Commit, removes it and leaves the destination as it
// was.
type File struct {
	*os.File
	path    string
	done    bool
	untrack func()
}

// Create starts a new file that Commit will place at path.
func Create(path string) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &File{File: f, path: path, untrack: Track(f.Name())}, nil
}

// Commit syncs the file to disk, closes it and renames it to its path.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("%s: already committed or aborted", f.path)
	}
	f.done = true
	defer f.untrack()
	tmp := f.Name()
	fail := func(err error) error {
		f.File.Close()
		os.Remove(tmp)
		return fmt.Errorf("%s: %w", f.path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.File.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%s: %w", f.path, err)
	}
	if err := os.Rename(tmp, f.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%s: %w", f.path, err)
	}
	syncDir(filepath.Dir(f.path))
	return nil
}

// Abort closes and removes the temporary file; it does nothing after
// Commit.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	os.Remove(f.Name())
	f.untrack()
}
