package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestKVDequantize checks the fast dequantizers against DequantizeQ8_0 and
// DequantizeQ4_0 bit for bit, on every tier, for random blocks with random,
// subnormal, negative and zero scales and the extreme quants, at unaligned
// offsets.
func TestKVDequantize(t *testing.T) {
	defer useGeneric(false)
	r := rand.New(rand.NewPCG(21, 22))
	for _, tc := range []struct {
		name       string
		blockBytes int
		ref, fast  func([]float32, []byte)
	}{
		{"q8_0", BlockBytesQ8_0, DequantizeQ8_0, KVDequantizeQ8_0},
		{"q4_0", BlockBytesQ4_0, DequantizeQ4_0, KVDequantizeQ4_0},
	} {
		for _, n := range []int{32, 64, 96, 320, 4096} {
			for off := range 3 {
				src := randQuantRow(r, n, tc.blockBytes, off)
				putScale(src, 0)
				if n > 32 {
					for i := 2; i < tc.blockBytes; i++ {
						src[tc.blockBytes+i] = []byte{0x80, 0x7f, 0x00, 0xff}[i%4]
					}
				}
				want := make([]float32, n)
				tc.ref(want, src)
				for _, generic := range []bool{true, false} {
					useGeneric(generic)
					got := make([]float32, n)
					tc.fast(got, src)
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s n=%d off=%d generic=%v: [%d] = %g, want %g", tc.name, n, off, generic, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestQuantizeActsPadded checks padded query quantization: for widths that
// are whole blocks it is QuantizeActs bit for bit; for others it is
// QuantizeActs of the rows copied into zero-padded rows.
func TestQuantizeActsPadded(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, w := range []int{1, 8, 31, 32, 33, 64, 77, 128} {
		for _, n := range []int{1, 3, 8} {
			x := make([]float32, n*w)
			randF32s(r, x)
			cols := PaddedCols(w)
			if cols%QK8 != 0 || cols < w || cols >= w+QK8 {
				t.Fatalf("PaddedCols(%d) = %d", w, cols)
			}
			padded := make([]float32, n*cols)
			for i := 0; i < n; i++ {
				copy(padded[i*cols:], x[i*w:(i+1)*w])
			}
			want := QuantizeActs(make([]float32, ActsWords(n, cols)), padded, n, cols)
			got := QuantizeActsPadded(make([]float32, ActsWords(n, cols)), x, n, w)
			if got.N != n || got.Cols != cols || got.X != nil || !got.Quantized() {
				t.Fatalf("w=%d n=%d: N %d Cols %d X %v", w, n, got.N, got.Cols, got.X != nil)
			}
			for i := range want.q {
				if got.q[i] != want.q[i] {
					t.Fatalf("w=%d n=%d: q[%d] = %d, want %d", w, n, i, got.q[i], want.q[i])
				}
			}
			for i := range want.d {
				if math.Float32bits(got.d[i]) != math.Float32bits(want.d[i]) {
					t.Fatalf("w=%d n=%d: d[%d] = %g, want %g", w, n, i, got.d[i], want.d[i])
				}
			}
		}
	}
}

// TestKVDots checks the strided integer key dots against MulActs on a
// matrix of the same rows, bit for bit, on every tier, for every tile shape
// and leftover (rows 1..70, queries 1..9), and that rows outside the
// outputs are left alone.
func TestKVDots(t *testing.T) {
	defer useGeneric(false)
	r := rand.New(rand.NewPCG(25, 26))
	for _, typ := range []DType{Q8_0, Q4_0} {
		for _, cols := range []int{32, 64, 128} {
			for _, rows := range []int{1, 2, 3, 5, 8, 9, 17, 64, 70} {
				for _, m := range []int{1, 2, 3, 4, 5, 9} {
					w, a := randWeights(r, typ, rows, cols), randActs(r, m, cols)
					want := make([]float32, m*rows)
					for i := 0; i < m; i++ {
						for j := 0; j < rows; j++ {
							want[i*rows+j] = q8Ref(w, &a, j, i)
						}
					}
					ldd := rows + 3
					for _, tier := range q8Tiers {
						if !useTier(tier) {
							continue
						}
						got := make([]float32, m*ldd)
						for i := range got {
							got[i] = -7
						}
						KVDots(typ, got, ldd, w.Data, &a)
						for i := 0; i < m; i++ {
							for j := 0; j < ldd; j++ {
								g := got[i*ldd+j]
								if j >= rows {
									if g != -7 {
										t.Fatalf("%v %d×%d, %d queries, tier %s: wrote dst[%d,%d]", typ, rows, cols, m, tier, i, j)
									}
									continue
								}
								if math.Float32bits(g) != math.Float32bits(want[i*rows+j]) {
									t.Fatalf("%v %d×%d, %d queries, tier %s: dst[%d,%d] = %g, want %g (bit for bit)",
										typ, rows, cols, m, tier, i, j, g, want[i*rows+j])
								}
							}
						}
					}
					useGeneric(false)
				}
			}
		}
	}
}

// TestKVDotsPanics checks the argument checks.
func TestKVDotsPanics(t *testing.T) {
	r := rand.New(rand.NewPCG(27, 28))
	a := randActs(r, 2, 32)
	w := randWeights(r, Q8_0, 3, 32)
	for name, f := range map[string]func(){
		"type":        func() { KVDots(F16, make([]float32, 8), 4, w.Data, &a) },
		"float acts":  func() { x := FloatActs(make([]float32, 64), 2, 32); KVDots(Q8_0, make([]float32, 8), 4, w.Data, &x) },
		"ragged keys": func() { KVDots(Q8_0, make([]float32, 8), 4, w.Data[:50], &a) },
		"short dst":   func() { KVDots(Q8_0, make([]float32, 6), 4, w.Data, &a) },
		"stride":      func() { KVDots(Q8_0, make([]float32, 8), 2, w.Data, &a) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// TestKVAccum checks the weighted sums of quantized rows against
// AttnAccumF32 over the rows dequantized by the reference dequantizers, bit
// for bit, on both paths (plain Go and AVX2), for every output group and
// leftover (1 to 9 outputs), 1 to 70 rows, 1 to 4 blocks a row, with
// strides, random and extreme quants and scales (zero, subnormal).
func TestKVAccum(t *testing.T) {
	defer useGeneric(false)
	r := rand.New(rand.NewPCG(29, 30))
	for _, tc := range []struct {
		typ        DType
		blockBytes int
		dequantize func([]float32, []byte)
	}{{Q8_0, BlockBytesQ8_0, DequantizeQ8_0}, {Q4_0, BlockBytesQ4_0, DequantizeQ4_0}} {
		for _, nb := range []int{1, 2, 3, 4} {
			w := nb * QK8
			for _, n := range []int{1, 2, 3, 7, 64, 70} {
				for _, m := range []int{1, 2, 3, 4, 5, 8, 9} {
					v := randQuantRow(r, n*w, tc.blockBytes, 0)
					if n > 2 {
						putScale(v, 0)
						for i := 2; i < tc.blockBytes; i++ {
							v[tc.blockBytes+i] = []byte{0x80, 0x7f, 0x00, 0xff}[i%4]
						}
					}
					deq := make([]float32, n*w)
					tc.dequantize(deq, v)
					ldo, ldp := w+5, n+3
					p := make([]float32, m*ldp)
					randF32s(r, p)
					init := make([]float32, m*ldo)
					randF32s(r, init)
					for _, generic := range []bool{true, false} {
						useGeneric(generic)
						want, got := slices.Clone(init), slices.Clone(init)
						AttnAccumF32(want, ldo, p, ldp, m, deq, w)
						KVAccum(tc.typ, got, ldo, p, ldp, m, v, w)
						for i := range got {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%v %d rows of %d, %d outputs, generic %v: out[%d] = %g, AttnAccumF32 over the dequantized rows %g",
									tc.typ, n, w, m, generic, i, got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}
