package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestMulActsAll checks that MulActsAll writes what MulActs writes for each
// matrix alone on one thread, bit for bit: for a mix of integer types and a
// float matrix (which takes MulBatch), more products than one loop holds,
// one token and several, on pools of one to three workers.
func TestMulActsAll(t *testing.T) {
	defer SetIntegerKQuants(SetIntegerKQuants(true))
	r := rand.New(rand.NewPCG(3, 4))
	const cols = 512
	w := make([]float32, 40*cols)
	randF32s(r, w)
	ms := []*Matrix{
		randWeights(r, Q4_K, 264, cols),
		randWeights(r, Q8_0, 40, cols),
		F32Matrix(40, cols, w),
		randWeights(r, Q6_K, 1032, cols),
		randWeights(r, Q4_0, 8, cols),
	}
	for _, n := range []int{1, 6} {
		a := randActs(r, n, cols)
		want := make([][]float32, len(ms))
		for i, m := range ms {
			want[i] = make([]float32, n*m.Rows)
			m.MulActs(nil, want[i], &a)
		}
		for _, workers := range []int{1, 2, 3} {
			p := NewPool(workers)
			prods := make([]Product, len(ms))
			for i, m := range ms {
				prods[i] = Product{M: m, Out: make([]float32, n*m.Rows)}
				for j := range prods[i].Out {
					prods[i].Out[j] = float32(math.NaN())
				}
			}
			MulActsAll(p, &a, prods...)
			p.Close()
			for i := range ms {
				for j, v := range prods[i].Out {
					if math.Float32bits(v) != math.Float32bits(want[i][j]) {
						t.Fatalf("n=%d, %d workers, product %d (%v), element %d: %v, want %v", n, workers, i, ms[i].Type, j, v, want[i][j])
					}
				}
			}
		}
	}
}

// TestMulActsAllAllocs checks that a layer's worth of products on a pool
// allocates nothing once the weights are packed.
func TestMulActsAllAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const cols = 256
	q, k := randWeights(r, Q8_0, 256, cols), randWeights(r, Q4_0, 64, cols)
	a := randActs(r, 1, cols)
	oq, ok := make([]float32, 256), make([]float32, 64)
	p := NewPool(2)
	defer p.Close()
	run := func() { MulActsAll(p, &a, Product{M: q, Out: oq}, Product{M: k, Out: ok}) }
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("MulActsAll allocated %v times per call", n)
	}
}
