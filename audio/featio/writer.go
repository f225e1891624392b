package featio

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/nextsample/nextsample/audio/atomicfile"
)

// Writer stores the feature matrices of a corpus in one output folder.
//
// Utterances are written in the order Write is called (callers that
// compute in parallel hand them over in corpus order, so the output is
// deterministic). Nothing appears under its final name before Close: the
// matrices go to temporary files in the folder, and Close renames them
// into place, writes the index, and writes features.json last, so a
// folder with a features.json is complete. Abort (or a failed Write or
// Close) removes the temporary files; output of an earlier run in the
// same folder is left alone until Close starts to replace it.
//
// A Writer is not safe for concurrent use.
type Writer interface {
	// Write stores the features of one utterance. key identifies it in
	// archives and indexes; relPath is its audio file relative to the
	// corpus root (e.g. "recordings/0_george_0.wav"): per-utterance
	// formats mirror it under the output folder, with the extension
	// replaced.
	Write(key, relPath string, m Matrix) error
	// Close makes the output visible and writes features.json.
	Close() error
	// Abort discards everything written so far. It is safe to call
	// after Close or another Abort, and does nothing then.
	Abort() error
}

// Options configure a Writer.
type Options struct {
	// Format is FormatArk, FormatNpy or FormatHTK.
	Format string
	// Sidecar describes the features; the Writer fills in Version,
	// Format, Count, Index, and Dims and FrameConvention when empty.
	Sidecar Sidecar
	// ArkText also writes the text form of the archive (feats.txt) with
	// FormatArk.
	ArkText bool
	// HTKParmKind is the parameter kind of HTK files; 0 means HTKUser for
	// learned features, HTKFbank or HTKMFCC for the baselines.
	HTKParmKind uint16
}

// NewWriter creates dir if needed and returns a Writer for it.
func NewWriter(dir string, opts Options) (Writer, error) {
	sc := opts.Sidecar
	switch opts.Format {
	case FormatArk, FormatNpy, FormatHTK:
	default:
		return nil, fmt.Errorf("featio: unknown format %q (want ark, npy or htk)", opts.Format)
	}
	if sc.Dims < 0 {
		return nil, fmt.Errorf("featio: negative dims %d", sc.Dims)
	}
	sc.Version = SidecarVersion
	sc.Format = opts.Format
	if sc.FrameConvention == "" {
		sc.FrameConvention = sc.frameConvention()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("featio: %w", err)
	}
	base := writerBase{dir: dir, sidecar: sc, keys: map[string]bool{}}
	switch opts.Format {
	case FormatArk:
		return newArkWriter(base, opts.ArkText)
	case FormatNpy:
		base.sidecar.Index = IndexName
		return newFileWriter(base, ".npy", WriteNpy)
	default:
		period, err := htkPeriod(sc)
		if err != nil {
			return nil, err
		}
		kind := opts.HTKParmKind
		if kind == 0 {
			switch sc.Kind {
			case KindFbank:
				kind = HTKFbank
			case KindMFCC:
				kind = HTKMFCC
			default:
				kind = HTKUser
			}
		}
		base.sidecar.Index = IndexName
		return newFileWriter(base, ".htk", func(w io.Writer, m Matrix) error {
			return WriteHTK(w, m, period, kind)
		})
	}
}

// htkPeriod converts the hop to HTK's 100 ns units; it must be exact.
func htkPeriod(sc Sidecar) (int32, error) {
	if sc.SampleRate <= 0 || sc.HopSamples <= 0 {
		return 0, fmt.Errorf("featio: HTK output needs the sample rate and hop (got %d Hz, %d samples)", sc.SampleRate, sc.HopSamples)
	}
	units := float64(sc.HopSamples) * 1e7 / float64(sc.SampleRate)
	if units != math.Trunc(units) || units > math.MaxInt32 {
		return 0, fmt.Errorf("featio: a hop of %d samples at %d Hz is not a whole number of 100 ns units", sc.HopSamples, sc.SampleRate)
	}
	return int32(units), nil
}

// writerBase holds what every format checks and records.
type writerBase struct {
	dir     string
	sidecar Sidecar
	keys    map[string]bool
	done    bool // closed or aborted
	failed  error
}

// admit checks one utterance before it is written.
func (b *writerBase) admit(key string, m Matrix) error {
	if b.done {
		return errors.New("featio: write after Close or Abort")
	}
	if b.failed != nil {
		return fmt.Errorf("featio: writer already failed: %w", b.failed)
	}
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("featio: %w", err)
	}
	if b.keys[key] {
		return fmt.Errorf("featio: key %q written twice", key)
	}
	if err := m.check(); err != nil {
		return fmt.Errorf("featio: %s: %w", key, err)
	}
	if m.Rows > 0 {
		if b.sidecar.Dims == 0 {
			b.sidecar.Dims = m.Cols
		} else if m.Cols != b.sidecar.Dims {
			return fmt.Errorf("featio: %s: %d dims, earlier utterances have %d", key, m.Cols, b.sidecar.Dims)
		}
	}
	b.keys[key] = true
	b.sidecar.Count++
	return nil
}

