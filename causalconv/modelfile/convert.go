package modelfile

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"strings"

	"github.com/nextsample/nextsample/audio"
	"github.com/nextsample/nextsample/audio/atomicfile"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/safetensors"
	"github.com/nextsample/nextsample/causalconv/torchpt"
)

// Model file formats Convert reads and writes, chosen by extension.
const (
	FormatSafetensors = "safetensors" // .safetensors: ours, with metadata
	FormatTorch       = "torch"       // .pt, .pth: torch.save of a state_dict
)

// FormatOf returns the format of a model file path by its extension.
func FormatOf(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".safetensors":
		return FormatSafetensors, nil
	case ".pt", ".pth":
		return FormatTorch, nil
	}
	return "", fmt.Errorf("%s: unknown model file extension (want .safetensors, .pt or .pth)", path)
}

// ErrNoConfig is in the chain of Convert's error for an input that does
// not record its architecture (a state_dict, a .safetensors file without
// KeyModel) when ConvertOptions.Config is nil; a command adds how to give
// it.
var ErrNoConfig = errors.New("the model's architecture is unknown")

// ErrConfigDisagrees is Convert's error (in its chain) when
// ConvertOptions.Config is not the architecture its input records.
var ErrConfigDisagrees = errors.New("the input records a different architecture from the configuration given")

// needError is an error whose text is msg and whose chain holds need
// (ErrNoConfig, ErrNoSampleRate), so that a command can add how to give
// what is missing.
type needError struct {
	msg  string
	need error
}

func (e *needError) Error() string { return e.msg }
func (e *needError) Unwrap() error { return e.need }

// ConvertOptions says how Convert builds its output.
type ConvertOptions struct {
	// Config is the architecture of an input that does not record one:
	// a .pt state_dict, or a .safetensors file without KeyModel. For an
	// input that does record one it must agree, if given.
	Config *causalconv.Config
	// Audio sets the KeyAudio entry of a .safetensors output: the
	// settings start from the input's own (see ModelAudio; a .pt file has
	// none, so ReferenceSettings at Audio.SampleRate, which is then
	// required), and the changes given apply over them. A .pt output
	// takes none.
	Audio AudioChanges
}

// ConvertReport says what Convert did.
type ConvertReport struct {
	From, To string   // formats
	Params   int      // parameters written
	Audio    string   // the KeyAudio entry written ("" for a .pt output)
	Notes    []string // things the user should know (tensors left out, a prefix removed, ...)
}

// Convert converts the model file in to out, in the formats of their
// extensions (FormatOf):
//
//   - .pt/.pth → .safetensors: the state_dict is checked against
//     o.Config (names and shapes), converted to float32, and written with
//     KeyModel and KeyAudio metadata;
//   - .safetensors → .pt/.pth: the parameters, as an OrderedDict of
//     float32 tensors in state_dict() order that torch.load (also with
//     weights_only=True) reads and WaveNet.load_state_dict(strict=True)
//     accepts; extra tensors (training state) and metadata are left out,
//     so converting it back needs the architecture and the sample rate;
//   - .safetensors → .safetensors: the KeyAudio entry is set from the
//     options and everything else is kept as it is (in may equal out).
//
// Errors for what the caller must supply have ErrNoConfig or
// ErrNoSampleRate in their chain, and ErrConfigDisagrees when o.Config is
// not the input's. The output is written atomically: on any error nothing
// is left behind.
func Convert(in, out string, o ConvertOptions) (*ConvertReport, error) {
	from, err := FormatOf(in)
	if err != nil {
		return nil, err
	}
	to, err := FormatOf(out)
	if err != nil {
		return nil, err
	}
	rep := &ConvertReport{From: from, To: to}
	switch {
	case from == FormatTorch && to == FormatSafetensors:
		err = torchToSafetensors(in, out, o, rep)
	case from == FormatSafetensors && to == FormatTorch:
		err = safetensorsToTorch(in, out, o, rep)
	case from == FormatSafetensors && to == FormatSafetensors:
		err = rewriteSafetensors(in, out, o, rep)
	default:
		err = fmt.Errorf("%s and %s are both PyTorch files: there is nothing to convert", in, out)
	}
	if err != nil {
		return nil, err
	}
	return rep, nil
}

func torchToSafetensors(in, out string, o ConvertOptions, rep *ConvertReport) error {
	if o.Config == nil {
		return &needError{fmt.Sprintf("%s: a state_dict does not record the architecture (the dilations, for one)", in), ErrNoConfig}
	}
	if o.Audio.rate() == 0 {
		return &needError{fmt.Sprintf("%s: a state_dict does not record the sample rate", in), ErrNoSampleRate}
	}
	m, notes, err := LoadTorch(in, *o.Config)
	if err != nil {
		return err
	}
	rep.Notes = append(rep.Notes, notes...)
	if err := CheckFinite(m); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	s := o.Audio.Apply(ReferenceSettings(o.Audio.rate(), m.Config.QuantizationChannels))
	am, err := audioMetaFor(s, m)
	if err != nil {
		return err
	}
	rep.Audio, rep.Params = am, m.NumParams()
	return SaveFile(out, m, map[string]string{KeyAudio: am}, nil)
}

