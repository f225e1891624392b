package torchpt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"strconv"

	"github.com/nextsample/nextsample/audio/atomicfile"
	"github.com/nextsample/nextsample/causalconv/safetensors"
)

// archiveName is the folder of the archive's entries. torch.save names it
// after the file, but torch.load accepts any name; a fixed one makes the
// output depend on the tensors alone.
const archiveName = "archive"

// dataAlign is the alignment of storages in the archive, as torch.save
// writes them (so that they can be memory-mapped).
const dataAlign = 64

// Write writes tensors as a torch.save archive of an OrderedDict, in the
// given order, one storage per tensor. The element types with a torch
// storage class are accepted (F32, F64, F16, BF16, I64, I32, I16, I8, U8,
// BOOL); the bytes are copied as they are (safetensors and torch are both
// little-endian and row-major).
func Write(w io.Writer, tensors []safetensors.Tensor) error {
	var pk bytes.Buffer
	p := pickler{&pk}
	pk.WriteString("\x80\x02")
	p.global("collections", "OrderedDict")
	pk.WriteString(")R")
	if len(tensors) > 0 {
		pk.WriteByte('(')
	}
	for i, t := range tensors {
		cls := storageClass(t.DType)
		if cls == "" {
			return fmt.Errorf("tensor %q: element type %s has no torch storage class", t.Name, t.DType)
		}
		n := t.NumElements()
		if len(t.Data) != n*t.DType.Size() {
			return fmt.Errorf("tensor %q: %d bytes of data for shape %v of %s", t.Name, len(t.Data), t.Shape, t.DType)
		}
		p.str(t.Name)
		p.global("torch._utils", "_rebuild_tensor_v2")
		pk.WriteString("((")
		p.str("storage")
		p.global("torch", cls)
		p.str(strconv.Itoa(i))
		p.str("cpu")
		p.int(int64(n))
		pk.WriteString("tQ")
		p.int(0)
		stride := make([]int64, len(t.Shape))
		s := int64(1)
		for d := len(t.Shape) - 1; d >= 0; d-- {
			stride[d] = s
			s *= int64(t.Shape[d])
		}
		p.tuple(t.Shape, nil)
		p.tuple(nil, stride)
		pk.WriteByte(0x89) // requires_grad = False
		p.global("collections", "OrderedDict")
		pk.WriteString(")Rt") // backward_hooks = OrderedDict()
		pk.WriteByte('R')
	}
	if len(tensors) > 0 {
		pk.WriteByte('u')
	}
	pk.WriteByte('.')

	z := &zipWriter{w: w}
	z.add("data.pkl", pk.Bytes())
	z.add("byteorder", []byte("little"))
	for i, t := range tensors {
		z.add("data/"+strconv.Itoa(i), t.Data)
	}
	z.add("version", []byte("3\n"))
	return z.close()
}

// WriteFile writes tensors to path atomically (see Write).
func WriteFile(path string, tensors []safetensors.Tensor) error {
	return atomicfile.Write(path, func(w io.Writer) error { return Write(w, tensors) })
}

func storageClass(d safetensors.DType) string {
	for cls, dt := range storageTypes {
		if dt == d {
			return cls
		}
	}
	return ""
}

// pickler writes the few protocol-2 opcodes Write needs.
type pickler struct{ b *bytes.Buffer }

func (p pickler) global(mod, name string) { fmt.Fprintf(p.b, "c%s\n%s\n", mod, name) }

func (p pickler) str(s string) {
	p.b.WriteByte('X')
	binary.Write(p.b, binary.LittleEndian, uint32(len(s)))
	p.b.WriteString(s)
}

