// Package torchpt reads and writes the files PyTorch's torch.save makes of a
// state_dict, so that models move between nextsample and PyTorch without
// either side writing code.
//
// Since torch 1.6 torch.save writes a zip archive (stored, not compressed)
// with one folder, named after the file:
//
//	final/data.pkl      a pickle of the state_dict (an OrderedDict of tensors)
//	final/data/0        the raw bytes of storage "0", little-endian
//	final/data/1        ...
//	final/version       the archive format version ("3")
//	final/byteorder     "little" (torch ≥ 1.13; absent means little)
//
// Each tensor in the pickle is a call of torch._utils._rebuild_tensor_v2 with
// a persistent reference to its storage ('storage', torch.FloatStorage, "0",
// "cpu", numel), an element offset, a size and a stride.
//
// A pickle is a program: loading one with Python's pickle runs whatever
// functions it names. Read runs nothing. Its unpickler knows the dozen
// classes and functions a state_dict refers to and refuses every other
// name; it checks every length against the bytes left before allocating,
// every storage against its archive entry and every tensor's extent against
// its storage. Tensors are described, not loaded, until Load asks for one,
// so a file's claims cannot make Read allocate more than the pickle's own
// size; Load allocates exactly the tensor's bytes, which the storage holds.
//
// Write makes the same format from safetensors tensors: torch.load (torch
// ≥ 1.6, and with weights_only=True in torch ≥ 1.13) reads it into an
// OrderedDict that load_state_dict accepts.
package torchpt

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"slices"
	"strings"

	"github.com/nextsample/nextsample/audio/regular"
	"github.com/nextsample/nextsample/causalconv/safetensors"
)

// storageTypes maps a storage class to the element type it holds.
var storageTypes = map[string]safetensors.DType{
	"FloatStorage":    safetensors.F32,
	"DoubleStorage":   safetensors.F64,
	"HalfStorage":     safetensors.F16,
	"BFloat16Storage": safetensors.BF16,
	"LongStorage":     safetensors.I64,
	"IntStorage":      safetensors.I32,
	"ShortStorage":    safetensors.I16,
	"CharStorage":     safetensors.I8,
	"ByteStorage":     safetensors.U8,
	"BoolStorage":     safetensors.Bool,
}

// maxDims bounds a tensor's rank, as the safetensors reader does.
const maxDims = 64

// storage is one data/<key> entry of the archive.
type storage struct {
	key    string
	dtype  safetensors.DType
	numel  int64
	offset int64 // of the entry's bytes in the archive
}

// Tensor describes one tensor of the file: its key in the state_dict, its
// element type and shape, and where its elements are. Load reads them.
type Tensor struct {
	Name  string
	DType safetensors.DType
	Shape []int

	st     *storage
	offset int64   // in elements, into the storage
	stride []int64 // in elements
}

// NumElements is the product of the shape (1 for a scalar).
func (t *Tensor) NumElements() int {
	n := 1
	for _, s := range t.Shape {
		n *= s
	}
	return n
}