// stagingPrefix starts the name of the temporary folder of a fileWriter.
const stagingPrefix = ".featio-staging-"

// unmarkComplete removes an earlier run's features.json before anything
// is replaced, so a folder is never half old, half new and complete-looking.
func (b *writerBase) unmarkComplete() error {
	err := os.Remove(filepath.Join(b.dir, SidecarName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("featio: %w", err)
	}
	return nil
}

func (b *writerBase) writeSidecar() error {
	js, err := json.MarshalIndent(b.sidecar, "", "  ")
	if err != nil {
		return fmt.Errorf("featio: %w", err)
	}
	return writeFileAtomic(filepath.Join(b.dir, SidecarName), append(js, '\n'))
}

// arkWriter writes feats.ark, feats.scp, utt2num_frames and optionally
// feats.txt.
type arkWriter struct {
	writerBase
	arkPath  string // as written in the scp: dir/feats.ark
	ark, txt *tempFile
	arkBuf   *bufio.Writer
	txtBuf   *bufio.Writer
	offset   int64
	scp      bytes.Buffer
	frames   bytes.Buffer
}

func newArkWriter(base writerBase, text bool) (*arkWriter, error) {
	w := &arkWriter{writerBase: base, arkPath: filepath.Join(base.dir, ArkName)}
	w.sidecar.Index = ScpName
	var err error
	if w.ark, err = newTempFile(base.dir, ArkName); err != nil {
		return nil, err
	}
	w.arkBuf = bufio.NewWriterSize(w.ark.f, 1<<16)
	if text {
		if w.txt, err = newTempFile(base.dir, ArkTextName); err != nil {
			w.ark.remove()
			return nil, err
		}
		w.txtBuf = bufio.NewWriterSize(w.txt.f, 1<<16)
	}
	return w, nil
}

func (w *arkWriter) Write(key, relPath string, m Matrix) error {
	if err := w.admit(key, m); err != nil {
		return err
	}
	n, err := WriteArkEntry(w.arkBuf, key, m)
	if err == nil && w.txtBuf != nil {
		err = WriteArkTextEntry(w.txtBuf, key, m)
	}
	if err != nil {
		return w.fail(fmt.Errorf("featio: %s: %w", key, err))
	}
	fmt.Fprintf(&w.scp, "%s %s:%d\n", key, w.arkPath, w.offset+int64(len(key))+1)
	fmt.Fprintf(&w.frames, "%s %d\n", key, m.Rows)
	w.offset += n
	return nil
}

func (w *arkWriter) fail(err error) error {
	w.failed = err
	w.Abort()
	return err
}

func (w *arkWriter) Close() error {
	if w.done {
		return errors.New("featio: Close after Close or Abort")
	}
	if w.failed != nil {
		w.Abort()
		return w.failed
	}
	err := w.arkBuf.Flush()
	if err == nil && w.txtBuf != nil {
		err = w.txtBuf.Flush()
	}
	if err == nil {
		err = w.unmarkComplete()
	}
	if err == nil {
		err = w.ark.commit()
	}
	if err == nil && w.txt != nil {
		err = w.txt.commit()
	}
	if err == nil {
		err = writeFileAtomic(filepath.Join(w.dir, Utt2NumFrameName), w.frames.Bytes())
	}
	if err == nil {
		err = writeFileAtomic(filepath.Join(w.dir, ScpName), w.scp.Bytes())
	}
	if err == nil {
		err = w.writeSidecar()
	}
	if err != nil {
		w.Abort()
		return err
	}
	w.done = true
	return syncDir(w.dir)
}

func (w *arkWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.ark.remove()
	if w.txt != nil {
		w.txt.remove()
	}
	return nil
}

// fileWriter writes one file per utterance (npy, htk) into a staging
// folder inside dir, mirroring the corpus layout, and moves them into
// place on Close.
type fileWriter struct {
	writerBase
	ext     string
	encode  func(io.Writer, Matrix) error
	staging string
	untrack func()            // ends the staging folder's atomicfile.Track
	outputs map[string]string // output path (slash form) -> key
	order   []string          // output paths in write order
	index   bytes.Buffer
	csv     *csv.Writer
}

func newFileWriter(base writerBase, ext string, encode func(io.Writer, Matrix) error) (*fileWriter, error) {
	staging, err := os.MkdirTemp(base.dir, stagingPrefix)
	if err != nil {
		return nil, fmt.Errorf("featio: %w", err)
	}
	w := &fileWriter{writerBase: base, ext: ext, encode: encode, staging: staging, untrack: atomicfile.Track(staging), outputs: map[string]string{}}
	w.csv = csv.NewWriter(&w.index)
	w.csv.Write([]string{"key", "path", "frames", "dims"})
	return w, nil
}

// OutputPath returns where an utterance at relPath (relative to the
// corpus root) is stored by a per-utterance writer: the same path with
// the extension replaced by ext, in slash form.
func OutputPath(relPath, ext string) (string, error) {
	p := filepath.ToSlash(filepath.Clean(filepath.FromSlash(relPath)))
	if !filepath.IsLocal(filepath.FromSlash(p)) {
		return "", fmt.Errorf("path %q is not relative to the corpus root", relPath)
	}
	if strings.HasPrefix(p, stagingPrefix) {
		return "", fmt.Errorf("path %q collides with the writer's staging folder", relPath)
	}
	return strings.TrimSuffix(p, filepath.Ext(p)) + ext, nil
}

func (w *fileWriter) Write(key, relPath string, m Matrix) error {
	out, err := OutputPath(relPath, w.ext)
	if err != nil {
		return fmt.Errorf("featio: %s: %w", key, err)
	}
	if other, dup := w.outputs[out]; dup {
		return fmt.Errorf("featio: %s and %s would both be written to %s", other, key, out)
	}
	if err := w.admit(key, m); err != nil {
		return err
	}
	w.outputs[out] = key
	w.order = append(w.order, out)
	path := filepath.Join(w.staging, filepath.FromSlash(out))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return w.fail(fmt.Errorf("featio: %w", err))
	}
	var buf bytes.Buffer
	if err := w.encode(&buf, m); err != nil {
		return w.fail(fmt.Errorf("featio: %s: %w", key, err))
	}
	if err := writeFileSynced(path, buf.Bytes()); err != nil {
		return w.fail(err)
	}
	w.csv.Write([]string{key, out, strconv.Itoa(m.Rows), strconv.Itoa(m.Cols)})
	return nil
}