// LoadTorch reads the PyTorch state_dict in (a .pt or .pth file that
// torch.save wrote: a bare state_dict, or a checkpoint holding one under
// a usual key) as a model of architecture cfg, which its names and shapes
// must fit, converted to float32. notes say what was done beyond a plain
// read (a key's state_dict taken, a DataParallel prefix removed, tensors
// left out that are not parameters). The parameters are not checked to
// be finite (CheckFinite).
func LoadTorch(in string, cfg causalconv.Config) (m *causalconv.Model, notes []string, err error) {
	pf, err := torchpt.Open(in)
	if err != nil {
		return nil, nil, err
	}
	defer pf.Close()
	if pf.Found != "" {
		notes = append(notes, fmt.Sprintf("took the state_dict under the checkpoint's %q key", pf.Found))
	}
	if pf.StrippedPrefix != "" {
		notes = append(notes, fmt.Sprintf("removed the %q prefix of every key (a model saved from DataParallel)", pf.StrippedPrefix))
	}
	heads := make([]TensorHeader, len(pf.Tensors))
	for i, t := range pf.Tensors {
		heads[i] = TensorHeader{Name: t.Name, DType: t.DType, Shape: t.Shape}
	}
	m, extra, err := Assemble(cfg, heads, func(i int, dst []float32) error {
		st, err := pf.Load(&pf.Tensors[i])
		if err != nil {
			return err
		}
		return st.Float32s(dst)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%s does not match the configuration: %w", in, err)
	}
	for _, i := range extra {
		notes = append(notes, fmt.Sprintf("left out tensor %q, which is not a parameter", pf.Tensors[i].Name))
	}
	return m, notes, nil
}

func safetensorsToTorch(in, out string, o ConvertOptions, rep *ConvertReport) error {
	if o.Audio != (AudioChanges{}) {
		return fmt.Errorf("%s: a .pt state_dict holds no metadata, so audio settings have nowhere to go (give them when converting back to .safetensors)", out)
	}
	sf, err := safetensors.ReadFile(in)
	if err != nil {
		return err
	}
	m, extra, err := modelForConvert(in, sf, o.Config)
	if err != nil {
		return err
	}
	if len(extra) > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("left out %d tensors of training state (%s...)", len(extra), extra[0].Name))
	}
	ts := make([]safetensors.Tensor, 0, len(m.Tensors()))
	for _, t := range m.Tensors() {
		ts = append(ts, safetensors.FromFloat32(t.Name, t.Shape, m.Params[t.Offset:t.Offset+t.Size]))
	}
	rep.Params = m.NumParams()
	return torchpt.WriteFile(out, ts)
}

// modelForConvert builds the model of the .safetensors file in (parsed as
// sf), taking the architecture from its metadata or, for a file exported
// without one, from cfg. sf itself is not changed.
func modelForConvert(in string, sf *safetensors.File, cfg *causalconv.Config) (*causalconv.Model, []safetensors.Tensor, error) {
	_, has := sf.Metadata[KeyModel]
	if !has && cfg != nil {
		cj, err := ConfigJSON(*cfg)
		if err != nil {
			return nil, nil, err
		}
		meta := maps.Clone(sf.Metadata)
		if meta == nil {
			meta = map[string]string{}
		}
		meta[KeyModel] = cj
		withModel := *sf
		withModel.Metadata = meta
		sf = &withModel
	}
	f, err := Decode(sf)
	if err != nil {
		if !has && cfg == nil {
			return nil, nil, &needError{fmt.Sprintf("%s: %v", in, err), ErrNoConfig}
		}
		return nil, nil, fmt.Errorf("%s: %w", in, err)
	}
	if has && cfg != nil && !f.Model.Config.Equal(*cfg) {
		return nil, nil, fmt.Errorf("%s: %w", in, ErrConfigDisagrees)
	}
	if err := CheckFinite(f.Model); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", in, err)
	}
	return f.Model, f.Extra, nil
}

func rewriteSafetensors(in, out string, o ConvertOptions, rep *ConvertReport) error {
	sf, err := safetensors.ReadFile(in)
	if err != nil {
		return err
	}
	m, _, err := modelForConvert(in, sf, o.Config)
	if err != nil {
		return err
	}
	meta := maps.Clone(sf.Metadata)
	if meta == nil {
		meta = map[string]string{}
	}
	cj, err := ConfigJSON(m.Config)
	if err != nil {
		return err
	}
	meta[KeyModel] = cj
	s, _, err := ModelAudio(sf.Metadata, m, 0)
	if rate := o.Audio.rate(); err != nil {
		if rate == 0 {
			return fmt.Errorf("%s: %w", in, err)
		}
		// No "audio" or "sample_rate": start from the reference.
		s = ReferenceSettings(rate, m.Config.QuantizationChannels)
	}
	s = o.Audio.Apply(s)
	if meta[KeyAudio], err = audioMetaFor(s, m); err != nil {
		return err
	}
	if _, ok := meta[KeySampleRate]; ok {
		delete(meta, KeySampleRate)
		rep.Notes = append(rep.Notes, fmt.Sprintf("removed the %q entry: %q now says how audio is prepared", KeySampleRate, KeyAudio))
	}
	rep.Audio, rep.Params = meta[KeyAudio], m.NumParams()
	return atomicfile.Write(out, func(w io.Writer) error { return safetensors.Write(w, meta, sf.Tensors) })
}

// audioMetaFor returns the KeyAudio entry of s for model m, whose μ-law
// classes s must predict.
func audioMetaFor(s audio.Settings, m *causalconv.Model) (string, error) {
	if s.Quantization != m.Config.QuantizationChannels {
		return "", errors.New("the μ-law class count must be the model's quantization_channels")
	}
	return AudioMeta(s)
}
