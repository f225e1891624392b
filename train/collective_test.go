package train

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/nextsample/nextsample/causalconv"
)

// loopback is a Collective of n goroutines in one process: every sum
// waits for all of them and adds their buffers in rank order, as
// MPI_Allreduce of two processes does (a+b, exact in either order).
type loopback struct {
	rank int
	w    *loopWorld
}

type loopWorld struct {
	n    int
	mu   sync.Mutex
	cond *sync.Cond
	bufs []any
	gen  int
	in   int
}

func newLoopback(n int) []*loopback {
	w := &loopWorld{n: n, bufs: make([]any, n)}
	w.cond = sync.NewCond(&w.mu)
	cs := make([]*loopback, n)
	for i := range cs {
		cs[i] = &loopback{rank: i, w: w}
	}
	return cs
}

func (c *loopback) Rank() int { return c.rank }
func (c *loopback) Size() int { return c.w.n }
func (c *loopback) Abort(int) { panic("abort") }
func (c *loopback) AllreduceFloat32(buf []float32) error {
	c.exchange(buf, func(all []any) {
		sum := make([]float32, len(buf))
		for _, b := range all {
			for i, v := range b.([]float32) {
				sum[i] += v
			}
		}
		for _, b := range all {
			copy(b.([]float32), sum)
		}
	})
	return nil
}

func (c *loopback) AllreduceFloat64(buf []float64) error {
	c.exchange(buf, func(all []any) {
		sum := make([]float64, len(buf))
		for _, b := range all {
			for i, v := range b.([]float64) {
				sum[i] += v
			}
		}
		for _, b := range all {
			copy(b.([]float64), sum)
		}
	})
	return nil
}

func (c *loopback) AllgatherBytes(send, recv []byte) error {
	c.exchange([2][]byte{send, recv}, func(all []any) {
		for _, b := range all {
			r := b.([2][]byte)[1]
			for i, o := range all {
				copy(r[i*len(send):], o.([2][]byte)[0])
			}
		}
	})
	return nil
}

// exchange waits for every rank's buf, lets the last one combine them all,
// and returns when the combination is done.
func (c *loopback) exchange(buf any, combine func(all []any)) {
	w := c.w
	w.mu.Lock()
	defer w.mu.Unlock()
	gen := w.gen
	w.bufs[c.rank] = buf
	w.in++
	if w.in == w.n {
		combine(w.bufs)
		w.in = 0
		w.gen++
		w.cond.Broadcast()
		return
	}
	for w.gen == gen {
		w.cond.Wait()
	}
}

// runRanks trains the tiny run on n loopback processes into out and
// returns rank 0's error.
// With resume, every rank reads out's checkpoint (its own copy, as a
// process would).
func runRanks(t *testing.T, n int, out string, o Options, resume bool, stopAt int64) error {
	t.Helper()
	return runRanksOf(t, n, out, o, tinyConfig(), func() Data { return tinyData(1) }, resume, stopAt)
}

