package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Pool is a fixed set of worker goroutines that run the chunks of a parallel loop.
// One Pool serves every sequence of a process; its zero value is not usable: call NewPool.
//
// Each worker has a slot that a loop posts its chunk into and that the worker
// marks done: an atomic state, no channel and no lock on the way. A worker
// between chunks polls its slot for a while, then yields its processor a few
// times, then parks until a chunk or Close wakes it; a loop waiting for a
// worker's chunk does the same. Loops may run concurrently from several
// goroutines, and a task may run a loop of its own: a chunk whose worker is
// busy with another loop, or that its worker has not taken by the time the
// caller is done with its own, runs on the goroutine that called Run.
type Pool struct {
	workers int
	slots   []slot // worker c's slot is slots[c-1]; chunk 0 is the caller's
	closed  atomic.Bool
	exited  sync.WaitGroup
}

// Task is the body of a parallel loop: Run handles iterations [lo, hi) as
// chunk w, where w < Workers() may index per-worker scratch.
type Task interface {
	Run(w, lo, hi int)
}

// Func adapts a function to a Task.
type Func func(w, lo, hi int)

// Run calls f.
func (f Func) Run(w, lo, hi int) { f(w, lo, hi) }

type job struct {
	t      Task
	w      int
	lo, hi int
}

// A slot's states, in the order a chunk takes them.
const (
	idle    uint32 = iota // free for a loop to claim
	claimed               // a loop is writing its job
	posted                // the job waits for the worker (or the loop, which may take it back)
	running               // the worker took the job
	done                  // the worker ran it; the loop releases the slot
)

// How long a goroutine polls before it parks: rounds of polls, yielding its
// processor after each so that goroutines that have work (a worker whose
// chunk is posted, when there are more of them than processors) run. It
// covers the gaps between a decode step's loops (microseconds).
const (
	pollsPerRound = 64
	spinRounds    = 50
)

// spin polls (true) or says it is time to park (false) on the i-th look.
func spin(i int) bool {
	if i >= pollsPerRound*spinRounds {
		return false
	}
	if i%pollsPerRound == pollsPerRound-1 {
		runtime.Gosched()
	}
	return true
}

type slot struct {
	state atomic.Uint32
	job   job
	// A parked worker sets workerAsleep and waits on wake; whoever clears
	// the flag (the loop that posts, or Close) sends the wake-up. runAsleep
	// and finished do the same for a loop waiting for the worker.
	workerAsleep, runAsleep atomic.Bool
	wake, finished          chan struct{} // capacity 1
	_                       [64]byte      // no false sharing between slots
}

// NewPool starts a pool of n workers (n <= 0 means runtime.GOMAXPROCS(0)).
func NewPool(n int) *Pool {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	p := &Pool{workers: n, slots: make([]slot, n-1)}
	for i := range p.slots {
		s := &p.slots[i]
		s.wake, s.finished = make(chan struct{}, 1), make(chan struct{}, 1)
		p.exited.Add(1)
		go p.work(s)
	}
	return p
}

// work runs the chunks posted to s until the pool closes.
func (p *Pool) work(s *slot) {
	defer p.exited.Done()
	for p.await(s) {
		j := s.job
		j.t.Run(j.w, j.lo, j.hi)
		s.state.Store(done)
		if s.runAsleep.Load() && s.runAsleep.CompareAndSwap(true, false) {
			s.finished <- struct{}{}
		}
	}
}

// await waits until it takes a chunk posted to s (true) or the pool closes
// (false).
func (p *Pool) await(s *slot) bool {
	for i := 0; ; i++ {
		if s.state.Load() == posted && s.state.CompareAndSwap(posted, running) {
			return true
		}
		if p.closed.Load() {
			return false
		}
		if spin(i) {
			continue
		}
		s.workerAsleep.Store(true)
		if s.state.Load() == posted || p.closed.Load() {
			if !s.workerAsleep.CompareAndSwap(true, false) {
				<-s.wake // the waker won: take its wake-up
			}
			continue
		}
		<-s.wake
	}
}

