package train

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
)

// sampler draws the training batches: files in a seeded order that is
// reshuffled every epoch, and from each file a window of at most crop
// scored targets at a uniformly random position (the whole file when it is
// shorter). Everything it will do next is fixed by its state, which a
// checkpoint stores, so a resumed run draws the same batches as an
// uninterrupted one.
type sampler struct {
	pcg   *rand.PCG
	rng   *rand.Rand
	files [][]int32
	order []int32 // this epoch's permutation of file indices
	pos   int     // next position in order
	epoch int64
}

// samplerState is the JSON form of a sampler's state.
type samplerState struct {
	RNG   string  `json:"rng"` // math/rand/v2 PCG state, base64
	Order []int32 `json:"order"`
	Pos   int     `json:"pos"`
	Epoch int64   `json:"epoch"`
}

// newSampler starts epoch 0 over files (each at least 2 samples long) with
// the given seed.
func newSampler(files [][]int32, seed uint64) *sampler {
	s := &sampler{pcg: rand.NewPCG(seed, 0x6e6578747361), files: files}
	s.rng = rand.New(s.pcg)
	s.order = make([]int32, len(files))
	s.shuffle()
	return s
}

func (s *sampler) shuffle() {
	for i := range s.order {
		s.order[i] = int32(i)
	}
	for i := len(s.order) - 1; i > 0; i-- { // Fisher-Yates
		j := s.rng.IntN(i + 1)
		s.order[i], s.order[j] = s.order[j], s.order[i]
	}
	s.pos = 0
}

// next fills units (reusing its storage) with a batch of b windows.
func (s *sampler) next(units []Unit, b, crop int) []Unit {
	units = units[:0]
	for range b {
		if s.pos == len(s.order) {
			s.epoch++
			s.shuffle()
		}
		seq := s.files[s.order[s.pos]]
		s.pos++
		targets := len(seq) - 1
		if targets <= crop {
			units = append(units, Unit{Seq: seq, Start: 0, Targets: targets})
			continue
		}
		start := s.rng.IntN(targets - crop + 1)
		units = append(units, Unit{Seq: seq, Start: start, Targets: crop})
	}
	return units
}

func (s *sampler) state() (samplerState, error) {
	b, err := s.pcg.MarshalBinary()
	if err != nil {
		return samplerState{}, err
	}
	return samplerState{RNG: base64.StdEncoding.EncodeToString(b), Order: append([]int32(nil), s.order...), Pos: s.pos, Epoch: s.epoch}, nil
}

// restore sets the state saved by state; it checks that the saved order is
// a permutation of this sampler's files.
func (s *sampler) restore(st samplerState) error {
	b, err := base64.StdEncoding.DecodeString(st.RNG)
	if err != nil {
		return fmt.Errorf("sampler RNG state: %w", err)
	}
	if err := s.pcg.UnmarshalBinary(b); err != nil {
		return fmt.Errorf("sampler RNG state: %w", err)
	}
	if len(st.Order) != len(s.files) {
		return fmt.Errorf("data order has %d files, the training split has %d", len(st.Order), len(s.files))
	}
	seen := make([]bool, len(s.files))
	for _, i := range st.Order {
		if i < 0 || int(i) >= len(seen) || seen[i] {
			return fmt.Errorf("data order is not a permutation of the %d training files", len(s.files))
		}
		seen[i] = true
	}
	if st.Pos < 0 || st.Pos > len(st.Order) {
		return fmt.Errorf("data order position %d out of range", st.Pos)
	}
	copy(s.order, st.Order)
	s.pos, s.epoch = st.Pos, st.Epoch
	return nil
}
