//go:build unix

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nextsample/nextsample/audio/featio"
	"github.com/nextsample/nextsample/audio/regular/regulartest"
	"github.com/nextsample/nextsample/train"
)

// fifoTimeout is how long a command may take to refuse a named pipe; the
// refusal itself is immediate, the rest is the command's set-up.
const fifoTimeout = 10 * time.Second

// refusesFIFO runs the CLI with args and checks that it refuses the named
// pipe fifo instead of waiting for a writer: it returns within
// fifoTimeout with a non-zero status, and stderr ends with one line that
// names fifo as not a regular file, the only line that mentions it. It
// returns stdout and stderr.
func refusesFIFO(t *testing.T, fifo string, args ...string) (stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := 0
	if !regulartest.Within(t, fifoTimeout, func() {
		code = run(context.Background(), append([]string{"nextsample"}, args...), strings.NewReader(""), &out, &errOut)
	}, fifo) {
		return "", ""
	}
	stdout, stderr = out.String(), errOut.String()
	if code == 0 {
		t.Errorf("%v: exit status 0, want an error\nstderr:\n%s", args, stderr)
	}
	want := fifo + ": is a named pipe (FIFO), not a regular file"
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "nextsample: ") || !strings.Contains(last, want) || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("%v: the last line of stderr is %q, want \"nextsample: ...%s\"\nstderr:\n%s", args, last, want, stderr)
	}
	if n := strings.Count(stderr, fifo); n != 1 {
		t.Errorf("%v: stderr names %s %d times, want once:\n%s", args, fifo, n, stderr)
	}
	return stdout, stderr
}

// noFile fails the test if something exists at path.
func noFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); err == nil {
		t.Errorf("%s was created", path)
	} else if !os.IsNotExist(err) {
		t.Error(err)
	}
}

// noCheckpoint fails the test if the run directory out holds a model file.
func noCheckpoint(t *testing.T, out string) {
	t.Helper()
	found, _ := filepath.Glob(filepath.Join(out, "*.safetensors"))
	if len(found) > 0 {
		t.Errorf("%s holds %v", out, found)
	}
}

// fifoCorpus is a manifest and a Kaldi data directory that each list a
// good WAV and a named pipe, a tiny model and a features folder of the
// good file.
type fifoCorpus struct {
	fifo, manifest, kaldi, model, feats string
}

