//go:build unix

package regular

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// within fails the test if f has not returned after a few seconds: the
// calls under test must refuse a FIFO, not block on it.
func within(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("blocked")
	}
}

func TestRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "ff.wav")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	sock := filepath.Join(dir, "s.wav")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	link := filepath.Join(dir, "link.wav")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, kind string }{
		{fifo, "a named pipe (FIFO)"},
		{link, "a named pipe (FIFO)"},
		{sock, "a socket"},
		{dir, "a directory"},
		{"/dev/null", "a character device"},
	} {
		for name, call := range map[string]func(string) error{
			"Check":    Check,
			"Open":     func(p string) error { f, err := Open(p); f.Close(); return err },
			"ReadFile": func(p string) error { _, err := ReadFile(p); return err },
		} {
			var err error
			within(t, func() { err = call(c.path) })
			want := c.path + ": is " + c.kind + ", not a regular file"
			if err == nil || err.Error() != want {
				t.Errorf("%s(%s) = %v, want %q", name, c.path, err, want)
			}
			if !errors.Is(err, ErrNotRegular) {
				t.Errorf("%s(%s): %v does not match ErrNotRegular", name, c.path, err)
			}
		}
	}
}

func TestReadsRegularFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.txt")
	want := strings.Repeat("0123456789", 1000)
	if err := os.WriteFile(p, []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(p, link); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{p, link} {
		b, err := ReadFile(path)
		if err != nil || string(b) != want {
			t.Fatalf("ReadFile(%s) = %d bytes, %v", path, len(b), err)
		}
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		// The descriptor is back in blocking mode, as os.Open leaves it.
		rc, _ := f.SyscallConn()
		rc.Control(func(fd uintptr) {
			flags, err := fcntlGetfl(fd)
			if err != nil || flags&syscall.O_NONBLOCK != 0 {
				t.Errorf("%s: flags %#x, %v: O_NONBLOCK left set", path, flags, err)
			}
		})
		f.Close()
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)
	if b, err := ReadFile(empty); err != nil || len(b) != 0 {
		t.Fatalf("ReadFile(empty) = %q, %v", b, err)
	}
}

func TestMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope.wav")
	_, err := Open(p)
	if !errors.Is(err, fs.ErrNotExist) || err.Error() != p+": no such file or directory" {
		t.Fatalf("Open(missing) = %v", err)
	}
}

func fcntlGetfl(fd uintptr) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
