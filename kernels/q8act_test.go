package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// q8Tiers are the tiers of the quantized-activation products, first the
// reference.
var q8Tiers = []string{"generic", "avx2", "vnni"}

// TestQuantizeActs checks the activation quantizer: values in [-127, 127],
// the largest magnitude of each block at ±127, each value within half a
// step of the input, zero blocks with a zero scale, and NaN quantized to 0.
func TestQuantizeActs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n, cols = 3, 96
	x := make([]float32, n*cols)
	randF32s(r, x)
	for i := 32; i < 64; i++ {
		x[i] = 0
	}
	x[70] = float32(math.NaN())
	buf := make([]float32, ActsWords(n, cols))
	a := QuantizeActs(buf, x, n, cols)
	if !a.Quantized() || a.N != n || a.Cols != cols {
		t.Fatalf("got %+v", a)
	}
	for b := range n * cols / QK8 {
		d := a.scales(b / (cols / QK8))[b%(cols/QK8)]
		var sum int
		for i := b * QK8; i < (b+1)*QK8; i++ {
			sum += int(a.q[i])
		}
		if s := a.sums(b / (cols / QK8))[b%(cols/QK8)]; math.Float32bits(s) != math.Float32bits(d*float32(sum)) && b != 2 {
			t.Errorf("block %d: sum %g, want %g×%d", b, s, d, sum)
		}
		if b == 1 && d != 0 {
			t.Errorf("zero block: scale %g", d)
		}
		var top int
		for i := b * QK8; i < (b+1)*QK8; i++ {
			q := a.q[i]
			if q < -127 {
				t.Fatalf("q[%d] = %d", i, q)
			}
			top = max(top, int(q), -int(q))
			if i == 70 {
				if q != 0 || !math.IsNaN(float64(d)) {
					t.Errorf("NaN input: q %d, scale %g", q, d)
				}
				continue
			}
			if b == 2 {
				continue // the NaN's block
			}
			if e := math.Abs(float64(x[i]) - float64(q)*float64(d)); e > float64(d)/2*1.0001 {
				t.Errorf("x[%d] = %g quantized to %d×%g: error %g", i, x[i], q, d, e)
			}
		}
		if b != 1 && b != 2 && top != 127 {
			t.Errorf("block %d: largest |q| %d, want 127", b, top)
		}
	}
}

// TestQuantizeActsTiers checks that the assembly quantizer equals plain Go
// bit for bit (quants, scales, sums and records) on random rows and on
// blocks built to be hard: values at exactly half a step (ties), ±0,
// subnormals, magnitudes near the float32 limits, a lone value among zeros,
// and blocks holding NaN or ±Inf (which the assembly leaves to Go).
func TestQuantizeActsTiers(t *testing.T) {
	defer useGeneric(false)
	if !detectAVX2() {
		t.Skip("no AVX2 on this CPU or build: nothing to compare")
	}
	r := rand.New(rand.NewPCG(31, 32))
	const n, cols = 4, 32 * 40
	x := make([]float32, n*cols)
	randF32s(r, x)
	blk := func(i int) []float32 { return x[i*QK8 : (i+1)*QK8] }
	for i, v := range blk(0) { // ties: k/2 steps of 1/127 with amax 1
		v = float32(i%16) / 2 / 127
		if i%3 == 0 {
			v = -v
		}
		blk(0)[i] = v
	}
	blk(0)[31] = 1
	for i := range blk(1) {
		blk(1)[i] = float32(math.Copysign(0, float64(1-2*(i%2))))
	}
	for i := range blk(2) {
		blk(2)[i] = math.Float32frombits(uint32(r.IntN(1 << 23))) // subnormals
	}
	for i := range blk(3) {
		blk(3)[i] = float32(r.NormFloat64() * 1e38)
	}
	blk(4)[7] = -3e-39
	blk(5)[3] = float32(math.NaN())
	blk(6)[30] = float32(math.Inf(-1))
	blk(7)[0] = float32(math.Inf(1))
	blk(8)[5] = math.MaxFloat32
	x[cols+17*QK8+4] = float32(math.NaN())         // row 1, block 17: between asm runs
	for b := 2 * cols / QK8; b < n*cols/QK8; b++ { // rows 2, 3: every magnitude
		scale := math.Pow(10, -45+83*r.Float64())
		for i := range blk(b) {
			blk(b)[i] = float32(r.NormFloat64() * scale)
		}
	}
	var ref Acts
	for _, generic := range []bool{true, false} {
		useGeneric(generic)
		a := QuantizeActs(make([]float32, ActsWords(n, cols)), x, n, cols)
		if generic {
			ref = a
			continue
		}
		for i := range a.q {
			if a.q[i] != ref.q[i] {
				t.Fatalf("q[%d] = %d, want %d (x %g, block scale %g)", i, a.q[i], ref.q[i], x[i], ref.d[i/QK8])
			}
		}
		for i := range a.d {
			if math.Float32bits(a.d[i]) != math.Float32bits(ref.d[i]) {
				t.Fatalf("d[%d] = %g, want %g", i, a.d[i], ref.d[i])
			}
		}
		for i := range a.m {
			g, w := a.m[i], ref.m[i]
			if math.Float32bits(g.d) != math.Float32bits(w.d) || math.Float32bits(g.sum) != math.Float32bits(w.sum) ||
				g.c128 != w.c128 || g.c8 != w.c8 || g.c32lo != w.c32lo || g.c32hi != w.c32hi {
				t.Fatalf("record %d = %+v, want %+v", i, g, w)
			}
		}
	}
}