func (w *fileWriter) fail(err error) error {
	w.failed = err
	w.Abort()
	return err
}

func (w *fileWriter) Close() error {
	if w.done {
		return errors.New("featio: Close after Close or Abort")
	}
	if w.failed != nil {
		w.Abort()
		return w.failed
	}
	if err := w.commit(); err != nil {
		w.Abort()
		return err
	}
	w.done = true
	return nil
}

func (w *fileWriter) commit() error {
	w.csv.Flush()
	if err := w.csv.Error(); err != nil {
		return fmt.Errorf("featio: index: %w", err)
	}
	if err := w.unmarkComplete(); err != nil {
		return err
	}
	dirs := map[string]bool{w.dir: true}
	for _, out := range w.order {
		final := filepath.Join(w.dir, filepath.FromSlash(out))
		if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
			return fmt.Errorf("featio: %w", err)
		}
		if err := os.Rename(filepath.Join(w.staging, filepath.FromSlash(out)), final); err != nil {
			return fmt.Errorf("featio: %w", err)
		}
		dirs[filepath.Dir(final)] = true
	}
	sorted := make([]string, 0, len(dirs))
	for d := range dirs {
		sorted = append(sorted, d)
	}
	sort.Strings(sorted)
	for _, d := range sorted {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	if err := writeFileAtomic(filepath.Join(w.dir, IndexName), w.index.Bytes()); err != nil {
		return err
	}
	if err := w.writeSidecar(); err != nil {
		return err
	}
	if err := os.RemoveAll(w.staging); err != nil {
		return fmt.Errorf("featio: %w", err)
	}
	w.untrack()
	return syncDir(w.dir)
}

func (w *fileWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	if err := os.RemoveAll(w.staging); err != nil {
		return fmt.Errorf("featio: %w", err)
	}
	w.untrack()
	return nil
}

// tempFile is a file written under a temporary name in the folder of its
// final name, and renamed onto it by commit.
type tempFile struct {
	f       *os.File
	final   string
	untrack func() // ends the atomicfile.Track of the temporary name
}

func newTempFile(dir, name string) (*tempFile, error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("featio: %w", err)
	}
	return &tempFile{f: f, final: filepath.Join(dir, name), untrack: atomicfile.Track(f.Name())}, nil
}

func (t *tempFile) commit() error {
	// CreateTemp makes files private (0600); features are meant to be read.
	if err := t.f.Chmod(0o644); err != nil {
		return fmt.Errorf("featio: %w", err)
	}
	if err := t.f.Sync(); err != nil {
		return fmt.Errorf("featio: %w", err)
	}
	if err := t.f.Close(); err != nil {
		return fmt.Errorf("featio: %w", err)
	}
	if err := os.Rename(t.f.Name(), t.final); err != nil {
		return fmt.Errorf("featio: %w", err)
	}
	t.untrack()
	return nil
}

func (t *tempFile) remove() {
	t.f.Close()
	os.Remove(t.f.Name())
	t.untrack()
}

// writeFileAtomic writes data to path through a synced temporary file in
// the same folder and a rename.
func writeFileAtomic(path string, data []byte) error {
	t, err := newTempFile(filepath.Dir(path), filepath.Base(path))
	if err != nil {
		return err
	}
	if _, err := t.f.Write(data); err != nil {
		t.remove()
		return fmt.Errorf("featio: %w", err)
	}
	if err := t.commit(); err != nil {
		t.remove()
		return err
	}
	return nil
}

// writeFileSynced writes a new file and syncs it.
func writeFileSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("featio: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("featio: %w", err)
	}
	return nil
}

// syncDir makes renames in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("featio: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("featio: sync %s: %w", dir, err)
	}
	return nil
}