// newTensor checks _rebuild_tensor_v2's arguments against the storage.
func newTensor(st, off, size, stride any) (*Tensor, error) {
	s, ok := st.(*storage)
	if !ok {
		return nil, fmt.Errorf("tensor rebuilt from a %s, not a storage", typeName(st))
	}
	o, ok := off.(int64)
	if !ok || o < 0 {
		return nil, fmt.Errorf("tensor storage offset %v", off)
	}
	sz, ok1 := size.(tuple)
	sd, ok2 := stride.(tuple)
	if !ok1 || !ok2 || len(sz) != len(sd) || len(sz) > maxDims {
		return nil, errors.New("tensor size and stride are not tuples of the same length (at most 64)")
	}
	t := &Tensor{DType: s.dtype, st: s, offset: o, Shape: make([]int, len(sz)), stride: make([]int64, len(sd))}
	numel, last := int64(1), o // last: the largest element index used
	empty := false
	for i := range sz {
		n, ok1 := sz[i].(int64)
		d, ok2 := sd[i].(int64)
		if !ok1 || !ok2 || n < 0 || d < 0 {
			return nil, fmt.Errorf("tensor size %v stride %v", sz[i], sd[i])
		}
		if n > math.MaxInt32 {
			return nil, fmt.Errorf("tensor dimension %d is larger than its storage could be", n)
		}
		empty = empty || n == 0
	}
	for i := range sz {
		n, d := sz[i].(int64), sd[i].(int64)
		if empty {
			t.Shape[i], t.stride[i], numel = int(n), d, 0
			continue
		}
		if n > s.numel {
			return nil, fmt.Errorf("tensor dimension %d is larger than its storage of %d elements", n, s.numel)
		}
		t.Shape[i], t.stride[i] = int(n), d
		if n != 0 && numel > s.numel/n {
			return nil, fmt.Errorf("tensor of shape %v has more elements than its storage of %d (expanded views are not supported)", t.Shape[:i+1], s.numel)
		}
		numel *= n
	}
	if numel > 0 && o >= s.numel {
		return nil, fmt.Errorf("tensor offset %d is beyond its storage of %d elements", o, s.numel)
	}
	if numel > 0 {
		for i := range sz {
			n, d := int64(t.Shape[i]), t.stride[i]
			if n > 1 && d > (s.numel-1-last)/(n-1) {
				return nil, fmt.Errorf("tensor of shape %v, offset %d and stride %v reaches past its storage of %d elements", t.Shape, o, t.stride, s.numel)
			}
			last += (n - 1) * d
		}
	}
	return t, nil
}

// File is a torch.save archive, open for reading tensors.
type File struct {
	// Tensors of the state_dict, in the order torch.save wrote them.
	Tensors []Tensor
	// Found says where the state_dict was: "" when the file is one, or
	// the key of the checkpoint dictionary that held it ("state_dict",
	// "model", ...). StrippedPrefix is "module." when every key had that
	// prefix (a model saved from DataParallel) and it was removed.
	Found          string
	StrippedPrefix string

	r    io.ReaderAt
	name string
	c    io.Closer
}

// Open reads the archive at path; see Read. A path that is not a regular
// file (a named pipe, a device, a directory) is refused without blocking.
func Open(path string) (*File, error) {
	f, err := regular.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	pf, err := Read(f, fi.Size(), path)
	if err != nil {
		f.Close()
		return nil, err
	}
	pf.c = f
	return pf, nil
}

// Close releases the file opened by Open.
func (f *File) Close() error {
	if f.c == nil {
		return nil
	}
	return f.c.Close()
}

// Read parses a torch.save archive of size bytes from r; name is used in
// errors. The state_dict is the pickled object itself when it maps names to
// tensors, else the tensor map under one of the usual checkpoint keys
// (state_dict, model_state_dict, model, net, generator).
func Read(r io.ReaderAt, size int64, name string) (*File, error) {
	f, err := read(r, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f.r, f.name = r, name
	return f, nil
}

// legacyMagic starts the pickle of torch.save's pre-1.6 format: the
// integer 0x1950a86a20f9469cfc6c.
var legacyMagic = []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}