func (p pickler) int(v int64) {
	switch {
	case v >= 0 && v < 1<<8:
		p.b.WriteByte('K')
		p.b.WriteByte(byte(v))
	case v >= 0 && v < 1<<16:
		p.b.WriteByte('M')
		binary.Write(p.b, binary.LittleEndian, uint16(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		p.b.WriteByte('J')
		binary.Write(p.b, binary.LittleEndian, int32(v))
	default:
		p.b.WriteString("\x8a\x08")
		binary.Write(p.b, binary.LittleEndian, v)
	}
}

// tuple writes a tuple of the ints in a (or, when a is nil, in b).
func (p pickler) tuple(a []int, b []int64) {
	n := max(len(a), len(b))
	if n == 0 {
		p.b.WriteByte(')')
		return
	}
	p.b.WriteByte('(')
	for i := range n {
		if a != nil {
			p.int(int64(a[i]))
		} else {
			p.int(b[i])
		}
	}
	p.b.WriteByte('t')
}

// zipWriter writes an uncompressed zip archive whose entries' data start
// at multiples of dataAlign, as torch's PyTorchStreamWriter does: the
// padding is an extra field of the local header (ID "FB"). Timestamps are
// fixed, so equal input gives equal bytes.
type zipWriter struct {
	w       io.Writer
	off     int64
	central bytes.Buffer
	n       int
	err     error
}

const (
	dosDate = 1<<5 | 1 // 1980-01-01
	maxZip  = math.MaxUint32
)

func (z *zipWriter) write(b []byte) {
	if z.err != nil {
		return
	}
	_, z.err = z.w.Write(b)
	z.off += int64(len(b))
}

func (z *zipWriter) add(name string, data []byte) {
	name = archiveName + "/" + name
	if z.err != nil {
		return
	}
	if int64(len(data)) > maxZip || z.off > maxZip {
		z.err = fmt.Errorf("archive larger than 4 GiB (zip64 is not written)")
		return
	}
	crc := crc32.ChecksumIEEE(data)
	start := z.off
	hdr := 30 + int64(len(name))
	pad := (dataAlign - (start+hdr+4)%dataAlign) % dataAlign
	var h bytes.Buffer
	le := func(v any) { binary.Write(&h, binary.LittleEndian, v) }
	le(uint32(0x04034b50))
	le(uint16(20)) // version needed
	le(uint16(0))  // flags
	le(uint16(0))  // stored
	le(uint16(0))  // time
	le(uint16(dosDate))
	le(crc)
	le(uint32(len(data)))
	le(uint32(len(data)))
	le(uint16(len(name)))
	le(uint16(4 + pad))
	h.WriteString(name)
	le(uint16(0x4246)) // "FB": padding
	le(uint16(pad))
	h.Write(make([]byte, pad))
	z.write(h.Bytes())
	z.write(data)

	c := &z.central
	lc := func(v any) { binary.Write(c, binary.LittleEndian, v) }
	lc(uint32(0x02014b50))
	lc(uint16(20)) // made by
	lc(uint16(20)) // needed
	lc(uint16(0))
	lc(uint16(0))
	lc(uint16(0))
	lc(uint16(dosDate))
	lc(crc)
	lc(uint32(len(data)))
	lc(uint32(len(data)))
	lc(uint16(len(name)))
	lc(uint16(0)) // extra
	lc(uint16(0)) // comment
	lc(uint16(0)) // disk
	lc(uint16(0)) // internal attributes
	lc(uint32(0)) // external attributes
	lc(uint32(start))
	c.WriteString(name)
	z.n++
}

func (z *zipWriter) close() error {
	if z.err != nil {
		return z.err
	}
	if z.off > maxZip || z.n > math.MaxUint16 {
		return fmt.Errorf("archive larger than 4 GiB or 65535 entries (zip64 is not written)")
	}
	cdOff, cdLen := z.off, z.central.Len()
	z.write(z.central.Bytes())
	var e bytes.Buffer
	le := func(v any) { binary.Write(&e, binary.LittleEndian, v) }
	le(uint32(0x06054b50))
	le(uint16(0))
	le(uint16(0))
	le(uint16(z.n))
	le(uint16(z.n))
	le(uint32(cdLen))
	le(uint32(cdOff))
	le(uint16(0))
	z.write(e.Bytes())
	return z.err
}
