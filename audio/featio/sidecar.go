package featio

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nextsample/nextsample/audio/kaldifeat"
	"github.com/nextsample/nextsample/audio/regular"
)

// File names inside a features folder.
const (
	SidecarName      = "features.json"
	ArkName          = "feats.ark"
	ScpName          = "feats.scp"
	ArkTextName      = "feats.txt"
	Utt2NumFrameName = "utt2num_frames"
	IndexName        = "index.csv"
)

// Formats a Writer can produce.
const (
	FormatArk = "ark"
	FormatNpy = "npy"
	FormatHTK = "htk"
)

// Kinds of features recorded in a Sidecar.
const (
	KindLearned = "learned"
	KindFbank   = kaldifeat.KindFbank
	KindMFCC    = kaldifeat.KindMFCC
)

// SidecarVersion is the version of the features.json layout written here.
const SidecarVersion = 1

// Sidecar is features.json, written next to the features: how they were
// made (so that a result can be reproduced and features of different
// origins are not mixed up) and where they are (so that Open can load
// them). Fields marked "set by the Writer" are filled in on Close.
type Sidecar struct {
	Version int `json:"version"` // set by the Writer
	// Kind is KindLearned, KindFbank or KindMFCC.
	Kind string `json:"kind"`
	// Model is the model file as given on the command line and
	// ModelSHA256 the hex SHA-256 of its bytes; null for the baselines.
	Model       string  `json:"model,omitempty"`
	ModelSHA256 *string `json:"model_sha256"`
	// Layers names the network activations in the features, in column
	// order (e.g. "skip" or "gate3"); null for the baselines.
	Layers []string `json:"layers"`
	// Pooling is how activations are reduced to one vector per frame
	// ("mean"); empty for the baselines.
	Pooling string `json:"pooling,omitempty"`

	// SampleRate of the audio in Hz, and the frame window and hop in
	// samples at that rate.
	SampleRate    int `json:"sample_rate"`
	WindowSamples int `json:"window_samples"`
	HopSamples    int `json:"hop_samples"`
	// SnipEdges is Kaldi's frame convention; FrameConvention says the
	// same in words (set by the Writer when empty).
	SnipEdges       bool   `json:"snip_edges"`
	FrameConvention string `json:"frame_convention"`

	Dims   int    `json:"dims"`   // values per frame (set by the Writer when 0)
	Format string `json:"format"` // set by the Writer
	Count  int    `json:"count"`  // utterances (set by the Writer)
	Index  string `json:"index"`  // file listing them (set by the Writer)
	// Shard is "I/N" when this folder holds shard I of N of a corpus.
	Shard string `json:"shard,omitempty"`
	// Speakers says which speakers a speaker-conditioned model's features
	// were conditioned on; empty for other features.
	Speakers string `json:"speakers,omitempty"`

	// Kaldi is the extractor configuration of fbank and MFCC features.
	Kaldi *kaldifeat.Config `json:"kaldi,omitempty"`
}

// frameConvention describes in words which samples frame t covers.
func (s *Sidecar) frameConvention() string {
	if s.WindowSamples <= 0 || s.HopSamples <= 0 {
		return ""
	}
	if s.SnipEdges {
		return fmt.Sprintf("snip-edges: frame t covers samples [%d·t, %d·t + %d); frames = 1 + floor((N - %d) / %d)",
			s.HopSamples, s.HopSamples, s.WindowSamples, s.WindowSamples, s.HopSamples)
	}
	start := kaldifeat.FirstSample(0, s.WindowSamples, s.HopSamples, false)
	return fmt.Sprintf("centred: frame t covers samples [%d·t %+d, %d·t %+d), centre %d·t + %d, reflected at the ends; frames = floor((N + %d) / %d)",
		s.HopSamples, start, s.HopSamples, start+s.WindowSamples, s.HopSamples, s.HopSamples/2, s.HopSamples/2, s.HopSamples)
}

// ReadSidecar reads dir/features.json.
func ReadSidecar(dir string) (Sidecar, error) {
	var s Sidecar
	path := filepath.Join(dir, SidecarName)
	b, err := regular.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, fmt.Errorf("featio: %s: no %s: not a complete features folder (was the run interrupted?)", dir, SidecarName)
	}
	if err != nil {
		return s, fmt.Errorf("featio: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("featio: %s: %w", path, err)
	}
	if s.Version != SidecarVersion {
		return s, fmt.Errorf("featio: %s: version %d, this program reads version %d", path, s.Version, SidecarVersion)
	}
	return s, nil
}