func read(r io.ReaderAt, size int64) (*File, error) {
	head := make([]byte, len(legacyMagic))
	if n, _ := r.ReadAt(head, 0); n >= 4 && !bytes.Equal(head[:4], []byte("PK\x03\x04")) {
		if n == len(head) && bytes.Equal(head, legacyMagic) {
			return nil, errors.New("a torch.save file in the legacy format (torch < 1.6, or _use_new_zipfile_serialization=False); load it in PyTorch and save it again with torch.save(state_dict, path)")
		}
		return nil, errors.New("not a PyTorch file: a torch.save file (torch ≥ 1.6) is a zip archive")
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("not a readable torch.save archive: %w", err)
	}
	// Find <prefix>/data.pkl; every other entry must be under the prefix.
	var pkl *zip.File
	entries := make(map[string]*zip.File, len(zr.File))
	for _, zf := range zr.File {
		entries[zf.Name] = zf
		if path.Base(zf.Name) == "data.pkl" && strings.Count(zf.Name, "/") == 1 {
			if pkl != nil {
				return nil, fmt.Errorf("archive holds two pickles, %s and %s", pkl.Name, zf.Name)
			}
			pkl = zf
		}
	}
	for _, zf := range zr.File {
		if strings.HasSuffix(zf.Name, "/constants.pkl") || strings.Contains(zf.Name, "/code/") {
			return nil, errors.New("a TorchScript archive (torch.jit.save), not a state_dict: save model.state_dict() with torch.save")
		}
	}
	if pkl == nil {
		return nil, errors.New("zip archive without a data.pkl: not a torch.save file")
	}
	prefix := strings.TrimSuffix(pkl.Name, "data.pkl")
	if bo, ok := entries[prefix+"byteorder"]; ok {
		b, err := readSmall(bo, 16)
		if err != nil {
			return nil, err
		}
		if string(b) != "little" {
			return nil, fmt.Errorf("byte order %q: only little-endian archives are read", b)
		}
	}
	data, err := readSmall(pkl, maxPickleBytes)
	if err != nil {
		return nil, err
	}
	storages := map[string]*storage{}
	persid := func(id tuple) (any, error) {
		if len(id) != 5 || id[0] != "storage" {
			return nil, fmt.Errorf("persistent id %v is not a storage reference", id)
		}
		g, ok1 := id[1].(global)
		key, ok2 := id[2].(string)
		numel, ok3 := id[4].(int64)
		if !ok1 || !ok2 || !ok3 || numel < 0 {
			return nil, errors.New("malformed storage reference")
		}
		dt, ok := storageTypes[g.name]
		if !ok || g.module != "torch" {
			return nil, fmt.Errorf("storage type %s is not one this reader knows", g)
		}
		if s, ok := storages[key]; ok {
			if s.dtype != dt || s.numel != numel {
				return nil, fmt.Errorf("storage %q referenced as %s[%d] and as %s[%d]", key, s.dtype, s.numel, dt, numel)
			}
			return s, nil
		}
		zf, ok := entries[prefix+"data/"+key]
		if !ok {
			return nil, fmt.Errorf("storage %q has no entry %sdata/%s in the archive", key, prefix, key)
		}
		if zf.Method != zip.Store {
			return nil, fmt.Errorf("storage %q is compressed (torch.save stores storages uncompressed; was the file re-zipped?)", key)
		}
		if want := uint64(numel) * uint64(dt.Size()); numel > size || zf.UncompressedSize64 != want || zf.CompressedSize64 != want {
			return nil, fmt.Errorf("storage %q should hold %d elements of %s (%d bytes), its archive entry has %d", key, numel, dt, uint64(numel)*uint64(dt.Size()), zf.UncompressedSize64)
		}
		off, err := zf.DataOffset()
		if err != nil {
			return nil, fmt.Errorf("storage %q: %w", key, err)
		}
		if off < 0 || off > size || int64(zf.UncompressedSize64) > size-off {
			return nil, fmt.Errorf("storage %q lies beyond the end of the file (truncated)", key)
		}
		s := &storage{key: key, dtype: dt, numel: numel, offset: off}
		storages[key] = s
		return s, nil
	}
	obj, err := unpickle(data, persid)
	if err != nil {
		return nil, err
	}
	f := &File{}
	sd, err := stateDict(obj, f)
	if err != nil {
		return nil, err
	}
	for i, k := range sd.keys {
		t := *sd.values[i].(*Tensor)
		t.Name = k.(string)
		f.Tensors = append(f.Tensors, t)
	}
	if len(f.Tensors) > 0 && !slices.ContainsFunc(f.Tensors, func(t Tensor) bool { return !strings.HasPrefix(t.Name, "module.") }) {
		f.StrippedPrefix = "module."
		for i := range f.Tensors {
			f.Tensors[i].Name = strings.TrimPrefix(f.Tensors[i].Name, "module.")
		}
	}
	return f, nil
}

