package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAVX512SameBitsAsAVX2 checks that the AVX-512 value accumulation and
// exponentials give the AVX2 ones' bits (they do the same operations per
// element, and ExpShift's sum is kept in the same eight lanes), so a
// machine's tier changes no attention output but the dots'.
func TestAVX512SameBitsAsAVX2(t *testing.T) {
	tiers := testTiers(t, "avx2", "avx512")
	if len(tiers) < 2 {
		t.Skip("needs both the AVX2 and AVX-512 tiers")
	}
	defer useGeneric(false)
	r := rand.New(rand.NewPCG(11, 12))
	for _, w := range []int{8, 16, 24, 40, 64, 77, 128, 200} {
		for _, n := range []int{1, 3, 64} {
			for _, m := range []int{1, 3, 4, 8} {
				v := make([]uint16, n*w)
				randF16s(r, v)
				p := make([]float32, m*n)
				for i := range p {
					p[i] = r.Float32()
				}
				out0 := make([]float32, m*w)
				randF32s(r, out0)
				var got [2][]float32
				for k, tier := range tiers {
					useTier(tier)
					got[k] = append([]float32(nil), out0...)
					AttnAccumF16(got[k], w, p, n, m, v, w)
				}
				for i := range out0 {
					if math.Float32bits(got[0][i]) != math.Float32bits(got[1][i]) {
						t.Fatalf("AttnAccumF16 w=%d n=%d m=%d: element %d avx2 %g, avx512 %g", w, n, m, i, got[0][i], got[1][i])
					}
				}
			}
		}
	}
	inf := float32(math.Inf(1))
	for _, n := range []int{8, 16, 24, 56, 64, 72, 136, 1000} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 30)
		}
		x[0], x[n-1] = -inf, float32(math.NaN())
		if n > 8 {
			x[3], x[5], x[7] = 100, -100, inf
		}
		var ys [2][]float32
		var sums [2]float32
		for k, tier := range tiers {
			useTier(tier)
			ys[k] = append([]float32(nil), x...)
			sums[k] = ExpShift(ys[k], 1.5)
		}
		for i := range x {
			if math.Float32bits(ys[0][i]) != math.Float32bits(ys[1][i]) {
				t.Fatalf("ExpShift n=%d: element %d (%g) avx2 %g, avx512 %g", n, i, x[i], ys[0][i], ys[1][i])
			}
		}
		if math.Float32bits(sums[0]) != math.Float32bits(sums[1]) {
			t.Fatalf("ExpShift n=%d: sum avx2 %g, avx512 %g", n, sums[0], sums[1])
		}
	}
}