// randWeights returns rows×cols weights of type typ with random bytes
// (every int8, -128 included, or every nibble) and random finite f16 scales,
// the first block of row 0 all -128 (Q8_0) or 0 nibbles (-8), and the
// second all 127 (Q8_0) or 15 nibbles (7).
func randWeights(r *rand.Rand, typ DType, rows, cols int) *Matrix {
	if typ == Q4_K || typ == Q6_K {
		return randKWeights(r, typ, rows, cols)
	}
	bb := map[DType]int{Q8_0: BlockBytesQ8_0, Q4_0: BlockBytesQ4_0}[typ]
	data := make([]byte, rows*cols/32*bb)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	for b := 0; b < len(data); b += bb {
		putScale(data[b:], float32(r.NormFloat64()*0.01))
	}
	for i := 2; i < bb && cols >= 64; i++ {
		if typ == Q8_0 {
			data[i], data[bb+i] = 0x80, 0x7f
		} else {
			data[i], data[bb+i] = 0x00, 0xff
		}
	}
	m, err := NewMatrix(typ, rows, cols, data)
	if err != nil {
		panic(err)
	}
	return m
}

// randActs returns n quantized activation rows of cols values; the first
// two blocks of row 0 quantize to all -127 and all 127.
func randActs(r *rand.Rand, n, cols int) Acts {
	x := make([]float32, n*cols)
	randF32s(r, x)
	for i := 0; i < 64 && i < cols; i++ {
		x[i] = float32(i/32*2 - 1)
	}
	return QuantizeActs(make([]float32, ActsWords(n, cols)), x, n, cols)
}

// TestMulActsTiers checks that every tier's integer product equals the
// plain-Go dot products bit for bit, for every tile shape and its leftovers
// (rows and batches from 1 to 9), on random and extreme blocks, serially and
// on a pool; and that it is close to the float product of the dequantized
// weights and activations.
func TestMulActsTiers(t *testing.T) {
	defer useGeneric(false)
	pool := NewPool(2)
	defer pool.Close()
	r := rand.New(rand.NewPCG(3, 4))
	defer SetIntegerKQuants(SetIntegerKQuants(true))
	for _, typ := range []DType{Q8_0, Q4_0, Q4_K, Q6_K} {
		colss := []int{32, 64, 288, 1024}
		if typ == Q4_K || typ == Q6_K {
			colss = []int{256, 512, 1280}
		}
		for _, cols := range colss {
			for _, rows := range []int{1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 21, 29} {
				for _, n := range []int{1, 2, 3, 4, 5, 8, 9} {
					m, a := randWeights(r, typ, rows, cols), randActs(r, n, cols)
					want := make([]float32, n*rows)
					for i := 0; i < n; i++ {
						for j := 0; j < rows; j++ {
							want[i*rows+j] = q8Ref(m, &a, j, i)
						}
					}
					checkQ8Close(t, m, &a, want)
					for _, tier := range q8Tiers {
						if !useTier(tier) {
							continue
						}
						for _, p := range []*Pool{nil, pool} {
							got := make([]float32, n*rows)
							m.MulActs(p, got, &a)
							for i := range got {
								if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
									t.Fatalf("%v %d×%d, batch %d, tier %s, pool %v: out[%d] = %g, want %g (bit for bit)",
										typ, rows, cols, n, tier, p != nil, i, got[i], want[i])
								}
							}
						}
					}
					useGeneric(false)
				}
			}
		}
	}
	for _, tier := range q8Tiers[1:] {
		if !useTier(tier) {
			t.Logf("tier %s: not on this CPU or build, skipped", tier)
		}
	}
	useGeneric(false)
}

