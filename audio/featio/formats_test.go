package featio

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The matrices of testdata/gen_golden.py.
var (
	goldenA = Matrix{Rows: 3, Cols: 4, Data: []float32{
		0, float32(math.Copysign(0, -1)), 1, -1.5,
		0.1, 3.1415927, 1e-05, -2.5e-08,
		123456.7, 1e10, 65504, -7.25,
	}}
	goldenB = func() Matrix {
		m := NewMatrix(2, 5)
		for i := range m.Data {
			m.Data[i] = (float32(i) - 4.5) / 8
		}
		return m
	}()
	goldenEmpty = Matrix{}
	goldenKeys  = []string{"utt-a", "spk2/utt_b", "empty"}
	goldenMats  = []Matrix{goldenA, goldenB, goldenEmpty}
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameMatrix compares bit patterns, so -0 and NaN count.
func sameMatrix(a, b Matrix) bool {
	if a.Rows != b.Rows || a.Cols != b.Cols || len(a.Data) != len(b.Data) {
		return false
	}
	for i := range a.Data {
		if math.Float32bits(a.Data[i]) != math.Float32bits(b.Data[i]) {
			return false
		}
	}
	return true
}

// TestArkHeaderBytes spells out the binary layout by hand.
func TestArkHeaderBytes(t *testing.T) {
	var buf bytes.Buffer
	n, err := WriteArkEntry(&buf, "k", Matrix{Rows: 2, Cols: 1, Data: []float32{1, -2}})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		'k', ' ', 0, 'B', 'F', 'M', ' ',
		4, 2, 0, 0, 0, // rows
		4, 1, 0, 0, 0, // cols
		0x00, 0x00, 0x80, 0x3f, // 1.0
		0x00, 0x00, 0x00, 0xc0, // -2.0
	}
	if !bytes.Equal(buf.Bytes(), want) || n != int64(len(want)) {
		t.Fatalf("got % x (%d), want % x", buf.Bytes(), n, want)
	}
}

