package train

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBatcherEpochsAndCrops(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	files := [][]int32{randomSeq(r, 10, 4), randomSeq(r, 100, 4), randomSeq(r, 2, 4), randomSeq(r, 31, 4), randomSeq(r, 50, 4)}
	s := newFileBatcher(files, 9)
	seen := map[*int32]int{}
	var units []Unit
	for range 3 { // 3 batches of 5 = 3 epochs
		units = s.next(units, 5, 20)
		for _, u := range units {
			if err := u.validate(); err != nil {
				t.Fatal(err)
			}
			if len(u.Seq)-1 <= 20 {
				if u.Start != 0 || u.Targets != len(u.Seq)-1 {
					t.Fatalf("short file not taken whole: %+v", u)
				}
			} else if u.Targets != 20 {
				t.Fatalf("long file cropped to %d targets, want 20", u.Targets)
			}
			seen[&u.Seq[0]]++
		}
	}
	if len(seen) != 5 {
		t.Fatalf("saw %d distinct files in 3 epochs", len(seen))
	}
	for _, n := range seen {
		if n != 3 {
			t.Fatalf("file drawn %d times in 3 epochs, want 3", n)
		}
	}
}

func TestBatcherResume(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	var files [][]int32
	for range 7 {
		files = append(files, randomSeq(r, 20+r.IntN(100), 4))
	}
	draw := func(s *fileBatcher, n int) (starts []int) {
		var units []Unit
		for range n {
			units = s.next(units, 3, 25)
			for _, u := range units {
				starts = append(starts, u.Start, len(u.Seq))
			}
		}
		return starts
	}
	a := newFileBatcher(files, 42)
	want := draw(a, 10)
	b := newFileBatcher(files, 42)
	first := draw(b, 4)
	st, err := b.s.state()
	if err != nil {
		t.Fatal(err)
	}
	st.Order = slices.Clone(st.Order)
	c := newFileBatcher(files, 1) // a different seed: the state must override it
	if err := c.s.restore(st); err != nil {
		t.Fatal(err)
	}
	got := append(first, draw(c, 6)...)
	if !slices.Equal(got, want) {
		t.Fatal("a restored batcher draws different batches")
	}
	st.Order[0] = st.Order[1]
	if err := c.s.restore(st); err == nil {
		t.Fatal("restore accepted an order that is not a permutation")
	}
	st.Order = st.Order[1:]
	if err := c.s.restore(st); err == nil {
		t.Fatal("restore accepted an order of the wrong length")
	}
}

// fileBatcher draws units over files in memory with a batcher, the
// windows' Seq being the whole files (the engine's tests use it).
type fileBatcher struct {
	s     *batcher
	files [][]int32
	ws    []window
}

func newFileBatcher(files [][]int32, seed uint64) *fileBatcher {
	ids, lens := withTargets(Classes(files))
	f := &fileBatcher{s: newBatcher(lens, seed)}
	for _, id := range ids {
		f.files = append(f.files, files[id])
	}
	return f
}

func (f *fileBatcher) next(units []Unit, b, crop int) []Unit {
	f.ws = f.s.next(f.ws, b, crop)
	units = units[:0]
	for _, w := range f.ws {
		units = append(units, Unit{Seq: f.files[w.file], Start: w.start, Targets: w.targets})
	}
	return units
}

// A batch read from a Dataset gives the engine the same inputs as the whole
// files: the same losses and gradients, bit for bit.
func TestBatchReadMatchesWholeFiles(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	var files [][]int32
	for _, n := range []int{3, 40, 700, 1, 95, 2000, 260} {
		files = append(files, randomSeq(r, n, 16))
	}
	ids, lens := withTargets(Classes(files))
	const ctxMax = 37
	a := newBatcher(lens, 3)
	whole := newFileBatcher(files, 3)
	var ws []window
	var units []Unit
	var b batch
	for range 20 {
		ws = a.next(ws, 4, 100)
		units = whole.next(units, 4, 100)
		if err := b.read(Classes(files), ids, ws, ctxMax, 16); err != nil {
			t.Fatal(err)
		}
		for k, u := range b.units {
			w := units[k]
			// The same scored targets and the same (up to ctxMax) context.
			c := min(w.Start, ctxMax)
			want := w.Seq[w.Start-c : w.Start+w.Targets+1]
			if u.Start != c || u.Targets != w.Targets || !slices.Equal(u.Seq, want) {
				t.Fatalf("window %d: read start %d, %d targets, %d samples; want start %d, %d targets, %d samples", k, u.Start, u.Targets, len(u.Seq), c, w.Targets, len(want))
			}
		}
	}
	if err := b.read(Classes(files), ids, ws, ctxMax, 4); err == nil {
		t.Fatal("a class outside the model's range was read without error")
	}
}
