package audio

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// TestMuLawMatchesTorch compares with values computed by the reference's
// own functions (testdata/gen_mulaw.py).
func TestMuLawMatchesTorch(t *testing.T) {
	b, err := os.ReadFile("testdata/mulaw_torch.json")
	if err != nil {
		t.Fatal(err)
	}
	var g map[string]struct {
		X       []float64 `json:"x"`
		Classes []int32   `json:"classes"`
		Centres []float64 `json:"centres"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	for _, q := range []int{256, 16} {
		ref := g[map[int]string{256: "256", 16: "16"}[q]]
		if len(ref.X) == 0 {
			t.Fatalf("Q=%d: no golden values", q)
		}
		m := MuLaw{Q: q}
		x := make([]float32, len(ref.X))
		for i, v := range ref.X {
			x[i] = float32(v)
		}
		got := make([]int32, len(x))
		m.Encode(x, got)
		for i := range got {
			if got[i] != ref.Classes[i] {
				t.Errorf("Q=%d: encode(%g) = %d, torch %d", q, x[i], got[i], ref.Classes[i])
			}
		}
		for c, want := range ref.Centres {
			// torch works in float32; we work in float64 and round once.
			if got := m.Centre(int32(c)); math.Abs(float64(got)-want) > 1e-6 {
				t.Errorf("Q=%d: centre(%d) = %g, torch %g", q, c, got, want)
			}
		}
	}
}

// TestMuLawInvertsCentres: every class centre encodes back to its class.
func TestMuLawInvertsCentres(t *testing.T) {
	for _, q := range []int{2, 3, 16, 255, 256, 1024, 65536} {
		m := MuLaw{Q: q}
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
		c := make([]int32, q)
		for i := range c {
			c[i] = int32(i)
		}
		x := make([]float32, q)
		m.Decode(c, x)
		back := make([]int32, q)
		m.Encode(x, back)
		for i := range c {
			if back[i] != c[i] {
				t.Fatalf("Q=%d: class %d → %g → class %d", q, c[i], x[i], back[i])
			}
			if i > 0 && !(x[i] > x[i-1]) {
				t.Fatalf("Q=%d: centres not increasing at %d", q, i)
			}
		}
		if x[0] != -1 || x[q-1] != 1 {
			t.Errorf("Q=%d: end centres %g, %g, want -1, 1", q, x[0], x[q-1])
		}
	}
	m := MuLaw{Q: 256}
	if s := m.Silence(); s != 128 {
		t.Errorf("silence class %d, want 128 (as the reference)", s)
	}
	if c := m.EncodeOne(float32(math.NaN())); c != 128 {
		t.Errorf("NaN → class %d, want 128", c)
	}
	for _, q := range []int{0, 1, 1<<16 + 1} {
		if (MuLaw{Q: q}).Validate() == nil {
			t.Errorf("Q=%d accepted", q)
		}
	}
}

func BenchmarkMuLawEncode(b *testing.B) {
	x := make([]float32, 1<<16)
	for i := range x {
		x[i] = float32(math.Sin(float64(i) * 0.01))
	}
	dst := make([]int32, len(x))
	m := MuLaw{Q: 256}
	b.SetBytes(int64(len(x)) * 4)
	for b.Loop() {
		m.Encode(x, dst)
	}
}
