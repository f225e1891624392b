// Package regular opens input files only when they are regular files.
//
// Opening a named pipe (FIFO) for reading blocks until some other process
// opens it for writing, and reading a character device or a socket can
// block forever too; a hung network mount blocks any call. A process
// stuck like that ignores the context that asks it to stop, because the
// goroutine blocked in open(2) never looks at it. So every input that is
// meant to be a file (an audio file, a manifest, a model, a feature file,
// a configuration) goes through this package: it stats the path first,
// refuses anything that is not a regular file with one line naming it
// ("PATH: is a named pipe (FIFO), not a regular file"), and opens the
// rest with O_NONBLOCK, so that a path swapped for a FIFO between the
// stat and the open still cannot block, then checks the opened file
// again. Regular files ignore O_NONBLOCK; the flag is cleared anyway.
//
// Inputs that are streams by design (standard input, given as "-", and
// the commands of a Kaldi wav.scp) do not come through here.
//
// Errors have the form "PATH: problem" and wrap the underlying error, so
// errors.Is(err, fs.ErrNotExist) and the like still work; a refused file
// matches ErrNotRegular.
package regular

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ErrNotRegular is matched (errors.Is) by the error for a path that is
// not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// notRegular is the error for a path whose mode is not regular.
type notRegular struct {
	path string
	mode fs.FileMode
}

func (e *notRegular) Error() string {
	return fmt.Sprintf("%s: is %s, not a regular file", e.path, Kind(e.mode))
}

func (e *notRegular) Is(target error) bool { return target == ErrNotRegular }

// Kind names the type of file mode m, with an article: "a directory",
// "a named pipe (FIFO)", "a socket", "a character device", "a block
// device", "a symbolic link", "a regular file" or "an irregular file".
func Kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	default:
		return "an irregular file"
	}
}

// Check returns an error naming path unless it is (or a symbolic link
// to) a regular file. It never opens path.
func Check(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return pathError(path, err)
	}
	if !fi.Mode().IsRegular() {
		return &notRegular{path, fi.Mode()}
	}
	return nil
}

// Open opens path for reading if it is a regular file; anything else is
// refused without blocking (see the package documentation).
func Open(path string) (*os.File, error) {
	if err := Check(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|nonblock, 0)
	if err != nil {
		return nil, pathError(path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, pathError(path, err)
	}
	if !fi.Mode().IsRegular() { // replaced since the Check
		f.Close()
		return nil, &notRegular{path, fi.Mode()}
	}
	if err := clearNonblock(f); err != nil {
		f.Close()
		return nil, pathError(path, err)
	}
	return f, nil
}

// ReadFile reads the whole regular file at path, like os.ReadFile.
func ReadFile(path string) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, pathError(path, err)
	}
	return b, nil
}

// pathError puts err in the "PATH: problem" form; an *fs.PathError (which
// says "open PATH: problem") is unwrapped to its cause first.
func pathError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%s: %w", path, err)
}
