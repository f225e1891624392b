package modelfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/nextsample/nextsample/audio/atomicfile"
	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/safetensors"
)

// File is the content of a model file: the model, every metadata entry
// (KeyModel included; the audio settings a caller stored beside it), and
// the extra tensors (optimizer state and the like) in file order.
type File struct {
	// Path is the file read ("" for one built by Decode).
	Path     string
	Model    *causalconv.Model
	Metadata map[string]string
	Extra    []safetensors.Tensor
}

// isExtraName reports whether name can be an extra tensor's: extras live
// in a namespace ("train/adam.m.post1.weight"), which no parameter name
// has, so that a stray or misspelt parameter is never taken for one.
func isExtraName(name string) bool {
	i := strings.IndexByte(name, '/')
	return i > 0 && i < len(name)-1
}

// Save writes m as a safetensors file: the parameters under their
// state_dict() names and shapes (F32), in state_dict() order, then the
// extra tensors, whose names must be namespaced with a slash
// ("train/step"). The metadata holds KeyModel (m.Config as JSON) plus
// meta, which must not set KeyModel itself.
func Save(w io.Writer, m *causalconv.Model, meta map[string]string, extra []safetensors.Tensor) error {
	cfg, err := ConfigJSON(m.Config)
	if err != nil {
		return err
	}
	all := make(map[string]string, len(meta)+1)
	for k, v := range meta {
		if k == KeyModel {
			return fmt.Errorf("metadata key %q is reserved for the model's configuration", k)
		}
		all[k] = v
	}
	all[KeyModel] = cfg
	tensors := make([]safetensors.Tensor, 0, len(m.Tensors())+len(extra))
	for _, t := range m.Tensors() {
		tensors = append(tensors, safetensors.FromFloat32(t.Name, t.Shape, m.Params[t.Offset:t.Offset+t.Size]))
	}
	for _, t := range extra {
		if !isExtraName(t.Name) {
			return fmt.Errorf("extra tensor %q: names of tensors that are not parameters must be namespaced, like \"train/%s\"", t.Name, t.Name)
		}
		tensors = append(tensors, t)
	}
	return safetensors.Write(w, all, tensors)
}

// ConfigJSON returns c as the JSON object stored under KeyModel (the
// "model" object of config.json).
func ConfigJSON(c causalconv.Config) (string, error) {
	b, err := json.Marshal(c)
	return string(b), err
}

// SaveFile writes m to path atomically (see Save): the file is written
// under a temporary name in the same directory, synced and renamed, so a
// reader sees the old file or the whole new one, and a failed save leaves
// nothing behind.
func SaveFile(path string, m *causalconv.Model, meta map[string]string, extra []safetensors.Tensor) error {
	return atomicfile.Write(path, func(w io.Writer) error { return Save(w, m, meta, extra) })
}

// Load reads a model file written by Save, or by PyTorch from the
// reference module's state_dict() (with the model's configuration under
// KeyModel). It refuses, naming the file, a file without that metadata,
// one whose tensors do not match it (a parameter missing, of the wrong
// shape or of a non-float type, or a tensor that is neither a parameter
// nor namespaced as an extra), and one with a parameter that is not
// finite. F16, BF16 and F64 parameters are converted to float32.
func Load(path string) (*File, error) {
	sf, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading model: %w", err)
	}
	f, err := Decode(sf)
	if err != nil {
		return nil, fmt.Errorf("loading model %s: %w", path, err)
	}
	if err := CheckFinite(f.Model); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.Path = path
	return f, nil
}

// CheckFinite refuses a model with a NaN or infinite parameter, naming
// its tensor: such a model predicts nothing, and training it further
// cannot recover.
func CheckFinite(m *causalconv.Model) error {
	for _, t := range m.Tensors() {
		for _, v := range m.Params[t.Offset : t.Offset+t.Size] {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("parameter tensor %s is not finite", t.Name)
			}
		}
	}
	return nil
}

