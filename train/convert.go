package train

import (
	"encoding/json"
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

// ConvertOptions says how Convert builds its output.
type ConvertOptions struct {
	// Config is the architecture of an input that does not record one:
	// a .pt state_dict, or a .safetensors file without "model" metadata.
	// For an input that does record one it must agree, if given.
	Config *causalconv.Config
	// SampleRate (Hz, 0 for none) and EditAudio set the "audio" metadata
	// of a .safetensors output. The settings start from the input's own
	// (see ModelAudio; a .pt file has none, so ReferenceSettings at
	// SampleRate, which is then required), and EditAudio, if not nil,
	// changes what the command's flags say.
	SampleRate int
	EditAudio  func(*audio.Settings)
}

// ConvertReport says what Convert did.
type ConvertReport struct {
	From, To string   // formats
	Params   int      // parameters written
	Audio    string   // the "audio" metadata written ("" for a .pt output)
	Notes    []string // things the user should know (tensors left out, a prefix removed, ...)
}

// Convert converts the model file in to out, in the formats of their
// extensions (FormatOf):
//
//   - .pt/.pth → .safetensors: the state_dict is checked against
//     o.Config (names and shapes), converted to float32, and written with
//     "model" and "audio" metadata;
//   - .safetensors → .pt/.pth: the parameters, as an OrderedDict of
//     float32 tensors in state_dict() order that torch.load (also with
//     weights_only=True) reads and WaveNet.load_state_dict(strict=True)
//     accepts; extra tensors (training state) and metadata are left out;
//   - .safetensors → .safetensors: the "audio" metadata is set from the
//     options and everything else is kept as it is (in may equal out).
//
// The output is written atomically: on any error nothing is left behind.
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
		return fmt.Errorf("%s: a state_dict does not record the architecture (the dilations, for one): give the model configuration with --config (and --variant for a whole config.json with variants)", in)
	}
	if o.SampleRate == 0 {
		return fmt.Errorf("%s: a state_dict does not record the sample rate: give it with --sample-rate HZ", in)
	}
	pf, err := torchpt.Open(in)
	if err != nil {
		return err
	}
	defer pf.Close()
	if pf.Found != "" {
		rep.Notes = append(rep.Notes, fmt.Sprintf("took the state_dict under the checkpoint's %q key", pf.Found))
	}
	if pf.StrippedPrefix != "" {
		rep.Notes = append(rep.Notes, fmt.Sprintf("removed the %q prefix of every key (a model saved from DataParallel)", pf.StrippedPrefix))
	}
	heads := make([]causalconv.TensorHeader, len(pf.Tensors))
	for i, t := range pf.Tensors {
		heads[i] = causalconv.TensorHeader{Name: t.Name, DType: t.DType, Shape: t.Shape}
	}
	m, extra, err := causalconv.Assemble(*o.Config, heads, func(i int, dst []float32) error {
		st, err := pf.Load(&pf.Tensors[i])
		if err != nil {
			return err
		}
		return st.Float32s(dst)
	})
	if err != nil {
		return fmt.Errorf("%s does not match the configuration: %w", in, err)
	}
	for _, i := range extra {
		rep.Notes = append(rep.Notes, fmt.Sprintf("left out tensor %q, which is not a parameter", pf.Tensors[i].Name))
	}
	if err := checkFinite(m); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	s := ReferenceSettings(o.SampleRate, m.Config.QuantizationChannels)
	if o.EditAudio != nil {
		o.EditAudio(&s)
	}
	meta, err := audioMeta(s, m)
	if err != nil {
		return err
	}
	rep.Audio, rep.Params = meta[MetaAudio], m.NumParams()
	return causalconv.SaveFile(out, m, meta, nil)
}

func safetensorsToTorch(in, out string, o ConvertOptions, rep *ConvertReport) error {
	if o.SampleRate != 0 || o.EditAudio != nil {
		return fmt.Errorf("%s: a .pt state_dict holds no metadata, so audio flags have nowhere to go (give them when converting back to .safetensors)", out)
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
	rep.Notes = append(rep.Notes, "a .pt file keeps only the tensors: give --config and --sample-rate to convert it back")
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
	_, has := sf.Metadata[causalconv.MetadataModel]
	if !has && cfg != nil {
		cj, err := json.Marshal(cfg)
		if err != nil {
			return nil, nil, err
		}
		meta := maps.Clone(sf.Metadata)
		if meta == nil {
			meta = map[string]string{}
		}
		meta[causalconv.MetadataModel] = string(cj)
		withModel := *sf
		withModel.Metadata = meta
		sf = &withModel
	}
	f, err := causalconv.Decode(sf)
	if err != nil {
		if !has && cfg == nil {
			err = fmt.Errorf("%w; for a file exported without it, give the configuration with --config", err)
		}
		return nil, nil, fmt.Errorf("%s: %w", in, err)
	}
	if has && cfg != nil && !f.Model.Config.Equal(*cfg) {
		return nil, nil, fmt.Errorf("%s records a different architecture from --config (leave --config out: the file's own is used)", in)
	}
	if err := checkFinite(f.Model); err != nil {
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
	cj, err := m.ConfigJSON()
	if err != nil {
		return err
	}
	meta[causalconv.MetadataModel] = cj
	s, _, err := ModelAudio(sf.Metadata, m, 0)
	if err != nil && o.SampleRate == 0 {
		return fmt.Errorf("%s: %w", in, err)
	}
	if o.SampleRate != 0 {
		if err != nil { // no "audio" or "sample_rate": start from the reference
			s = ReferenceSettings(o.SampleRate, m.Config.QuantizationChannels)
		}
		s.SampleRate = o.SampleRate
	}
	if o.EditAudio != nil {
		o.EditAudio(&s)
	}
	am, err := audioMeta(s, m)
	if err != nil {
		return err
	}
	meta[MetaAudio] = am[MetaAudio]
	if _, ok := meta[MetaSampleRate]; ok {
		delete(meta, MetaSampleRate)
		rep.Notes = append(rep.Notes, fmt.Sprintf("removed the %q entry: %q now says how audio is prepared", MetaSampleRate, MetaAudio))
	}
	rep.Audio, rep.Params = meta[MetaAudio], m.NumParams()
	return atomicfile.Write(out, func(w io.Writer) error { return safetensors.Write(w, meta, sf.Tensors) })
}

func audioMeta(s audio.Settings, m *causalconv.Model) (map[string]string, error) {
	if s.Quantization != m.Config.QuantizationChannels {
		return nil, errors.New("the μ-law class count must be the model's quantization_channels")
	}
	js, err := AudioMeta(s)
	if err != nil {
		return nil, err
	}
	return map[string]string{MetaAudio: js}, nil
}