// checkQ8Close checks the integer product want against the float product of
// the dequantized weights and activations: they differ only by the float
// roundings, at most a few in 10⁶ of Σ|w|·|a| here, where for Q4_K |w| is
// |d×sc×q| + |dmin×m|, the magnitudes of the two terms the product sums
// separately (the integer product's activations are the quantized ones, so
// the bound covers the kernels' roundings; the activations' own
// quantization error is model-level, see model's TestSyntheticLlamaShapes).
func checkQ8Close(t *testing.T, m *Matrix, a *Acts, want []float32) {
	t.Helper()
	w, x := make([]float32, m.Cols), make([]float32, m.Cols)
	for i := 0; i < a.N; i++ {
		for k := range x {
			x[k] = float32(a.q[i*m.Cols+k]) * a.scales(i)[k/QK8]
		}
		for j := 0; j < m.Rows; j++ {
			m.Row(w, j)
			mw := weightMagnitudes(m, j)
			var ref, mag float64
			for k := range w {
				ref += float64(w[k]) * float64(x[k])
				mag += mw[k] * math.Abs(float64(x[k]))
			}
			if e := math.Abs(float64(want[i*m.Rows+j]) - ref); e > 1e-5*mag {
				t.Fatalf("%v %d×%d: out[%d,%d] = %g, float product %g (error %g, Σ|w·a| %g)",
					m.Type, m.Rows, m.Cols, i, j, want[i*m.Rows+j], ref, e, mag)
			}
		}
	}
}

// TestMulActsFloat checks that matrices without integer kernels, and
// unquantized activations, take the float products.
func TestMulActsFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const rows, cols, n = 5, 64, 3
	w, x := make([]float32, rows*cols), make([]float32, n*cols)
	randF32s(r, w)
	randF32s(r, x)
	m := F32Matrix(rows, cols, w)
	want, got := make([]float32, n*rows), make([]float32, n*rows)
	m.MulBatch(nil, want, x, n)
	for _, a := range []Acts{FloatActs(x, n, cols), QuantizeActs(make([]float32, ActsWords(n, cols)), x, n, cols)} {
		m.MulActs(nil, got, &a)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("quantized %v: out[%d] = %g, want %g", a.Quantized(), i, got[i], want[i])
			}
		}
	}
	q := randWeights(r, Q8_0, rows, cols)
	a := FloatActs(x, n, cols)
	q.MulBatch(nil, want, x, n)
	q.MulActs(nil, got, &a)
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("Q8_0, float activations: out[%d] = %g, want %g", i, got[i], want[i])
		}
	}
}

// BenchmarkMulActs measures a 4096×4096 product per activation row (token)
// for batches of 1 and 256, for Q8_0, Q4_0, Q4_K and Q6_K weights: the
// integer tiles per tier, and the float MulBatch for comparison. ns/token is the figure to compare.
func BenchmarkMulActs(b *testing.B) {
	defer useGeneric(false)
	const rows, cols = 4096, 4096
	r := rand.New(rand.NewPCG(7, 8))
	pool := NewPool(0)
	defer pool.Close()
	defer SetIntegerKQuants(SetIntegerKQuants(true))
	for _, typ := range []DType{Q8_0, Q4_0, Q4_K, Q6_K} {
		m := randWeights(r, typ, rows, cols)
		m.Pack() // as a model does at load, not in the first product
		for _, n := range []int{1, 256} {
			a := randActs(r, n, cols)
			out := make([]float32, n*rows)
			for _, tier := range []string{"float", "generic", "avx2", "vnni"} {
				if tier == "generic" && n > 1 {
					continue // minutes
				}
				b.Run(fmt.Sprintf("%v/n=%d/%s", typ, n, tier), func(b *testing.B) {
					if tier == "float" {
						useGeneric(false)
					} else if !useTier(tier) {
						b.Skip("tier not on this CPU or build")
					}
					for b.Loop() {
						if tier == "float" {
							m.MulBatch(pool, out, a.X, n)
						} else {
							m.MulActs(pool, out, &a)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/token")
				})
			}
		}
	}
}

// BenchmarkMulActsStream measures decode-shaped products streaming from
// memory: one token through 48 packed 2048×2048 matrices of each type
// (96–200 MB, several times a last-level cache), on 1 and 2 threads, and
// reports the weight bytes read per second. Compare it with a plain read
// of as many bytes to see how far the kernels are from the memory's rate.
func BenchmarkMulActsStream(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	const rows, cols, count = 2048, 2048, 48
	defer SetIntegerKQuants(SetIntegerKQuants(true))
	for _, typ := range []DType{Q8_0, Q4_0, Q4_K, Q6_K} {
		ms := make([]*Matrix, count)
		var bytes int
		for i := range ms {
			ms[i] = randWeights(r, typ, rows, cols)
			ms[i].Pack()
			bytes += len(ms[i].Data)
		}
		a := randActs(r, 1, cols)
		out := make([]float32, rows)
		for _, threads := range []int{1, 2} {
			pool := NewPool(threads)
			b.Run(fmt.Sprintf("%v/threads=%d", typ, threads), func(b *testing.B) {
				for b.Loop() {
					for _, m := range ms {
						m.MulActs(pool, out, &a)
					}
				}
				b.ReportMetric(float64(bytes)*float64(b.N)/float64(b.Elapsed().Nanoseconds()), "GB/s")
			})
			pool.Close()
		}
	}
}
