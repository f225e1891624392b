package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// file builds a safetensors file from a literal header and data buffer.
func file(header string, data []byte) []byte {
	b := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func TestWriteGoldenBytes(t *testing.T) {
	var buf bytes.Buffer
	err := Write(&buf, map[string]string{"b": "2", "a": "<1>"}, []Tensor{
		FromFloat32("w", []int{2}, []float32{1, -2}),
		{Name: "s", DType: U8, Shape: []int{}, Data: []byte{7}},
	})
	if err != nil {
		t.Fatal(err)
	}
	hdr := `{"__metadata__":{"a":"<1>","b":"2"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"s":{"dtype":"U8","shape":[],"data_offsets":[8,9]}}`
	for len(hdr)%8 != 0 {
		hdr += " "
	}
	want := file(hdr, []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 7})
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("got\n%q\nwant\n%q", buf.Bytes(), want)
	}
}

func TestRoundTrip(t *testing.T) {
	in := []Tensor{
		FromFloat32("layer.0.weight", []int{2, 3, 1}, []float32{1, 2, 3, 4, 5, float32(math.Inf(-1))}),
		FromFloat64("loss", nil, []float64{math.Pi}),
		FromInt64("x", []int{4}, []int64{0, 255, -1, 1 << 40}),
		FromFloat32("empty", []int{0, 5}, nil),
	}
	meta := map[string]string{"model": `{"a":1}`, "note": "ünïcode \"quoted\"\n"}
	var buf bytes.Buffer
	if err := Write(&buf, meta, in); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Metadata, meta) {
		t.Errorf("metadata %v, want %v", f.Metadata, meta)
	}
	if len(f.Tensors) != len(in) {
		t.Fatalf("%d tensors, want %d", len(f.Tensors), len(in))
	}
	for i := range in {
		got, want := f.Tensors[i], in[i]
		if got.Name != want.Name || got.DType != want.DType || !bytes.Equal(got.Data, want.Data) ||
			len(got.Shape) != len(want.Shape) || (len(got.Shape) > 0 && !reflect.DeepEqual(got.Shape, want.Shape)) {
			t.Errorf("tensor %d: got %+v, want %+v", i, got, want)
		}
	}
	w := make([]float32, 6)
	if err := f.Tensor("layer.0.weight").Float32s(w); err != nil || w[4] != 5 || !math.IsInf(float64(w[5]), -1) {
		t.Errorf("Float32s = %v, %v", w, err)
	}
	x := make([]int64, 4)
	if err := f.Tensor("x").Int64s(x); err != nil || x[2] != -1 || x[3] != 1<<40 {
		t.Errorf("Int64s = %v, %v", x, err)
	}
	if f.Tensor("nope") != nil {
		t.Error("Tensor(nope) != nil")
	}

	// ReadFile must agree with Parse.
	path := filepath.Join(t.TempDir(), "a.safetensors")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, f) {
		t.Error("ReadFile and Parse disagree")
	}
}

func TestHalfConversions(t *testing.T) {
	cases := []struct {
		bits uint16
		want float32
	}{
		{0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504}, {0x0001, float32(math.Ldexp(1, -24))},
		{0x03ff, float32(math.Ldexp(1023, -24))}, {0x8000, float32(math.Copysign(0, -1))},
		{0x7c00, float32(math.Inf(1))}, {0x3555, 0.333251953125},
	}
	for _, c := range cases {
		tn := Tensor{Name: "h", DType: F16, Shape: []int{1}, Data: binary.LittleEndian.AppendUint16(nil, c.bits)}
		got := make([]float32, 1)
		if err := tn.Float32s(got); err != nil {
			t.Fatal(err)
		}
		if math.Float32bits(got[0]) != math.Float32bits(c.want) {
			t.Errorf("F16 %#04x = %g, want %g", c.bits, got[0], c.want)
		}
	}
	nan := Tensor{Name: "h", DType: F16, Shape: []int{1}, Data: []byte{0x01, 0x7e}}
	got := make([]float32, 1)
	if err := nan.Float32s(got); err != nil || !math.IsNaN(float64(got[0])) {
		t.Errorf("F16 NaN = %g, %v", got[0], err)
	}
	bf := Tensor{Name: "b", DType: BF16, Shape: []int{2}, Data: []byte{0x80, 0x3f, 0x49, 0x40}}
	got = make([]float32, 2)
	if err := bf.Float32s(got); err != nil || got[0] != 1 || got[1] != 3.140625 {
		t.Errorf("BF16 = %v, %v", got, err)
	}
	if err := (&Tensor{Name: "i", DType: I32, Shape: []int{1}, Data: make([]byte, 4)}).Float32s(got[:1]); err == nil {
		t.Error("Float32s of I32 did not fail")
	}
}