func TestArkGolden(t *testing.T) {
	var ark, txt, scp bytes.Buffer
	var off int64
	for i, key := range goldenKeys {
		n, err := WriteArkEntry(&ark, key, goldenMats[i])
		if err != nil {
			t.Fatal(err)
		}
		scp.WriteString(key + " dir/feats.ark:" + strconv.FormatInt(off+int64(len(key))+1, 10) + "\n")
		off += n
		if err := WriteArkTextEntry(&txt, key, goldenMats[i]); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		got  []byte
	}{{"golden.ark", ark.Bytes()}, {"golden.txt", txt.Bytes()}, {"golden.scp", scp.Bytes()}} {
		if want := readTestdata(t, c.name); !bytes.Equal(c.got, want) {
			t.Errorf("%s differs from Python's:\n got %q\nwant %q", c.name, c.got, want)
		}
	}

	// Read back both forms, and the scp offsets.
	for _, name := range []string{"golden.ark", "golden.txt"} {
		entries, err := ReadArk(name, readTestdata(t, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != len(goldenKeys) {
			t.Fatalf("%s: %d entries", name, len(entries))
		}
		for i, e := range entries {
			if e.Key != goldenKeys[i] {
				t.Errorf("%s: key %q, want %q", name, e.Key, goldenKeys[i])
			}
			want := goldenMats[i]
			if name == "golden.txt" && i == 0 {
				// Text keeps 7 significant digits: 3.1415927 → 3.141593.
				want = Matrix{Rows: 3, Cols: 4, Data: append([]float32(nil), goldenA.Data...)}
				want.Data[5] = 3.141593
			}
			if !sameMatrix(e.Matrix, want) {
				t.Errorf("%s %s: read %v, want %v", name, e.Key, e.Matrix, want)
			}
		}
	}
	scpEntries, err := ReadScp("golden.scp", readTestdata(t, "golden.scp"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	arkPath := filepath.Join(dir, "feats.ark")
	os.WriteFile(arkPath, readTestdata(t, "golden.ark"), 0o644)
	for i, e := range scpEntries {
		if e.Key != goldenKeys[i] || e.Path != "dir/feats.ark" {
			t.Errorf("scp line %d: %+v", i, e)
		}
		m, err := ReadArkMatrixAt(arkPath, e.Offset)
		if err != nil {
			t.Fatal(err)
		}
		if !sameMatrix(m, goldenMats[i]) {
			t.Errorf("matrix at offset %d: %v", e.Offset, m)
		}
	}
	if _, err := ReadArkMatrixAt(arkPath, 3); err == nil {
		t.Error("offset 3 (inside a key) accepted")
	}
	if _, err := ReadArkMatrixAt(arkPath, 1<<20); err == nil {
		t.Error("offset beyond the file accepted")
	}
}

func TestArkDoubleAndErrors(t *testing.T) {
	// A DM (double) entry is read and converted.
	var b []byte
	b = append(b, "d \x00BDM \x04"...)
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = append(b, 4)
	b = binary.LittleEndian.AppendUint32(b, 2)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(0.5))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(-3))
	entries, err := ReadArk("dm", b)
	if err != nil || len(entries) != 1 || !sameMatrix(entries[0].Matrix, Matrix{1, 2, []float32{0.5, -3}}) {
		t.Fatalf("DM: %v %v", entries, err)
	}

	bad := map[string]string{
		"no space":        "key",
		"truncated data":  "k \x00BFM \x04\x02\x00\x00\x00\x04\x02\x00\x00\x00\x00\x00\x80\x3f",
		"huge rows":       "k \x00BFM \x04\xff\xff\xff\x7f\x04\xff\xff\xff\x7f",
		"negative":        "k \x00BFM \x04\xff\xff\xff\xff\x04\x01\x00\x00\x00",
		"half empty":      "k \x00BFM \x04\x00\x00\x00\x00\x04\x01\x00\x00\x00",
		"compressed":      "k \x00BCM \x04\x00\x00\x00\x00\x04\x00\x00\x00\x00",
		"bad size byte":   "k \x00BFM \x08\x00\x00\x00\x00\x04\x00\x00\x00\x00",
		"text unclosed":   "k [ 1 2 \n 3 4 ",
		"text ragged":     "k [ 1 2 \n 3 ]\n",
		"text not number": "k [ 1 x ]\n",
		"neither":         "k {1}",
		"tab after key":   "k\t[ 1 ]",
	}
	for name, in := range bad {
		if _, err := ReadArk(name, []byte(in)); err == nil {
			t.Errorf("%s: accepted %q", name, in)
		} else if !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error does not name the file: %v", name, err)
		}
	}
	// Text specials and Kaldi's tolerance of "[]" and ';' row ends.
	entries, err = ReadArk("specials", []byte("a [ inf -inf nan ; 1 2 3 ]\nb []\n"))
	if err != nil || len(entries) != 2 || entries[0].Matrix.Rows != 2 || !math.IsNaN(float64(entries[0].Matrix.Data[2])) || entries[1].Matrix.Rows != 0 {
		t.Fatalf("specials: %+v %v", entries, err)
	}
	var txt bytes.Buffer
	WriteArkTextEntry(&txt, "s", entries[0].Matrix)
	if got, want := txt.String(), "s  [\n  inf -inf nan \n  1 2 3 ]\n"; got != want {
		t.Errorf("specials text %q, want %q", got, want)
	}
}

func TestCheckKey(t *testing.T) {
	for _, k := range []string{"", "a b", "a\tb", "a\nb", "\x00", "\xff"} {
		if CheckKey(k) == nil {
			t.Errorf("key %q accepted", k)
		}
	}
	for _, k := range []string{"a", "spk/utt-1_2.x", "düsseldorf"} {
		if err := CheckKey(k); err != nil {
			t.Errorf("key %q: %v", k, err)
		}
	}
	if _, err := WriteArkEntry(&bytes.Buffer{}, "a b", goldenA); err == nil {
		t.Error("WriteArkEntry accepted a key with a space")
	}
	if _, err := WriteArkEntry(&bytes.Buffer{}, "a", Matrix{Rows: 2, Cols: 2, Data: []float32{1}}); err == nil {
		t.Error("WriteArkEntry accepted a matrix whose data does not match its shape")
	}
}

func TestNpyGolden(t *testing.T) {
	for _, c := range []struct {
		file string
		m    Matrix
	}{
		{"golden_a.npy", goldenA},
		{"golden_b.npy", goldenB},
		{"golden_empty.npy", Matrix{Rows: 0, Cols: 23, Data: []float32{}}},
		{"golden_tall.npy", Matrix{Rows: 1234567, Cols: 0, Data: []float32{}}},
	} {
		var buf bytes.Buffer
		if err := WriteNpy(&buf, c.m); err != nil {
			t.Fatal(err)
		}
		want := readTestdata(t, c.file)
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s differs from numpy.save:\n got %q\nwant %q", c.file, buf.Bytes(), want)
		}
		if (10+int(binary.LittleEndian.Uint16(want[8:])))%64 != 0 {
			t.Errorf("%s: data not 64-byte aligned", c.file)
		}
		back, err := ReadNpy(c.file, want)
		if err != nil {
			t.Fatal(err)
		}
		if !sameMatrix(back, c.m) {
			t.Errorf("%s: read %v×%v", c.file, back.Rows, back.Cols)
		}
	}
}