// runRanksOf is runRanks of a model of cfg on data.
func runRanksOf(t *testing.T, n int, out string, o Options, cfg causalconv.Config, data func() Data, resume bool, stopAt int64) error {
	t.Helper()
	comms := newLoopback(n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for rank := range n {
		var r *Run
		var err error
		setup := Setup{Out: out, Meta: map[string]string{"audio": `{"sample_rate":8000}`}, Comm: comms[rank]}
		if resume {
			var ck *Checkpoint
			if ck, err = ReadCheckpoint(filepath.Join(out, LastFile)); err != nil {
				t.Fatal(err)
			}
			r, err = Resume(ck, data(), o, setup)
		} else {
			m, _ := causalconv.NewRandom(cfg, o.Seed)
			r, err = New(m, data(), o, setup)
		}
		if err != nil {
			t.Fatal(err)
		}
		r.noPlot = true
		ctx, cancel := context.WithCancel(context.Background())
		if stopAt > 0 && rank == n-1 { // only one process is told to stop
			r.afterStep = func(step int64) {
				if step == stopAt {
					cancel()
				}
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel()
			defer r.Close()
			errs[rank] = r.Train(ctx)
		}()
	}
	wg.Wait()
	return errs[0]
}

// Two processes, each stepping half of every batch, end with the weights,
// optimizer state and log of one process, bit for bit; a stop requested
// of one process stops both after the same step, and the resumed run
// ends where the whole one did. With a moving average (EMA) every process
// keeps the same one without communicating.
func TestTwoProcessesEqualOne(t *testing.T) {
	for _, c := range []struct {
		optimizer string
		ema       float64
	}{{SGD, 0}, {Adam, 0}, {Adam, 0.9}} {
		name := c.optimizer
		if c.ema > 0 {
			name += "_ema"
		}
		t.Run(name, func(t *testing.T) {
			o := tinyOptions(c.optimizer)
			o.Batch, o.EMA = 4, c.ema
			one := t.TempDir()
			r := newTinyRun(t, one, o)
			if err := r.Train(context.Background()); err != nil {
				t.Fatal(err)
			}
			r.Close()

			two := t.TempDir()
			o1 := o
			o1.Threads = 1
			if err := runRanks(t, 2, two, o1, false, 0); err != nil {
				t.Fatal(err)
			}
			sameTensors(t, filepath.Join(one, LastFile), filepath.Join(two, LastFile))
			sameLogs(t, filepath.Join(one, LogFile), filepath.Join(two, LogFile))

			split := t.TempDir()
			if err := runRanks(t, 2, split, o1, false, 3); !errors.Is(err, context.Canceled) {
				t.Fatalf("a run stopped by one process returned %v on rank 0", err)
			}
			ck, err := ReadCheckpoint(filepath.Join(split, LastFile))
			if err != nil {
				t.Fatal(err)
			}
			// The stop is told to the others in the next step's sum.
			if ck.Step() != 4 {
				t.Fatalf("stopped run saved step %d, want 4", ck.Step())
			}
			if err := runRanks(t, 2, split, o1, true, 0); err != nil {
				t.Fatal(err)
			}
			sameTensors(t, filepath.Join(one, LastFile), filepath.Join(split, LastFile))
		})
	}
}

// A locally conditioned run over two processes (each reading its share of
// the batch's features, and validating its stride of the files with
// theirs) ends with the weights and log of one process.
func TestTwoProcessesEqualOneConditioned(t *testing.T) {
	o := tinyOptions(Adam)
	o.Batch = 4
	one := t.TempDir()
	r := newTinyRunOf(t, one, o, tinyLCConfig(), tinyLCData())
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Close()
	two := t.TempDir()
	o.Threads = 1
	if err := runRanksOf(t, 2, two, o, tinyLCConfig(), tinyLCData, false, 0); err != nil {
		t.Fatal(err)
	}
	sameTensors(t, filepath.Join(one, LastFile), filepath.Join(two, LastFile))
	sameLogs(t, filepath.Join(one, LogFile), filepath.Join(two, LogFile))
}

func TestBatchMustDivideOverProcesses(t *testing.T) {
	o := tinyOptions(Adam) // batch 3
	m, _ := causalconv.NewRandom(tinyConfig(), o.Seed)
	_, err := New(m, tinyData(1), o, Setup{Out: t.TempDir(), Comm: newLoopback(2)[0]})
	if err == nil {
		t.Fatal("a batch of 3 was split over 2 processes")
	}
}

func sameLogs(t *testing.T, a, b string) {
	t.Helper()
	ra, err := readLog(a)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := readLog(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(ra) != len(rb) {
		t.Fatalf("%s has %d rows, %s %d", a, len(ra), b, len(rb))
	}
	same := func(x, y float64) bool { return x == y || x != x && y != y }
	for i := range ra {
		if ra[i].Step != rb[i].Step || !same(ra[i].TrainBits, rb[i].TrainBits) || !same(ra[i].GradNorm, rb[i].GradNorm) {
			t.Fatalf("log row %d: %+v vs %+v", i, ra[i], rb[i])
		}
	}
}