// Entry is one utterance of a features folder.
type Entry struct {
	Key string
	// Path is the file holding the matrix (for ark, the archive).
	Path string
	// Offset is the byte offset of the matrix in an ark; 0 otherwise.
	Offset int64
	// Frames and Dims from the index; -1 when the index does not say
	// (ark: read the matrix to know).
	Frames, Dims int
}

// Set is a features folder opened for reading.
type Set struct {
	Dir     string
	Sidecar Sidecar
	Entries []Entry
}

// Open reads the sidecar and the index of a features folder written by a
// Writer. Matrices are loaded one at a time with Load. For ark folders the
// matrices are read from dir/feats.ark at the offsets of feats.scp, so the
// folder can be moved even though the scp holds the path it was written
// with.
func Open(dir string) (*Set, error) {
	sc, err := ReadSidecar(dir)
	if err != nil {
		return nil, err
	}
	s := &Set{Dir: dir, Sidecar: sc}
	switch sc.Format {
	case FormatArk:
		path := filepath.Join(dir, ScpName)
		b, err := regular.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("featio: %w", err)
		}
		scp, err := ReadScp(path, b)
		if err != nil {
			return nil, err
		}
		ark := filepath.Join(dir, ArkName)
		for _, e := range scp {
			s.Entries = append(s.Entries, Entry{Key: e.Key, Path: ark, Offset: e.Offset, Frames: -1, Dims: -1})
		}
	case FormatNpy, FormatHTK:
		path := filepath.Join(dir, IndexName)
		f, err := regular.Open(path)
		if err != nil {
			return nil, fmt.Errorf("featio: %w", err)
		}
		defer f.Close()
		s.Entries, err = readIndex(path, dir, f)
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("featio: %s: unknown format %q", filepath.Join(dir, SidecarName), sc.Format)
	}
	if len(s.Entries) != sc.Count {
		return nil, fmt.Errorf("featio: %s: index lists %d utterances, %s says %d", dir, len(s.Entries), SidecarName, sc.Count)
	}
	seen := make(map[string]bool, len(s.Entries))
	for _, e := range s.Entries {
		if seen[e.Key] {
			return nil, fmt.Errorf("featio: %s: key %q listed twice", dir, e.Key)
		}
		seen[e.Key] = true
	}
	return s, nil
}

// readIndex parses index.csv: a header "key,path,frames,dims" and one row
// per utterance, path relative to dir with forward slashes.
func readIndex(name, dir string, r io.Reader) ([]Entry, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 4
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("featio: %s: %w", name, err)
	}
	if strings.Join(head, ",") != "key,path,frames,dims" {
		return nil, fmt.Errorf("featio: %s: header %q, want key,path,frames,dims", name, strings.Join(head, ","))
	}
	var out []Entry
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("featio: %s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		frames, err1 := strconv.Atoi(rec[2])
		dims, err2 := strconv.Atoi(rec[3])
		if err1 != nil || err2 != nil || frames < 0 || dims < 0 {
			return nil, fmt.Errorf("featio: %s:%d: bad frames or dims %q, %q", name, line, rec[2], rec[3])
		}
		if !filepath.IsLocal(filepath.FromSlash(rec[1])) {
			return nil, fmt.Errorf("featio: %s:%d: path %q is not inside the folder", name, line, rec[1])
		}
		out = append(out, Entry{Key: rec[0], Path: filepath.Join(dir, filepath.FromSlash(rec[1])), Frames: frames, Dims: dims})
	}
}

// Load reads the matrix of entry i and checks it against the index and
// the sidecar's dims.
func (s *Set) Load(i int) (Matrix, error) {
	e := s.Entries[i]
	var m Matrix
	var err error
	switch s.Sidecar.Format {
	case FormatArk:
		m, err = ReadArkMatrixAt(e.Path, e.Offset)
	case FormatNpy, FormatHTK:
		var b []byte
		b, err = regular.ReadFile(e.Path)
		if err != nil {
			return Matrix{}, fmt.Errorf("featio: %w", err)
		}
		if s.Sidecar.Format == FormatNpy {
			m, err = ReadNpy(e.Path, b)
		} else {
			m, _, err = ReadHTK(e.Path, b)
		}
	}
	if err != nil {
		return Matrix{}, err
	}
	if e.Frames >= 0 && (m.Rows != e.Frames || m.Cols != e.Dims) {
		return Matrix{}, fmt.Errorf("featio: %s: %d×%d, the index says %d×%d", e.Path, m.Rows, m.Cols, e.Frames, e.Dims)
	}
	if m.Rows > 0 && m.Cols != s.Sidecar.Dims {
		return Matrix{}, fmt.Errorf("featio: %s (%s): %d dims, %s says %d", e.Path, e.Key, m.Cols, SidecarName, s.Sidecar.Dims)
	}
	return m, nil
}
