package train

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSamplerEpochsAndCrops(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	files := [][]int32{randomSeq(r, 10, 4), randomSeq(r, 100, 4), randomSeq(r, 2, 4), randomSeq(r, 31, 4), randomSeq(r, 50, 4)}
	s := newSampler(files, 9)
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

func TestSamplerResume(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	var files [][]int32
	for range 7 {
		files = append(files, randomSeq(r, 20+r.IntN(100), 4))
	}
	draw := func(s *sampler, n int) (starts []int) {
		var units []Unit
		for range n {
			units = s.next(units, 3, 25)
			for _, u := range units {
				starts = append(starts, u.Start, len(u.Seq))
			}
		}
		return starts
	}
	a := newSampler(files, 42)
	want := draw(a, 10)
	b := newSampler(files, 42)
	first := draw(b, 4)
	st, err := b.state()
	if err != nil {
		t.Fatal(err)
	}
	c := newSampler(files, 1) // a different seed: the state must override it
	if err := c.restore(st); err != nil {
		t.Fatal(err)
	}
	got := append(first, draw(c, 6)...)
	if !slices.Equal(got, want) {
		t.Fatal("a restored sampler draws different batches")
	}
	st.Order[0] = st.Order[1]
	if err := c.restore(st); err == nil {
		t.Fatal("restore accepted an order that is not a permutation")
	}
	st.Order = st.Order[1:]
	if err := c.restore(st); err == nil {
		t.Fatal("restore accepted an order of the wrong length")
	}
}