func newFIFOCorpus(t *testing.T) fifoCorpus {
	t.Helper()
	manifest, _ := writeTinyCorpus(t)
	dir := filepath.Dir(manifest)
	var fc fifoCorpus
	fc.fifo = regulartest.FIFO(t, dir, "ff.wav")
	good := filepath.Join(dir, "tone00.wav")
	// The pipe in the middle of the training files, so that a reader
	// that stops at the first bad file does not stop before it.
	rows := "path,speaker,label,split\ntone00.wav,s0,0,train\nff.wav,s1,1,train\ntone01.wav,s1,1,train\ntone03.wav,s1,3,test\n"
	fc.manifest = filepath.Join(dir, "fifo.csv")
	if err := os.WriteFile(fc.manifest, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	fc.kaldi = filepath.Join(t.TempDir(), "train")
	if err := os.Mkdir(fc.kaldi, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, fc.kaldi, map[string]string{
		"wav.scp": "a " + good + "\nb " + fc.fifo + "\n",
		"utt2spk": "a s0\nb s1\n",
	})
	fc.model = featuresModel(t, true)

	fc.feats = filepath.Join(t.TempDir(), "feats")
	w, err := featio.NewWriter(fc.feats, featio.Options{
		Format:  featio.FormatNpy,
		Sidecar: featio.Sidecar{Kind: featio.KindFbank, SampleRate: 8000, WindowSamples: 200, HopSamples: 80, SnipEdges: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, key := range []string{"tone00", "tone01", "tone03", "ff"} {
		m := featio.NewMatrix(3, 2)
		for j := range m.Data {
			m.Data[j] = float32(i + j)
		}
		if err := w.Write(key, key+".wav", m); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return fc
}

// TestFifoCorpusEntry: a named pipe listed in a manifest or in a Kaldi
// wav.scp is refused by every command that reads the corpus, before any
// output is written.
func TestFifoCorpusEntry(t *testing.T) {
	fc := newFIFOCorpus(t)
	for _, data := range []string{fc.manifest, fc.kaldi} {
		name := "manifest"
		if data == fc.kaldi {
			name = "kaldi"
		}
		t.Run(name+"/info", func(t *testing.T) {
			if stdout, _ := refusesFIFO(t, fc.fifo, "info", data); stdout != "" {
				t.Errorf("stdout: %q", stdout)
			}
		})
		t.Run(name+"/train", func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			refusesFIFO(t, fc.fifo, "train", "--data", data, "--steps", "2", "--out", out, "--threads", "1")
			noCheckpoint(t, out)
		})
		t.Run(name+"/eval", func(t *testing.T) {
			if stdout, _ := refusesFIFO(t, fc.fifo, "eval", "--model", fc.model, "--data", data, "--threads", "1"); stdout != "" {
				t.Errorf("stdout: %q", stdout)
			}
		})
		t.Run(name+"/features", func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "fbank")
			refusesFIFO(t, fc.fifo, "features", "--kind", "fbank", "--data", data, "--format", "npy", "--out", out, "--threads", "1")
			noFile(t, out)
		})
	}
	// probe reads the Kaldi directory as a corpus; a manifest's paths are
	// only keys to it, and their files are not opened.
	t.Run("kaldi/probe", func(t *testing.T) {
		refusesFIFO(t, fc.fifo, "probe", "--features", fc.feats, "--data", fc.kaldi, "--label", "speaker")
	})
	t.Run("info file", func(t *testing.T) {
		refusesFIFO(t, fc.fifo, "info", fc.fifo)
	})
}

// TestFifoManifest: a named pipe given as the corpus itself (a manifest),
// or as a Kaldi directory's wav.scp, is refused.
func TestFifoManifest(t *testing.T) {
	fc := newFIFOCorpus(t)
	m := regulartest.FIFO(t, t.TempDir(), "m.csv")
	kaldi := t.TempDir()
	scp := regulartest.FIFO(t, kaldi, "wav.scp")
	for _, c := range []struct{ fifo, data string }{{m, m}, {scp, kaldi}} {
		refusesFIFO(t, c.fifo, "info", c.data)
		out := filepath.Join(t.TempDir(), "run")
		refusesFIFO(t, c.fifo, "train", "--data", c.data, "--steps", "2", "--out", out, "--threads", "1")
		noCheckpoint(t, out)
		refusesFIFO(t, c.fifo, "eval", "--model", fc.model, "--data", c.data, "--threads", "1")
		out = filepath.Join(t.TempDir(), "fbank")
		refusesFIFO(t, c.fifo, "features", "--kind", "fbank", "--data", c.data, "--out", out, "--threads", "1")
		noFile(t, out)
		refusesFIFO(t, c.fifo, "probe", "--features", fc.feats, "--data", c.data)
	}
}

// TestFifoModel: a named pipe given as --model (or to model) is refused,
// and nothing is written.
func TestFifoModel(t *testing.T) {
	fc := newFIFOCorpus(t)
	good, _ := writeTinyCorpus(t)
	model := regulartest.FIFO(t, t.TempDir(), "m.safetensors")
	dir := t.TempDir()

	refusesFIFO(t, model, "model", model)
	refusesFIFO(t, model, "eval", "--model", model, "--data", good, "--threads", "1")

	wav := filepath.Join(dir, "gen.wav")
	refusesFIFO(t, model, "generate", "--model", model, "--samples", "10", "--out", wav)
	noFile(t, wav)

	out := filepath.Join(dir, "learned")
	refusesFIFO(t, model, "features", "--kind", "learned", "--model", model, "--data", good, "--out", out, "--threads", "1")
	noFile(t, out)

	// The other files a command reads: a prompt, a configuration.
	prompt := regulartest.FIFO(t, dir, "prompt.wav")
	refusesFIFO(t, prompt, "generate", "--model", fc.model, "--prompt", prompt, "--samples", "10", "--out", wav)
	noFile(t, wav)

	config := regulartest.FIFO(t, dir, "model.json")
	run := filepath.Join(dir, "run")
	refusesFIFO(t, config, "train", "--data", good, "--config", config, "--steps", "2", "--out", run, "--threads", "1")
	noCheckpoint(t, run)
	refusesFIFO(t, config, "bench", "--config", config)
}

// TestFifoConvert: convert refuses a named pipe as its input model (either
// format) or as --config, and writes no output.
func TestFifoConvert(t *testing.T) {
	fc := newFIFOCorpus(t)
	dir := t.TempDir()
	st := regulartest.FIFO(t, dir, "in.safetensors")
	pt := regulartest.FIFO(t, dir, "in.pt")
	_, config := writeTinyCorpus(t)

	out := filepath.Join(dir, "out.pt")
	refusesFIFO(t, st, "convert", st, out)
	noFile(t, out)
	out = filepath.Join(dir, "out.safetensors")
	refusesFIFO(t, st, "convert", st, out)
	noFile(t, out)
	refusesFIFO(t, pt, "convert", "--config", config, "--sample-rate", "8000", pt, out)
	noFile(t, out)

	cfg := regulartest.FIFO(t, dir, "config.json")
	refusesFIFO(t, cfg, "convert", "--config", cfg, "--sample-rate", "8000", fc.model, out)
	noFile(t, out)
}

// TestFifoProbeFeatures: a named pipe in a features folder (its index or
// one of its matrix files) is refused by probe.
func TestFifoProbeFeatures(t *testing.T) {
	fc := newFIFOCorpus(t)
	set, err := featio.Open(fc.feats)
	if err != nil {
		t.Fatal(err)
	}
	matrix := set.Entries[1].Path
	if err := os.Remove(matrix); err != nil {
		t.Fatal(err)
	}
	matrix = regulartest.FIFO(t, filepath.Dir(matrix), filepath.Base(matrix))
	refusesFIFO(t, matrix, "probe", "--features", fc.feats, "--data", fc.manifest)

	index := filepath.Join(fc.feats, featio.IndexName)
	if err := os.Remove(index); err != nil {
		t.Fatal(err)
	}
	index = regulartest.FIFO(t, fc.feats, featio.IndexName)
	refusesFIFO(t, index, "probe", "--features", fc.feats, "--data", fc.manifest)
}

// TestFifoTrainLog: train --resume refuses a run whose train_log.csv is a
// named pipe, and leaves the run as it was.
func TestFifoTrainLog(t *testing.T) {
	out := trainTinyRun(t)
	last := filepath.Join(out, train.LastFile)
	before, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(out, train.LogFile)
	if err := os.Remove(log); err != nil {
		t.Fatal(err)
	}
	log = regulartest.FIFO(t, out, train.LogFile)
	refusesFIFO(t, log, "train", "--resume", "--out", out, "--steps", "4", "--threads", "1")
	if after, err := os.ReadFile(last); err != nil || !bytes.Equal(after, before) {
		t.Errorf("%s changed (%v)", last, err)
	}
	if fi, err := os.Lstat(log); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("%s replaced: %v, %v", log, fi, err)
	}
}
