package kernels

import (
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

// attnWidths are the row widths tried: below one lane group, with tails of
// every kind, and the head sizes (and ThinK-kept sizes) models use.
var attnWidths = []int{1, 5, 8, 13, 16, 24, 40, 64, 77, 128}

// attnDots runs AttnDotsF16 or AttnDotsF32 on the keys k (as halves when
// half is true).
func attnDots(half bool, dst []float32, ldd int, kh []uint16, kf []float32, q []float32, w int, scale float32) {
	if half {
		AttnDotsF16(dst, ldd, kh, q, w, scale)
	} else {
		AttnDotsF32(dst, ldd, kf, q, w, scale)
	}
}

// testTiers returns those of the named tiers (see useTier) that this build
// and CPU can run, logging the others as skipped.
func testTiers(t *testing.T, names ...string) []string {
	t.Helper()
	defer useGeneric(false)
	var have []string
	for _, n := range names {
		if useTier(n) {
			have = append(have, n)
		} else {
			t.Logf("tier %s: skipped (not in this build or CPU)", n)
		}
	}
	return have
}

// TestAttnDots checks the dispatched dots against the plain-Go ones (within
// 1e-5·Σ|kq|·scale), that every result is the same bits whatever the
// numbers of keys and queries in the call, and that nothing outside dst's
// rows is written.
func TestAttnDots(t *testing.T) {
	defer useGeneric(false)
	r := rand.New(rand.NewPCG(3, 4))
	for _, tier := range testTiers(t, "generic", "avx2", "avx512") {
		t.Run(tier, func(t *testing.T) {
			useTier(tier)
			attnDotsCases(t, tier, r)
		})
	}
}

// attnDotsCases runs TestAttnDots' cases on the tier in use (tier, restored
// after each plain-Go reference).
func attnDotsCases(t *testing.T, tier string, r *rand.Rand) {
	for _, half := range []bool{true, false} {
		for _, w := range attnWidths {
			for _, n := range []int{1, 2, 3, 4, 5, 7, 8, 9, 64, 67} {
				for _, m := range []int{1, 2, 3, 4, 5} {
					kh, kf := misaligned[uint16](n*w, n%4), misaligned[float32](n*w, n%3)
					randF16s(r, kh)
					for i := range kf {
						kf[i] = F16ToF32(kh[i])
					}
					q := misaligned[float32](m*w, m%4)
					randF32s(r, q)
					ldd := n + 3
					dst, buf := guarded(m*ldd, 1, float32(-7))
					scale := float32(0.125)
					attnDots(half, dst, ldd, kh, kf, q, w, scale)
					for j := 0; j < m; j++ {
						for i := n; i < ldd; i++ {
							if dst[j*ldd+i] != -7 {
								t.Fatalf("half=%v w=%d n=%d m=%d: wrote dst[%d·ldd+%d]", half, w, n, m, j, i)
							}
						}
					}
					for i, x := range buf {
						if (i < 17 || i >= 17+m*ldd) && x != -7 {
							t.Fatalf("half=%v w=%d n=%d m=%d: wrote outside dst", half, w, n, m)
						}
					}
					want := make([]float32, m*ldd)
					useGeneric(true)
					attnDots(half, want, ldd, kh, kf, q, w, scale)
					useTier(tier)
					for j := 0; j < m; j++ {
						for i := 0; i < n; i++ {
							var mag float64
							for c := 0; c < w; c++ {
								mag += math.Abs(float64(kf[i*w+c]) * float64(q[j*w+c]))
							}
							checkClose(t, "AttnDots", w, dst[j*ldd+i], want[j*ldd+i], mag*float64(scale))
							// One key and one query alone: the same bits.
							var one [1]float32
							attnDots(half, one[:], 1, kh[i*w:(i+1)*w], kf[i*w:(i+1)*w], q[j*w:(j+1)*w], w, scale)
							if one[0] != dst[j*ldd+i] {
								t.Fatalf("half=%v w=%d n=%d m=%d: pair (%d,%d) alone %g, in the block %g", half, w, n, m, i, j, one[0], dst[j*ldd+i])
							}
						}
					}
				}
			}
		}
	}
}

// TestAttnAccum checks the dispatched value accumulation against the
// plain-Go one (within 1e-5·Σ|p·v| plus the output's own rounding), that an
// output is the same bits whatever the number of outputs in the call, and
// that nothing past each output's w channels is written.
func TestAttnAccum(t *testing.T) {
	defer useGeneric(false)
	r := rand.New(rand.NewPCG(5, 6))
	for _, tier := range testTiers(t, "generic", "avx2", "avx512") {
		t.Run(tier, func(t *testing.T) {
			useTier(tier)
			attnAccumCases(t, tier, r)
		})
	}
}

// attnAccumCases runs TestAttnAccum's cases on the tier in use (tier,
// restored after each plain-Go reference).
func attnAccumCases(t *testing.T, tier string, r *rand.Rand) {
	for _, half := range []bool{true, false} {
		for _, w := range attnWidths {
			for _, n := range []int{1, 2, 5, 64} {
				for _, m := range []int{1, 2, 3, 4, 5, 8, 9} {
					vh, vf := misaligned[uint16](n*w, n%4), misaligned[float32](n*w, n%3)
					randF16s(r, vh)
					for i := range vf {
						vf[i] = F16ToF32(vh[i])
					}
					ldp, ldo := n+1, w+2
					p := misaligned[float32](m*ldp, 1)
					for i := range p {
						p[i] = r.Float32()
					}
					out0 := make([]float32, m*ldo)
					randF32s(r, out0)
					accum := func(out []float32, p []float32, m int) {
						if half {
							AttnAccumF16(out, ldo, p, ldp, m, vh, w)
						} else {
							AttnAccumF32(out, ldo, p, ldp, m, vf, w)
						}
					}
					got := append([]float32(nil), out0...)
					accum(got, p, m)
					want := append([]float32(nil), out0...)
					useGeneric(true)
					accum(want, p, m)
					useTier(tier)
					for j := 0; j < m; j++ {
						for c := 0; c < ldo; c++ {
							k := j*ldo + c
							if c >= w {
								if got[k] != out0[k] {
									t.Fatalf("half=%v w=%d n=%d m=%d: wrote channel %d of output %d", half, w, n, m, c, j)
								}
								continue
							}
							mag := math.Abs(float64(out0[k]))
							for i := 0; i < n; i++ {
								mag += math.Abs(float64(p[j*ldp+i] * vf[i*w+c]))
							}
							checkClose(t, "AttnAccum", w, got[k], want[k], mag)
						}
						alone := append([]float32(nil), out0[j*ldo:(j+1)*ldo]...)
						accum(alone, p[j*ldp:], 1)
						for c := 0; c < w; c++ {
							if alone[c] != got[j*ldo+c] {
								t.Fatalf("half=%v w=%d n=%d m=%d: output %d alone differs at channel %d", half, w, n, m, j, c)
							}
						}
					}
				}
			}
		}
	}
}

// ulps returns |got − want| in units in the last place of want as a
// float32 (the spacing of float32s at |want|).
func ulps(got float32, want float64) float64 {
	w := float32(want)
	ulp := math.Abs(float64(math.Nextafter32(w, float32(math.Inf(1)))) - float64(w))
	if e := math.Abs(float64(w) - float64(math.Nextafter32(w, float32(math.Inf(-1))))); e < ulp {
		ulp = e
	}
	return math.Abs(float64(got)-want) / ulp
}

// expBound is the accuracy Exp and ExpShift promise on [ExpMin, ExpMax].
const expBound = 2

// checkExp checks ExpShift (both paths) and Exp on xs against math.Exp and
// returns the worst error in ulps.
func checkExp(t *testing.T, xs []float32) float64 {
	t.Helper()
	defer useGeneric(false)
	worst := 0.0
	for _, tier := range testTiers(t, "generic", "avx2", "avx512") {
		useTier(tier)
		y := append([]float32(nil), xs...)
		ExpShift(y, 0)
		for i, x := range xs {
			want := math.Exp(float64(x))
			for _, got := range []float32{y[i], Exp(x)} {
				e := ulps(got, want)
				if !(e <= expBound) {
					t.Fatalf("%s: exp(%g) = %g, want %g (%.2f ulp)", tier, x, got, want, e)
				}
				worst = max(worst, e)
			}
		}
	}
	return worst
}

// TestExpAccuracy checks Exp and ExpShift within 2 ulp of math.Exp on
// float32s across [ExpMin, ExpMax] (every 997th bit pattern; every one when
// THINKV_EXP_EXHAUSTIVE is set, about ten minutes), and their edges: 0 for −Inf
// and anything below ExpMin, +Inf above ExpMax, NaN for NaN, 1 for 0.
func TestExpAccuracy(t *testing.T) {
	step := uint32(997)
	if os.Getenv("THINKV_EXP_EXHAUSTIVE") != "" {
		step = 1
	}
	var worst float64
	xs := make([]float32, 0, 1<<16)
	flush := func() {
		worst = max(worst, checkExp(t, xs))
		xs = xs[:0]
	}
	for _, r := range [][2]float32{{0, ExpMax}, {float32(math.Copysign(0, -1)), ExpMin}} {
		lo, hi := math.Float32bits(r[0]), math.Float32bits(r[1])
		for b := lo; b <= hi; b += step {
			xs = append(xs, math.Float32frombits(b))
			if len(xs) == cap(xs) {
				flush()
			}
		}
		xs = append(xs, r[1])
	}
	flush()
	t.Logf("worst error %.3f ulp (every %d-th float32 in [ExpMin, ExpMax])", worst, step)

	inf := float32(math.Inf(1))
	edges := []float32{-inf, -1e30, -1000, -104, -88, math.Nextafter32(ExpMin, -inf), inf, 1e30, 89, math.Nextafter32(ExpMax, inf), 0, float32(math.NaN())}
	want := []float32{0, 0, 0, 0, 0, 0, inf, inf, inf, inf, 1, float32(math.NaN())}
	defer useGeneric(false)
	for _, tier := range testTiers(t, "generic", "avx2", "avx512") {
		useTier(tier)
		y := append(append([]float32(nil), edges...), make([]float32, 4)...) // two lane groups
		ExpShift(y, 0)
		for i, x := range edges {
			for _, got := range []float32{y[i], Exp(x)} {
				if got != want[i] && !(got != got && want[i] != want[i]) {
					t.Errorf("%s: exp(%g) = %g, want %g", tier, x, got, want[i])
				}
			}
		}
	}
}

// TestExpShiftSum checks ExpShift's sum and shift, and that appending −Inf
// entries to a multiple of 8 leaves the sum's bits unchanged.
func TestExpShiftSum(t *testing.T) {
	defer useGeneric(false)
	r := rand.New(rand.NewPCG(7, 8))
	for _, tier := range testTiers(t, "generic", "avx2", "avx512") {
		useTier(tier)
		for _, n := range []int{0, 1, 7, 8, 9, 16, 37, 64} {
			x := make([]float32, n, 72)
			for i := range x {
				x[i] = float32(r.NormFloat64() * 5)
			}
			shift := float32(3)
			y := append([]float32(nil), x...)
			s := ExpShift(y, shift)
			var want float64
			for i, v := range x {
				e := math.Exp(float64(v - shift))
				want += e
				if ulps(y[i], e) > expBound {
					t.Errorf("%s n=%d: exp(%g−%g) = %g, want %g", tier, n, v, shift, y[i], e)
				}
			}
			if math.Abs(float64(s)-want) > 1e-6*want {
				t.Errorf("%s n=%d: sum %g, want %g", tier, n, s, want)
			}
			// Padded with −Inf to a multiple of 8, then with 8 more: the same bits.
			pad := append([]float32(nil), x...)
			for len(pad)%8 != 0 {
				pad = append(pad, float32(math.Inf(-1)))
			}
			more := append(append([]float32(nil), pad...), make([]float32, 8)...)
			for i := len(pad); i < len(more); i++ {
				more[i] = float32(math.Inf(-1))
			}
			if a, b := ExpShift(pad, shift), ExpShift(more, shift); a != b || n%8 == 0 && a != s {
				t.Errorf("%s n=%d: sums %g (padded to 8), %g (8 more), %g", tier, n, a, b, s)
			}
		}
	}
}

// TestMax checks Max against a plain loop, for every length up to 70.
func TestMax(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for n := 0; n <= 70; n++ {
		x := misaligned[float32](n, n%4)
		randF32s(r, x)
		want := float32(math.Inf(-1))
		for _, v := range x {
			want = max(want, v)
		}
		if got := Max(x); got != want {
			t.Errorf("n=%d: Max %g, want %g", n, got, want)
		}
	}
}

// TestScale checks Scale against a plain loop, bit for bit, for every
// length up to 40.
func TestScale(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for n := 0; n <= 40; n++ {
		x := misaligned[float32](n, n%4)
		randF32s(r, x)
		want := append([]float32(nil), x...)
		for i := range want {
			want[i] *= 0.37
		}
		Scale(x, 0.37)
		for i := range x {
			if x[i] != want[i] {
				t.Fatalf("n=%d: x[%d] = %g, want %g", n, i, x[i], want[i])
			}
		}
	}
}
