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
}

type job struct {
	fn     func(w, lo, hi int)
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
	for i := 0; i < n-1; i++ {
		go func() {
			for j := range p.jobs {
				j.fn(j.w, j.lo, j.hi)
				j.wg.Done()
			}
		}()
	}
	return p
}

// Workers returns the number of goroutines a loop is split over.
func (p *Pool) Workers() int {
	if p == nil {
		return 1
	}
	return p.workers
}

// For runs fn over [0, n) split into contiguous chunks, at most one per worker,
// and waits. fn gets its chunk's index w < Workers(), so it can use per-worker
// scratch. Loops with fewer than grain iterations per worker run on fewer workers.
// The calling goroutine does chunk 0 itself. A nil Pool runs serially.
func (p *Pool) For(n, grain int, fn func(w, lo, hi int)) {
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
		fn(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + w - 1) / w
	for c, lo := 1, chunk; lo < n; c, lo = c+1, lo+chunk {
		wg.Add(1)
		p.jobs <- job{fn: fn, w: c, lo: lo, hi: min(lo+chunk, n), wg: &wg}
	}
	fn(0, 0, min(chunk, n))
	wg.Wait()
}