func TestParseRejects(t *testing.T) {
	f32 := func(off string) string { return `{"t":{"dtype":"F32","shape":[2],"data_offsets":` + off + `}}` }
	huge := make([]byte, 16)
	binary.LittleEndian.PutUint64(huge, math.MaxUint64)
	over := make([]byte, 16)
	binary.LittleEndian.PutUint64(over, MaxHeaderLen+1)
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"huge header length", huge, "exceeds the limit"},
		{"header over cap", over, "exceeds the limit"},
		{"header past end", file(`{}`, nil)[:9], "only 1 bytes follow"},
		{"not an object", file(`[1]`, nil), "not a JSON object"},
		{"bad json", file(`{"t":`, nil), "header"},
		{"bad utf8", file("{\"\xff\":1}", nil), "UTF-8"},
		{"trailing junk", file(`{} x`, nil), "trailing"},
		{"two objects", file(`{}{}`, nil), "trailing"},
		{"duplicate key", file(`{"t":{"dtype":"U8","shape":[],"data_offsets":[0,1]},"t":{"dtype":"U8","shape":[],"data_offsets":[1,2]}}`, []byte{1, 2}), "twice"},
		{"unknown dtype", file(`{"t":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), "unknown dtype"},
		{"missing field", file(`{"t":{"dtype":"F32","shape":[1]}}`, make([]byte, 4)), "needs dtype"},
		{"unknown field", file(`{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, make([]byte, 4)), "unknown field"},
		{"negative dim", file(`{"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, make([]byte, 4)), "tensor \"t\""},
		{"fractional dim", file(`{"t":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, make([]byte, 4)), "tensor \"t\""},
		{"shape overflow", file(`{"t":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,4]}}`, make([]byte, 4)), "overflows"},
		{"size overflow", file(`{"t":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}}`, nil), "needs"},
		{"shape/bytes mismatch", file(f32(`[0,4]`), make([]byte, 4)), "needs 2×4 bytes"},
		{"reversed offsets", file(f32(`[8,0]`), make([]byte, 8)), "end before"},
		{"offsets past end", file(f32(`[0,8]`), make([]byte, 4)), "describes 8 bytes"},
		{"extra data", file(f32(`[0,8]`), make([]byte, 12)), "describes 8 bytes"},
		{"three offsets", file(`{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}`, make([]byte, 1)), "data_offsets must be"},
		{"gap", file(f32(`[4,12]`), make([]byte, 12)), "gap"},
		{"overlap", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)), "overlaps"},
		{"metadata not strings", file(`{"__metadata__":{"a":1}}`, nil), "must be a string"},
		{"metadata not object", file(`{"__metadata__":[]}`, nil), "object of strings"},
		{"empty name", file(`{"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, make([]byte, 1)), "empty tensor name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.data)
			if err == nil {
				t.Fatalf("Parse accepted it")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
			// Read must refuse the same inputs.
			if _, err := Read(bytes.NewReader(c.data), int64(len(c.data))); err == nil {
				t.Errorf("Read accepted it")
			}
		})
	}
}

func TestWriteRejects(t *testing.T) {
	good := FromFloat32("a", []int{1}, []float32{1})
	cases := map[string][]Tensor{
		"duplicate":  {good, good},
		"bad dtype":  {{Name: "x", DType: "F7", Shape: []int{1}, Data: []byte{1}}},
		"short data": {{Name: "x", DType: F32, Shape: []int{2}, Data: make([]byte, 4)}},
		"reserved":   {{Name: MetadataKey, DType: U8, Shape: []int{1}, Data: []byte{1}}},
		"empty name": {{Name: "", DType: U8, Shape: []int{1}, Data: []byte{1}}},
		"negative":   {{Name: "x", DType: U8, Shape: []int{-1}, Data: nil}},
	}
	for name, ts := range cases {
		if err := Write(&bytes.Buffer{}, nil, ts); err == nil {
			t.Errorf("%s: Write accepted it", name)
		}
	}
}

// TestReadDoesNotTrustLength checks that a header claiming a huge data buffer
// is refused from the file size alone, before the buffer is allocated.
func TestReadDoesNotTrustLength(t *testing.T) {
	data := file(`{"t":{"dtype":"F32","shape":[1000000000],"data_offsets":[0,4000000000]}}`, nil)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := Read(bytes.NewReader(data), int64(len(data))); err == nil {
		t.Fatal("accepted")
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("Read allocated %d bytes before refusing", d)
	}
}

// FuzzParse feeds arbitrary bytes to Parse and Read: neither may panic, they
// must agree, and whatever they accept must survive Write and a second Parse.
// The committed seed corpus (testdata/fuzz/FuzzParse) holds one valid file
// and one of each kind of damage TestParseRejects names: truncated data, a
// huge header length, overlapping offsets, a gap, an unknown dtype, a shape
// that overflows, a duplicate key, non-string metadata, and so on.
func FuzzParse(f *testing.F) {
	var good bytes.Buffer
	_ = Write(&good, map[string]string{"k": "v"}, []Tensor{
		FromFloat32("a", []int{2}, []float32{1, 2}),
		{Name: "b", DType: BF16, Shape: []int{1, 1}, Data: []byte{0x80, 0x3f}},
	})
	f.Add(good.Bytes())
	f.Add(good.Bytes()[:good.Len()-1])
	f.Add(file(`{}`, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		pf, err := Parse(data)
		rf, rerr := Read(bytes.NewReader(data), int64(len(data)))
		if (err == nil) != (rerr == nil) {
			t.Fatalf("Parse error %v, Read error %v", err, rerr)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(pf, rf) {
			t.Fatal("Parse and Read disagree")
		}
		// Whatever parses must survive a write and a second parse unchanged.
		var out bytes.Buffer
		if err := Write(&out, pf.Metadata, pf.Tensors); err != nil {
			t.Fatalf("re-write: %v", err)
		}
		again, err := Parse(out.Bytes())
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if len(again.Tensors) != len(pf.Tensors) || len(again.Metadata) != len(pf.Metadata) {
			t.Fatal("round trip changed the file")
		}
		for i := range pf.Tensors {
			a, b := pf.Tensors[i], again.Tensors[i]
			if a.Name != b.Name || a.DType != b.DType || !bytes.Equal(a.Data, b.Data) || len(a.Shape) != len(b.Shape) {
				t.Fatalf("tensor %d changed in the round trip", i)
			}
			for j := range a.Shape {
				if a.Shape[j] != b.Shape[j] {
					t.Fatalf("tensor %d shape changed in the round trip", i)
				}
			}
		}
		for k, v := range pf.Metadata {
			if again.Metadata[k] != v {
				t.Fatalf("metadata %q changed in the round trip", k)
			}
		}
	})
}
