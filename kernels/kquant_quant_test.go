package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// kQuantizers are the formats thinkv writes, with the largest relative RMS
// error allowed on Gaussian rows (mean 0 and mean 1, standard deviation 1):
// the error of uniform rounding with b bits over a sub-block's range is about
// range/(2ᵇ·√12), so each bound is a little above what the format reaches.
var kQuantizers = []struct {
	name     string
	typ      DType
	quantize func([]byte, []float32)
	maxRel   float64
}{
	{"Q4_1", Q4_1, QuantizeQ4_1, 0.09},
	{"Q5_0", Q5_0, QuantizeQ5_0, 0.05},
	{"Q5_1", Q5_1, QuantizeQ5_1, 0.045},
	{"Q4_K", Q4_K, QuantizeQ4_K, 0.08},
	{"Q5_K", Q5_K, QuantizeQ5_K, 0.042},
	{"Q6_K", Q6_K, QuantizeQ6_K, 0.02},
}

func TestQuantizeKRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const n = 4096
	for _, q := range kQuantizers {
		for _, mean := range []float64{0, 1} {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(mean + r.NormFloat64())
			}
			buf := make([]byte, q.typ.RowBytes(n))
			q.quantize(buf, x)
			got := make([]float32, n)
			extDequantize(q.typ, got, buf)
			var se, ss float64
			for i := range x {
				d := float64(got[i] - x[i])
				se += d * d
				ss += float64(x[i]) * float64(x[i])
			}
			rel := math.Sqrt(se / ss)
			t.Logf("%s mean %g: relative RMS error %.4f", q.name, mean, rel)
			if rel > q.maxRel {
				t.Errorf("%s mean %g: relative RMS error %.4f > %.3f", q.name, mean, rel, q.maxRel)
			}
		}
	}
}

// TestQuantizeKExact checks that super-blocks already on a format's grid, with
// scales that 6 or 8 bits and an f16 super-scale represent exactly, come
// back exactly.
func TestQuantizeKExact(t *testing.T) {
	// Q6_K: every 16-element sub-block is q/4 with its first element −32/4
	// (the largest magnitude) and the others (13l + 7j) mod 64 − 32: the
	// scale 1/4 is −128 × d with d = −2⁻⁹.
	x := make([]float32, QK_K)
	for j := range 16 {
		for l := range 16 {
			q := (13*l+7*j)%64 - 32
			if l == 0 {
				q = -32
			}
			x[16*j+l] = float32(q) / 4
		}
	}
	checkExact(t, Q6_K, QuantizeQ6_K, x)
	// Q4_K and Q5_K: sub-block j is sc_j×2⁻⁷×q − mc_j×2⁻⁸ with sc_j and mc_j
	// at most 63 (63 is the largest of each, so d = 2⁻⁷ and dmin = 2⁻⁸
	// exactly; sub-block 4 has scale 0, so it is the constant −mc_4×2⁻⁸) and
	// q = (7l + j) mod 2ᵇ, which takes every value 0..2ᵇ−1 in each sub-block.
	sc := []int{63, 10, 1, 33, 0, 7, 50, 2}
	mc := []int{63, 0, 5, 17, 40, 1, 2, 3}
	for _, k := range []struct {
		typ      DType
		levels   int
		quantize func([]byte, []float32)
	}{{Q4_K, 16, QuantizeQ4_K}, {Q5_K, 32, QuantizeQ5_K}} {
		for j := range 8 {
			for l := range 32 {
				q := (7*l + j) % k.levels
				x[32*j+l] = float32(sc[j]*q)/128 - float32(mc[j])/256
			}
		}
		checkExact(t, k.typ, k.quantize, x)
	}
}

func checkExact(t *testing.T, typ DType, quantize func([]byte, []float32), x []float32) {
	t.Helper()
	buf := make([]byte, typ.RowBytes(len(x)))
	quantize(buf, x)
	got := make([]float32, len(x))
	extDequantize(typ, got, buf)
	for i := range x {
		if math.Abs(float64(got[i]-x[i])) > 1e-6 {
			t.Fatalf("%v element %d: %g, want %g", typ, i, got[i], x[i])
		}
	}
}

// TestQuantizeKZeroAndNonFinite checks that a zero row quantizes to zeros and
// that NaN or infinite input does not panic.
func TestQuantizeKZeroAndNonFinite(t *testing.T) {
	for _, q := range kQuantizers {
		x := make([]float32, QK_K)
		buf := make([]byte, q.typ.RowBytes(QK_K))
		q.quantize(buf, x)
		got := make([]float32, QK_K)
		extDequantize(q.typ, got, buf)
		for i, v := range got {
			if v != 0 {
				t.Fatalf("%s: zero row element %d = %g", q.name, i, v)
			}
		}
		x[3], x[40], x[200] = float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))
		q.quantize(buf, x)
	}
}
