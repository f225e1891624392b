package train

import (
	"sync"
	"sync/atomic"
)

// pool runs a phase of tasks on a fixed set of persistent goroutines. The
// caller's goroutine is worker 0, so a pool of one thread starts no
// goroutines at all. Tasks are handed out in index order from one atomic
// counter: a worker that the OS deschedules simply takes fewer tasks, which
// matters on a machine whose cores are shared with other work. Each phase
// costs one wake-up and one wait, the only synchronisation there is.
//
// A phase's function is a value prepared once (a method value stored at
// construction), so running a phase does not allocate.
type pool struct {
	threads int
	wake    []chan struct{} // one per worker goroutine (workers 1..threads-1)
	done    sync.WaitGroup
	next    atomic.Int64
	tasks   int64
	fn      func(worker, task int)
	closed  bool
}

func newPool(threads int) *pool {
	if threads < 1 {
		threads = 1
	}
	p := &pool{threads: threads}
	for w := 1; w < threads; w++ {
		c := make(chan struct{}, 1)
		p.wake = append(p.wake, c)
		go p.loop(w, c)
	}
	return p
}

func (p *pool) loop(worker int, wake chan struct{}) {
	for range wake {
		p.work(worker)
		p.done.Done()
	}
}

func (p *pool) work(worker int) {
	for {
		i := p.next.Add(1) - 1
		if i >= p.tasks {
			return
		}
		p.fn(worker, int(i))
	}
}

// run calls fn(worker, task) once for every task in [0, tasks) and returns
// when all have finished. Workers that would find no task are not woken.
func (p *pool) run(tasks int, fn func(worker, task int)) {
	if tasks <= 0 {
		return
	}
	p.fn, p.tasks = fn, int64(tasks)
	p.next.Store(0)
	helpers := min(p.threads, tasks) - 1
	p.done.Add(helpers)
	for w := 0; w < helpers; w++ {
		p.wake[w] <- struct{}{}
	}
	p.work(0)
	p.done.Wait()
	p.fn = nil
}

// close stops the worker goroutines; the pool must not be used afterwards.
func (p *pool) close() {
	if p.closed {
		return
	}
	p.closed = true
	for _, c := range p.wake {
		close(c)
	}
}