// Decode builds a model from a parsed safetensors file, as Load does but
// without the check that the parameters are finite (CheckFinite), for a
// caller that describes or converts a file rather than uses it.
func Decode(sf *safetensors.File) (*File, error) {
	js, ok := sf.Metadata[KeyModel]
	if !ok {
		return nil, fmt.Errorf("no %q entry in the metadata: not a model file (a model file records its architecture there)", KeyModel)
	}
	cf, err := causalconv.ParseConfig([]byte(js))
	if err != nil {
		return nil, fmt.Errorf("metadata %q: %w", KeyModel, err)
	}
	out := &File{Metadata: sf.Metadata}
	heads := make([]TensorHeader, len(sf.Tensors))
	for i, t := range sf.Tensors {
		heads[i] = TensorHeader{Name: t.Name, DType: t.DType, Shape: t.Shape}
	}
	m, extra, err := Assemble(cf.Model, heads, func(i int, dst []float32) error { return sf.Tensors[i].Float32s(dst) })
	if err != nil {
		return nil, err
	}
	out.Model = m
	for _, i := range extra {
		out.Extra = append(out.Extra, sf.Tensors[i])
	}
	return out, nil
}

// TensorHeader is what Assemble needs to know of a stored tensor before
// reading it: its name, element type and shape.
type TensorHeader struct {
	Name  string
	DType safetensors.DType
	Shape []int
}

// Assemble builds a model of cfg from stored tensors named as the
// reference module's state_dict(): every parameter must be there, with its
// shape and a float element type; load(i, dst) then reads tensor i into
// the parameter's place (converting to float32). A tensor that is not a
// parameter is an error unless its name is namespaced ("train/step"); the
// indices of those extras are returned, in order. Tensors are checked
// before any is read, and the error lists the first few mismatches, so a
// state_dict of another architecture is told apart at once.
func Assemble(cfg causalconv.Config, tensors []TensorHeader, load func(i int, dst []float32) error) (*causalconv.Model, []int, error) {
	m, err := causalconv.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	byName := make(map[string]int, len(tensors))
	for i, t := range tensors {
		if _, dup := byName[t.Name]; dup {
			return nil, nil, fmt.Errorf("tensor %q appears twice", t.Name)
		}
		byName[t.Name] = i
	}
	var problems, missing []string
	used := make([]bool, len(tensors))
	for _, p := range m.Tensors() {
		i, ok := byName[p.Name]
		if !ok {
			missing = append(missing, p.Name)
			continue
		}
		used[i] = true
		st := tensors[i]
		switch {
		case !slices.Equal(st.Shape, p.Shape):
			problems = append(problems, fmt.Sprintf("tensor %q has shape %v, the model needs %v", p.Name, st.Shape, p.Shape))
		case !isFloat(st.DType):
			problems = append(problems, fmt.Sprintf("tensor %q is %s, not a float type (F32, F64, F16, BF16)", p.Name, st.DType))
		}
	}
	if len(missing) > 0 {
		more := ""
		if len(missing) > 3 {
			more = fmt.Sprintf(" and %d more", len(missing)-3)
			missing = missing[:3]
		}
		problems = append(problems, fmt.Sprintf("the model needs tensor %s%s, which the file lacks", strings.Join(quoteAll(missing), ", "), more))
	}
	var extra []int
	var strangers []string
	for i, t := range tensors {
		switch {
		case used[i]:
		case isExtraName(t.Name):
			extra = append(extra, i)
		default:
			strangers = append(strangers, t.Name)
		}
	}
	if len(strangers) > 0 {
		nor := ""
		if rest := strangers[1:]; len(rest) > 0 {
			more := ""
			if len(rest) > 3 {
				more = fmt.Sprintf(" and %d more", len(rest)-3)
				rest = rest[:3]
			}
			nor = fmt.Sprintf("nor are %s%s; ", strings.Join(quoteAll(rest), ", "), more)
		}
		problems = append(problems, fmt.Sprintf("tensor %q is not a parameter of the model (%sextra tensors must be namespaced, like \"train/...\")", strangers[0], nor))
	}
	if len(problems) > 0 {
		if len(problems) > 5 {
			problems = append(problems[:5], fmt.Sprintf("%d more problems", len(problems)-5))
		}
		return nil, nil, errors.New(strings.Join(problems, "; "))
	}
	for _, p := range m.Tensors() {
		if err := load(byName[p.Name], m.Params[p.Offset:p.Offset+p.Size]); err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", p.Name, err)
		}
	}
	return m, extra, nil
}

func isFloat(d safetensors.DType) bool {
	switch d {
	case safetensors.F32, safetensors.F64, safetensors.F16, safetensors.BF16:
		return true
	}
	return false
}

// ExtraTensor returns the named extra tensor, or nil.
func (f *File) ExtraTensor(name string) *safetensors.Tensor {
	for i := range f.Extra {
		if f.Extra[i].Name == name {
			return &f.Extra[i]
		}
	}
	return nil
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}
