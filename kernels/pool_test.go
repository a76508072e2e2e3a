package kernels

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// coverTask records, for each iteration, the chunk that ran it.
type coverTask struct {
	seen  []int32 // chunk+1 per iteration, 0 while unseen
	extra atomic.Int32
}

func (c *coverTask) Run(w, lo, hi int) {
	for i := lo; i < hi; i++ {
		if !atomic.CompareAndSwapInt32(&c.seen[i], 0, int32(w+1)) {
			c.extra.Add(1)
		}
	}
}

// checkCover runs a loop over [0, n) on p and checks that every iteration
// ran once, in contiguous chunks, one per chunk index below Workers, as many
// chunks as the brute-force split gives.
func checkCover(t *testing.T, p *Pool, n, grain int) {
	c := &coverTask{seen: make([]int32, n)}
	p.Run(n, grain, c)
	if c.extra.Load() != 0 {
		t.Fatalf("n %d, grain %d: %d iterations ran twice", n, grain, c.extra.Load())
	}
	w := p.Workers()
	if g := max(grain, 1); w > n/g {
		w = n / g
	}
	w = max(w, 1)
	chunk := (n + w - 1) / w
	for i, s := range c.seen {
		if want := int32(i/chunk + 1); s != want {
			t.Fatalf("n %d, grain %d, %d workers: iteration %d ran in chunk %d, want %d", n, grain, p.Workers(), i, s-1, want-1)
		}
	}
}

// TestPoolRun checks the split of loops of every size over pools of several
// sizes, loops run back to back (workers found polling) and after a pause
// (workers found parked).
func TestPoolRun(t *testing.T) {
	for _, workers := range []int{1, 2, 3, 8} {
		p := NewPool(workers)
		for n := 0; n <= 40; n++ {
			for _, grain := range []int{0, 1, 3, 16} {
				checkCover(t, p, n, grain)
			}
		}
		time.Sleep(20 * time.Millisecond) // let the workers park
		checkCover(t, p, 1000, 1)
		p.Close()
	}
	var nilPool *Pool
	checkCover(t, nilPool, 17, 1)
	nilPool.Close()
}

// TestPoolConcurrentAndNested runs loops from several goroutines at once on
// one pool, each of whose chunks runs a loop of its own: every iteration of
// every loop must run once (chunks whose workers are busy run on the
// caller).
func TestPoolConcurrentAndNested(t *testing.T) {
	p := NewPool(4)
	defer p.Close()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range 200 {
				n := 1 + (g*31+r*7)%50
				var inner [4]*coverTask
				outer := &coverTask{seen: make([]int32, n)}
				p.For(n, 1, func(w, lo, hi int) {
					outer.Run(w, lo, hi)
					inner[w] = &coverTask{seen: make([]int32, 3*n)}
					p.Run(3*n, 1, inner[w])
				})
				if outer.extra.Load() != 0 {
					t.Errorf("an outer iteration ran twice")
				}
				for i, s := range outer.seen {
					if s == 0 {
						t.Errorf("outer iteration %d of %d never ran", i, n)
					}
				}
				for _, c := range inner {
					if c == nil {
						continue
					}
					for i, s := range c.seen {
						if s == 0 || c.extra.Load() != 0 {
							t.Errorf("inner iteration %d ran %d times", i, 1+c.extra.Load())
						}
					}
				}
			}
		}()
	}
	wg.Wait()
}

// TestPoolCloseStopsWorkers checks that Close ends every worker goroutine,
// whether they are polling (just after a loop) or parked.
func TestPoolCloseStopsWorkers(t *testing.T) {
	for _, pause := range []time.Duration{0, 20 * time.Millisecond} {
		before := runtime.NumGoroutine()
		p := NewPool(6)
		checkCover(t, p, 100, 1)
		time.Sleep(pause)
		p.Close()
		// Close waits for the workers; the runtime may take a moment to
		// count them out.
		for i := 0; runtime.NumGoroutine() > before && i < 100; i++ {
			time.Sleep(time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			t.Errorf("pause %v: %d goroutines after Close, %d before NewPool", pause, n, before)
		}
	}
}

// TestPoolRunNoAllocs checks that a Run with a reused Task allocates nothing.
func TestPoolRunNoAllocs(t *testing.T) {
	p := NewPool(3)
	defer p.Close()
	if a := testing.AllocsPerRun(100, func() { p.Run(3, 1, nopTask{}) }); a != 0 {
		t.Errorf("%v allocations per Run", a)
	}
}

// nopTask does nothing: Run's dispatch cost alone.
type nopTask struct{}

func (nopTask) Run(w, lo, hi int) {}

// busyTask spends about a microsecond per iteration.
type busyTask struct{ sink []float64 }

func (t *busyTask) Run(w, lo, hi int) {
	x := float64(w + 1)
	for i := lo; i < hi; i++ {
		for range 1500 {
			x = x*0.999 + 1
		}
	}
	t.sink[w*8] = x
}

// BenchmarkPoolRun measures a Run's dispatch and wait, back to back (so
// workers are found polling), split over every worker: on a trivial task
// (which the caller may finish before a worker takes its chunk) and on chunks
// of a few microseconds (busy=4: 4 iterations of about 1 µs per chunk;
// compare with serial, the same iterations of one chunk on one goroutine).
func BenchmarkPoolRun(b *testing.B) {
	for _, workers := range []int{2, 4} {
		b.Run(fmt.Sprintf("workers=%d/nop", workers), func(b *testing.B) {
			p := NewPool(workers)
			defer p.Close()
			b.ReportAllocs()
			for range b.N {
				p.Run(workers, 1, nopTask{})
			}
		})
		b.Run(fmt.Sprintf("workers=%d/busy=4", workers), func(b *testing.B) {
			p := NewPool(workers)
			defer p.Close()
			t := &busyTask{sink: make([]float64, 8*workers)}
			b.ReportAllocs()
			for range b.N {
				p.Run(4*workers, 4, t)
			}
		})
	}
	b.Run("serial/busy=4", func(b *testing.B) {
		t := &busyTask{sink: make([]float64, 8)}
		for range b.N {
			t.Run(0, 0, 4)
		}
	})
}