// Close stops the pool's goroutines and waits for them to exit; the pool
// must not be used afterwards. Closing a nil Pool does nothing.
func (p *Pool) Close() {
	if p == nil {
		return
	}
	p.closed.Store(true)
	for i := range p.slots {
		s := &p.slots[i]
		if s.workerAsleep.Load() && s.workerAsleep.CompareAndSwap(true, false) {
			s.wake <- struct{}{}
		}
	}
	p.exited.Wait()
}

// Workers returns the number of goroutines a loop is split over.
func (p *Pool) Workers() int {
	if p == nil {
		return 1
	}
	return p.workers
}

// For runs fn over [0, n) as Run does. A closure that escapes costs an
// allocation per call; hot loops pass a reused Task to Run instead.
func (p *Pool) For(n, grain int, fn func(w, lo, hi int)) { p.Run(n, grain, Func(fn)) }

// Run runs t over [0, n) split into contiguous chunks, at most one per worker,
// and waits. Loops with fewer than grain iterations per worker run on fewer
// workers. The calling goroutine does chunk 0 itself, and any chunk whose
// worker is busy with another loop or has not started it by then (each
// chunk keeps its index w wherever it runs). A nil Pool runs serially.
func (p *Pool) Run(n, grain int, t Task) {
	if n <= 0 {
		return
	}
	w := p.Workers()
	if grain < 1 {
		grain = 1
	}
	if w > n/grain {
		w = n / grain
	}
	if w <= 1 {
		t.Run(0, 0, n)
		return
	}
	chunk := (n + w - 1) / w
	// Which chunks went to their workers: a bit each, on the stack for
	// pools of up to 512 workers.
	var small [8]uint64
	mine := small[:]
	if w > 64*len(small) {
		mine = make([]uint64, (w+63)/64)
	}
	var inline bool
	for c, lo := 1, chunk; lo < n; c, lo = c+1, lo+chunk {
		s := &p.slots[c-1]
		if !s.state.CompareAndSwap(idle, claimed) {
			inline = true
			continue
		}
		mine[c/64] |= 1 << (c % 64)
		s.job = job{t: t, w: c, lo: lo, hi: min(lo+chunk, n)}
		s.state.Store(posted)
		if s.workerAsleep.Load() && s.workerAsleep.CompareAndSwap(true, false) {
			s.wake <- struct{}{}
		}
	}
	t.Run(0, 0, min(chunk, n))
	if inline {
		for c, lo := 1, chunk; lo < n; c, lo = c+1, lo+chunk {
			if mine[c/64]&(1<<(c%64)) == 0 {
				t.Run(c, lo, min(lo+chunk, n))
			}
		}
	}
	// Chunks their workers have not taken yet (a worker waiting for a
	// processor, or just woken) run here; then wait for the others.
	for c, lo := 1, chunk; lo < n; c, lo = c+1, lo+chunk {
		if s := &p.slots[c-1]; mine[c/64]&(1<<(c%64)) != 0 && s.state.CompareAndSwap(posted, claimed) {
			mine[c/64] &^= 1 << (c % 64)
			t.Run(c, lo, min(lo+chunk, n))
			s.job = job{}
			s.state.Store(idle)
		}
	}
	for c, lo := 1, chunk; lo < n; c, lo = c+1, lo+chunk {
		if mine[c/64]&(1<<(c%64)) != 0 {
			finish(&p.slots[c-1])
		}
	}
}

// finish waits for the worker of s to run its chunk, then frees the slot.
func finish(s *slot) {
	for i := 0; s.state.Load() != done; i++ {
		if spin(i) {
			continue
		}
		s.runAsleep.Store(true)
		if s.state.Load() == done {
			if !s.runAsleep.CompareAndSwap(true, false) {
				<-s.finished // the worker won: take its wake-up
			}
			break
		}
		<-s.finished
	}
	s.job = job{}
	s.state.Store(idle)
}