func TestNpyVariants(t *testing.T) {
	mk := func(version byte, dict string, data []byte) []byte {
		b := []byte("\x93NUMPY")
		b = append(b, version, 0)
		if version == 1 {
			b = binary.LittleEndian.AppendUint16(b, uint16(len(dict)))
		} else {
			b = binary.LittleEndian.AppendUint32(b, uint32(len(dict)))
		}
		return append(append(b, dict...), data...)
	}
	f64 := func(order binary.AppendByteOrder, vs ...float64) []byte {
		var b []byte
		for _, v := range vs {
			b = order.AppendUint64(b, math.Float64bits(v))
		}
		return b
	}
	// 2×3 in Fortran order, big-endian float64, version 2.
	data := f64(binary.BigEndian, 1, 4, 2, 5, 3, 6)
	m, err := ReadNpy("f", mk(2, "{'shape': (2, 3), 'fortran_order': True, 'descr': '>f8'}\n", data))
	if err != nil || !sameMatrix(m, Matrix{2, 3, []float32{1, 2, 3, 4, 5, 6}}) {
		t.Fatalf("fortran f8: %v %v", m, err)
	}
	bad := map[string][]byte{
		"1-D":         mk(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", make([]byte, 12)),
		"int dtype":   mk(1, "{'descr': '<i2', 'fortran_order': False, 'shape': (1, 1), }\n", make([]byte, 2)),
		"short data":  mk(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }\n", make([]byte, 12)),
		"long data":   mk(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }\n", make([]byte, 8)),
		"huge shape":  mk(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 1), }\n", nil),
		"huge shape2": mk(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2147483647, 2147483647), }\n", nil),
		"no shape":    mk(1, "{'descr': '<f4', 'fortran_order': False}\n", nil),
		"extra key":   mk(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), 'x': 1}\n", make([]byte, 4)),
		"struct":      mk(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1, 1)}\n", make([]byte, 4)),
		"version 9":   mk(9, "{}", nil),
		"magic":       []byte("\x93NUMPZ\x01\x00\x00\x00"),
		"hlen":        []byte("\x93NUMPY\x01\x00\xff\x00{"),
	}
	for name, in := range bad {
		if _, err := ReadNpy(name, in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestHTKGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteHTK(&buf, goldenA, 100000, HTKUser); err != nil {
		t.Fatal(err)
	}
	want := readTestdata(t, "golden_user.htk")
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("golden_user.htk differs:\n got % x\nwant % x", buf.Bytes(), want)
	}
	// The header by hand: 3 frames, 10 ms, 16 bytes per frame, USER.
	if hdr := []byte{0, 0, 0, 3, 0, 1, 0x86, 0xa0, 0, 16, 0, 9}; !bytes.Equal(buf.Bytes()[:12], hdr) {
		t.Errorf("header % x, want % x", buf.Bytes()[:12], hdr)
	}
	buf.Reset()
	kind := uint16(HTKMFCC | HTKQualE | HTKQual0)
	if err := WriteHTK(&buf, goldenB, 200000, kind); err != nil {
		t.Fatal(err)
	}
	if want := readTestdata(t, "golden_mfcc_e0.htk"); !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("golden_mfcc_e0.htk differs")
	}
	for _, c := range []struct {
		file   string
		m      Matrix
		period int32
		kind   uint16
	}{{"golden_user.htk", goldenA, 100000, HTKUser}, {"golden_mfcc_e0.htk", goldenB, 200000, kind}} {
		m, h, err := ReadHTK(c.file, readTestdata(t, c.file))
		if err != nil {
			t.Fatal(err)
		}
		if !sameMatrix(m, c.m) || h.SampPeriod != c.period || h.ParmKind != c.kind || int(h.SampSize) != 4*c.m.Cols {
			t.Errorf("%s: %+v %v", c.file, h, m)
		}
	}
	hdr := func(n, period int32, size int16, kind uint16) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(n))
		b = binary.BigEndian.AppendUint32(b, uint32(period))
		b = binary.BigEndian.AppendUint16(b, uint16(size))
		return binary.BigEndian.AppendUint16(b, kind)
	}
	bad := map[string][]byte{
		"short":      {0, 0, 0},
		"truncated":  append(hdr(2, 100000, 8, HTKUser), make([]byte, 12)...),
		"huge":       hdr(math.MaxInt32, 100000, 32764, HTKUser),
		"negative":   hdr(-1, 100000, 8, HTKUser),
		"odd size":   append(hdr(1, 100000, 6, HTKUser), make([]byte, 6)...),
		"zero size":  hdr(1, 100000, 0, HTKUser),
		"waveform":   append(hdr(1, 100000, 2, HTKWaveform), 0, 0),
		"compressed": append(hdr(1, 100000, 4, HTKUser|HTKQualC), 0, 0, 0, 0),
		"checksum":   append(hdr(1, 100000, 4, HTKUser|HTKQualK), 0, 0, 0, 0, 0, 0),
	}
	for name, in := range bad {
		if _, _, err := ReadHTK(name, in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := WriteHTK(&bytes.Buffer{}, NewMatrix(1, 9000), 100000, HTKUser); err == nil {
		t.Error("9000-dim HTK frame accepted (sampSize is int16)")
	}
}
