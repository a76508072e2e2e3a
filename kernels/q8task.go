package kernels

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// MulActs multiplies the rows of a by m, out[i*Rows+r] = m[r]·a[i], on p's
// workers (nil: serially). When a is quantized and m.TakesQ8, the product
// is integer (see q8act.go): where the CPU has the kernels, m's weights are
// packed eight rows at a time (Pack, done here on first use) and a tile
// kernel takes eight weight rows by several activation rows at a time,
// reusing each weight block from registers for every activation row; every
// output equals the single-row product bit for bit whatever the batch.
// Otherwise it is MulBatch on a.X.
func (m *Matrix) MulActs(p *Pool, out []float32, a *Acts) {
	MulActsAll(p, a, Product{M: m, Out: out})
}

// Product is one matrix of a MulActsAll call and the slice its rows go to.
type Product struct {
	M   *Matrix
	Out []float32
}

// MulActsAll does M.MulActs(p, Out, a) for each of prods, with the same
// results bit for bit, but the integer products share one parallel loop:
// its workers take pieces of a few row groups of any of the matrices as
// they come free, so a layer's Q, K and V products (or gate and up) wait
// once for the slowest worker, not once each, and a worker that other work
// on the machine slows down takes fewer pieces. Products that are not
// integer (see MulActs) run first, one after another.
func MulActsAll(p *Pool, a *Acts, prods ...Product) {
	t := q8Tasks.Get().(*q8Task)
	for _, pr := range prods {
		m := pr.M
		if a.Cols != m.Cols {
			panic(fmt.Sprintf("kernels: MulActs: %d-wide activations for a %d×%d matrix", a.Cols, m.Rows, m.Cols))
		}
		if !a.Quantized() || !m.TakesQ8() {
			m.MulBatch(p, pr.Out, a.X, a.N)
			continue
		}
		if t.n == len(t.parts) {
			t.run(p, a)
		}
		t.add(m, pr.Out[:a.N*m.Rows], a, p.Workers())
	}
	t.run(p, a)
	q8Tasks.Put(t)
}

// q8Group is the multiple of rows a worker's share of a product is made
// of: the rows of a packed group, and a multiple of every tile's height.
const q8Group = 8

// q8Task is the integer products of up to three matrices with the same
// activations as one pool Task: each matrix's row groups are cut into
// pieces, and every chunk of the loop takes the next piece left (of any
// matrix) until none is.
type q8Task struct {
	parts  [3]q8Part
	n      int // parts in use
	pieces int // pieces of all the parts
	a      Acts
	next   atomic.Int64 // the first piece nobody has taken
}

// q8Part is one matrix of a q8Task.
type q8Part struct {
	m      *Matrix
	pk     *packedMatrix // nil: the weights as they are in m.Data
	out    []float32
	step   int // row groups per piece
	end    int // the task's first piece after this part's
	pieces int
}

var q8Tasks = sync.Pool{New: func() any { return new(q8Task) }}

// add appends the product of m and a, written to out, for a pool of
// workers workers. A piece is at least 32,768 weight–token products (so
// small matrices are not split to no purpose) and otherwise an eighth of a
// worker's even share, which leaves room to even out.
func (t *q8Task) add(m *Matrix, out []float32, a *Acts, workers int) {
	pt := &t.parts[t.n]
	*pt = q8Part{m: m, out: out}
	if packedKernelsFor(m.Type) != nil && a.m != nil {
		pt.pk = m.pack()
	}
	groups := (m.Rows + q8Group - 1) / q8Group
	grain := max(1, 32768/(m.Cols*a.N*q8Group))
	pt.step = max(grain, groups/(8*workers))
	pt.pieces = (groups + pt.step - 1) / pt.step
	t.pieces += pt.pieces
	pt.end = t.pieces
	t.n++
}

// run runs the parts added so far on p's workers and empties t.
func (t *q8Task) run(p *Pool, a *Acts) {
	if t.n > 0 {
		t.a = *a // a copy, so that the caller's Acts need not escape
		t.next.Store(0)
		p.Run(min(p.Workers(), t.pieces), 1, t)
	}
	*t = q8Task{}
}

// Run takes pieces until none is left; the chunk bounds are not used.
func (t *q8Task) Run(_, _, _ int) {
	for {
		k := int(t.next.Add(1)) - 1
		if k >= t.pieces {
			return
		}
		i := 0
		for k >= t.parts[i].end {
			i++
		}
		pt := &t.parts[i]
		g := (k - (pt.end - pt.pieces)) * pt.step
		lo, hi := g*q8Group, min((g+pt.step)*q8Group, pt.m.Rows)
		if pt.pk != nil {
			lo = pt.pk.product(pt.m, pt.out, &t.a, lo, hi)
		}
		q8Product(pt.m, pt.out, &t.a, lo, hi)
	}
}
