package kernels

import (
	"runtime"
	"sync"
)

// Pool is a fixed set of worker goroutines that run the chunks of a parallel loop.
// One Pool serves every sequence of a process; its zero value is not usable: call NewPool.
type Pool struct {
	workers int
	jobs    chan job
	groups  sync.Pool // *sync.WaitGroup, reused so loops do not allocate
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
	wg     *sync.WaitGroup
}

// NewPool starts a pool of n workers (n <= 0 means runtime.GOMAXPROCS(0)).
func NewPool(n int) *Pool {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	p := &Pool{workers: n, jobs: make(chan job, 4*n)}
	p.groups.New = func() any { return new(sync.WaitGroup) }
	for i := 0; i < n-1; i++ {
		go func() {
			for j := range p.jobs {
				j.t.Run(j.w, j.lo, j.hi)
				j.wg.Done()
			}
		}()
	}
	return p
}

// Close stops the pool's goroutines; the pool must not be used afterwards.
// Closing a nil Pool does nothing.
func (p *Pool) Close() {
	if p != nil {
		close(p.jobs)
	}
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
// workers. The calling goroutine does chunk 0 itself. A nil Pool runs serially.
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
	wg := p.groups.Get().(*sync.WaitGroup)
	chunk := (n + w - 1) / w
	for c, lo := 1, chunk; lo < n; c, lo = c+1, lo+chunk {
		wg.Add(1)
		p.jobs <- job{t: t, w: c, lo: lo, hi: min(lo+chunk, n), wg: wg}
	}
	t.Run(0, 0, min(chunk, n))
	wg.Wait()
	p.groups.Put(wg)
}
