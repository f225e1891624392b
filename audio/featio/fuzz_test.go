package featio

import (
	"bytes"
	"testing"
)

// The fuzz targets feed arbitrary bytes to the readers. Besides "no
// panic", each checks that whatever is accepted survives a write and a
// second read unchanged, and that the result is no larger than the input
// allows (sizes are validated before allocation). Seed inputs are the
// golden files plus the interesting cases under testdata/fuzz/FuzzXxx.

func FuzzReadArk(f *testing.F) {
	for _, name := range []string{"golden.ark", "golden.txt"} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte("k \x00BFM \x04\xff\xff\xff\x7f\x04\xff\xff\xff\x7f"))
	f.Add([]byte("k \x00BDM \x04\x01\x00\x00\x00\x04\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\xf0\x3f"))
	f.Add([]byte("a [ inf -inf nan ; 1 2 3 ]\nb []\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ReadArk("fuzz", data)
		if err != nil {
			return
		}
		var values int
		var out bytes.Buffer
		for _, e := range entries {
			values += len(e.Matrix.Data)
			if _, err := WriteArkEntry(&out, e.Key, e.Matrix); err != nil {
				t.Fatalf("accepted entry %q cannot be written back: %v", e.Key, err)
			}
		}
		// A binary float takes 4 bytes, a text one at least 2 ("0 ").
		if values > len(data)/2+1 {
			t.Fatalf("%d values from %d bytes", values, len(data))
		}
		again, err := ReadArk("rewritten", out.Bytes())
		if err != nil || len(again) != len(entries) {
			t.Fatalf("rewritten archive: %d entries, %v", len(again), err)
		}
		for i := range again {
			if again[i].Key != entries[i].Key || !sameMatrix(again[i].Matrix, entries[i].Matrix) {
				t.Fatalf("entry %d changed on rewrite", i)
			}
		}
	})
}

func FuzzReadNpy(f *testing.F) {
	for _, name := range []string{"golden_a.npy", "golden_b.npy", "golden_empty.npy", "golden_tall.npy"} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte("\x93NUMPY\x02\x00\x3c\x00\x00\x00{'shape': (1, 1), 'fortran_order': True, 'descr': '>f8'}\n\x3f\xf0\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte("\x93NUMPY\x01\x00\x46\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2147483647, 2147483647), }\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadNpy("fuzz", data)
		if err != nil {
			return
		}
		if len(m.Data) > len(data)/4 {
			t.Fatalf("%d values from %d bytes", len(m.Data), len(data))
		}
		var out bytes.Buffer
		if err := WriteNpy(&out, m); err != nil {
			t.Fatal(err)
		}
		again, err := ReadNpy("rewritten", out.Bytes())
		if err != nil || !sameMatrix(again, m) {
			t.Fatalf("rewrite changed the matrix: %v", err)
		}
	})
}

func FuzzReadHTK(f *testing.F) {
	for _, name := range []string{"golden_user.htk", "golden_mfcc_e0.htk"} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte("\x7f\xff\xff\xff\x00\x01\x86\xa0\x7f\xfc\x00\x09"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, h, err := ReadHTK("fuzz", data)
		if err != nil {
			return
		}
		if len(m.Data) > len(data)/4 {
			t.Fatalf("%d values from %d bytes", len(m.Data), len(data))
		}
		var out bytes.Buffer
		if h.SampPeriod <= 0 {
			return // readable, but not something WriteHTK produces
		}
		if err := WriteHTK(&out, m, h.SampPeriod, h.ParmKind); err != nil {
			t.Fatalf("accepted file cannot be written back: %v", err)
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("rewrite is not byte-identical")
		}
	})
}