// checkpointKeys are where training scripts keep the model's state_dict
// inside a checkpoint dictionary, in the order they are tried.
var checkpointKeys = []string{"state_dict", "model_state_dict", "model", "net", "generator"}

// stateDict finds the mapping of names to tensors in the pickled object.
func stateDict(obj any, f *File) (*dict, error) {
	d, ok := obj.(*dict)
	if !ok {
		return nil, fmt.Errorf("the file holds a %s, not a state_dict (save model.state_dict())", typeName(obj))
	}
	if isTensorMap(d) {
		return d, nil
	}
	for _, k := range checkpointKeys {
		if i, ok := d.index[k]; ok {
			if sub, ok := d.values[i].(*dict); ok && isTensorMap(sub) {
				f.Found = k
				return sub, nil
			}
		}
	}
	var keys []string
	for _, k := range d.keys {
		keys = append(keys, fmt.Sprint(k))
		if len(keys) == 8 {
			keys = append(keys, "...")
			break
		}
	}
	return nil, fmt.Errorf("the file holds a dictionary (keys %s) that is not a state_dict of tensors, nor has one under %s", strings.Join(keys, ", "), strings.Join(checkpointKeys, ", "))
}

func isTensorMap(d *dict) bool {
	if len(d.keys) == 0 {
		return false
	}
	for i, k := range d.keys {
		if _, ok := k.(string); !ok {
			return false
		}
		if _, ok := d.values[i].(*Tensor); !ok {
			return false
		}
	}
	return true
}

// readSmall reads a whole archive entry of at most limit bytes.
func readSmall(zf *zip.File, limit int) ([]byte, error) {
	if zf.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("archive entry %s of %d bytes is larger than the %d expected", zf.Name, zf.UncompressedSize64, limit)
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, fmt.Errorf("archive entry %s: %w", zf.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, int64(zf.UncompressedSize64)+1))
	if err != nil {
		return nil, fmt.Errorf("archive entry %s: %w", zf.Name, err)
	}
	if uint64(len(b)) != zf.UncompressedSize64 {
		return nil, fmt.Errorf("archive entry %s: %d bytes, the directory says %d", zf.Name, len(b), zf.UncompressedSize64)
	}
	return b, nil
}

// Tensor returns the tensor named name, or nil.
func (f *File) Tensor(name string) *Tensor {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i]
		}
	}
	return nil
}

// Load reads t's elements, row-major, as a safetensors tensor of t's
// element type (convert it with its Float32s or Int64s).
func (f *File) Load(t *Tensor) (safetensors.Tensor, error) {
	es := int64(t.DType.Size())
	n := int64(t.NumElements())
	out := safetensors.Tensor{Name: t.Name, DType: t.DType, Shape: slices.Clone(t.Shape), Data: make([]byte, n*es)}
	if n == 0 {
		return out, nil
	}
	// Read the span of the storage the tensor covers (within the storage,
	// checked by newTensor), then gather by the strides.
	last := t.offset
	for i, s := range t.Shape {
		last += int64(s-1) * t.stride[i]
	}
	span := make([]byte, (last-t.offset+1)*es)
	if _, err := f.r.ReadAt(span, t.st.offset+t.offset*es); err != nil {
		return safetensors.Tensor{}, fmt.Errorf("%s: tensor %q: %w", f.name, t.Name, err)
	}
	if contiguous(t.Shape, t.stride) {
		copy(out.Data, span)
		return out, nil
	}
	idx := make([]int, len(t.Shape))
	for k := int64(0); k < n; k++ {
		var at int64
		for i, v := range idx {
			at += int64(v) * t.stride[i]
		}
		copy(out.Data[k*es:(k+1)*es], span[at*es:])
		for i := len(idx) - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < t.Shape[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out, nil
}

// contiguous reports whether stride is the row-major stride of shape
// (ignoring dimensions of size 1, whose stride never matters).
func contiguous(shape []int, stride []int64) bool {
	want := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] != 1 && stride[i] != want {
			return false
		}
		want *= int64(shape[i])
	}
	return true
}
