package train

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"slices"
)

// batcher draws the training batches: files in a seeded order that is
// reshuffled every epoch, and from each file a window of at most crop
// scored targets at a uniformly random position (the whole file when it is
// shorter). Everything it will do next is fixed by its state, which a
// checkpoint stores, so a resumed run draws the same batches as an
// uninterrupted one.
//
// It deals in file lengths only: what it draws are windows (a file, a
// start, a count of targets), which the run reads from its Dataset.
type batcher struct {
	pcg  *rand.PCG
	rng  *rand.Rand
	lens []int // of each file, at least 2
	// order is this epoch's permutation of file indices. It is never
	// modified (a new epoch gets a new slice), so states can share it.
	order []int32
	pos   int // next position in order
	epoch int64
}

// A window is what the batcher draws for one unit of a batch: the targets
// start+1 .. start+targets of file (an index into the batcher's files) are
// scored.
type window struct {
	file           int32
	start, targets int
}

// batcherState is the JSON form of a batcher's state.
type batcherState struct {
	RNG   string  `json:"rng"` // math/rand/v2 PCG state, base64
	Order []int32 `json:"order"`
	Pos   int     `json:"pos"`
	Epoch int64   `json:"epoch"`
}

// newBatcher starts epoch 0 over files of the given lengths (each at
// least 2) with the given seed.
func newBatcher(lens []int, seed uint64) *batcher {
	s := &batcher{pcg: rand.NewPCG(seed, 0x6e6578747361), lens: lens}
	s.rng = rand.New(s.pcg)
	s.shuffle()
	return s
}

func (s *batcher) shuffle() {
	s.order = make([]int32, len(s.lens))
	for i := range s.order {
		s.order[i] = int32(i)
	}
	for i := len(s.order) - 1; i > 0; i-- { // Fisher-Yates
		j := s.rng.IntN(i + 1)
		s.order[i], s.order[j] = s.order[j], s.order[i]
	}
	s.pos = 0
}

// next fills ws (reusing its storage) with a batch of b windows.
func (s *batcher) next(ws []window, b, crop int) []window {
	ws = ws[:0]
	for range b {
		if s.pos == len(s.order) {
			s.epoch++
			s.shuffle()
		}
		f := s.order[s.pos]
		s.pos++
		targets := s.lens[f] - 1
		if targets <= crop {
			ws = append(ws, window{file: f, start: 0, targets: targets})
			continue
		}
		start := s.rng.IntN(targets - crop + 1)
		ws = append(ws, window{file: f, start: start, targets: crop})
	}
	return ws
}

// state returns the batcher's state; its Order is shared with the batcher
// (which never modifies an order) and must not be modified.
func (s *batcher) state() (batcherState, error) {
	b, err := s.pcg.MarshalBinary()
	if err != nil {
		return batcherState{}, err
	}
	return batcherState{RNG: base64.StdEncoding.EncodeToString(b), Order: s.order, Pos: s.pos, Epoch: s.epoch}, nil
}

// restore sets the state saved by state; it checks that the saved order is
// a permutation of this batcher's files.
func (s *batcher) restore(st batcherState) error {
	b, err := base64.StdEncoding.DecodeString(st.RNG)
	if err != nil {
		return fmt.Errorf("sampler RNG state: %w", err)
	}
	if err := s.pcg.UnmarshalBinary(b); err != nil {
		return fmt.Errorf("sampler RNG state: %w", err)
	}
	if len(st.Order) != len(s.lens) {
		return fmt.Errorf("data order has %d files, the training split has %d", len(st.Order), len(s.lens))
	}
	seen := make([]bool, len(s.lens))
	for _, i := range st.Order {
		if i < 0 || int(i) >= len(seen) || seen[i] {
			return fmt.Errorf("data order is not a permutation of the %d training files", len(s.lens))
		}
		seen[i] = true
	}
	if st.Pos < 0 || st.Pos > len(st.Order) {
		return fmt.Errorf("data order position %d out of range", st.Pos)
	}
	s.order = slices.Clone(st.Order)
	s.pos, s.epoch = st.Pos, st.Epoch
	return nil
}

// clone returns a batcher in the same state that draws independently.
func (s *batcher) clone() (*batcher, error) {
	st, err := s.state()
	if err != nil {
		return nil, err
	}
	c := &batcher{pcg: rand.NewPCG(0, 0), lens: s.lens}
	c.rng = rand.New(c.pcg)
	if err := c.restore(st); err != nil {
		return nil, err
	}
	return c, nil
}
