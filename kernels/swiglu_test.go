package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSwiGLU checks SwiGLU against silu(g)×up in float64: within 4 ulp of
// the float64 value (2 for e^x, one each for the sum, quotient and
// product, roughly) where e^−g is in Exp's range, and the assembly against
// plain Go bit for bit, on random inputs and on ones outside that range:
// ±0, ±Inf, NaN, |g| beyond 88, in and out of aligned groups of eight.
func TestSwiGLU(t *testing.T) {
	defer useGeneric(false)
	r := rand.New(rand.NewPCG(41, 42))
	const n = 1000
	gate, up := make([]float32, n), make([]float32, n)
	for i := range gate {
		gate[i] = float32(r.NormFloat64() * 6)
		up[i] = float32(r.NormFloat64())
	}
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		88, -88, 87.3, -87.4, 100, -100, 1e-40, -1e-40, math.MaxFloat32, -math.MaxFloat32}
	for i, v := range special {
		gate[37*i+5] = v
	}
	var ref []float32
	for _, generic := range []bool{true, false} {
		useGeneric(generic)
		g := append([]float32(nil), gate...)
		SwiGLU(g, up)
		if generic {
			ref = g
			continue
		}
		if !useAVX2 {
			t.Log("no assembly on this CPU or build: plain Go only")
			break
		}
		for i := range g {
			if math.Float32bits(g[i]) != math.Float32bits(ref[i]) && !(g[i] != g[i] && ref[i] != ref[i]) {
				t.Fatalf("SwiGLU(%g, %g): assembly %g, Go %g", gate[i], up[i], g[i], ref[i])
			}
		}
	}
	for i, v := range ref {
		x, u := float64(gate[i]), float64(up[i])
		want := x / (1 + math.Exp(-x)) * u
		switch {
		case math.IsNaN(x) || math.IsInf(x, 0):
			continue // Inf/Inf and Inf×0: NaN either way, or a signed zero
		case math.IsInf(float64(float32(want)), 0):
			if float64(v) != float64(float32(want)) {
				t.Errorf("SwiGLU(%g, %g) = %g, want %g (float32 overflow)", x, u, v, float32(want))
			}
		case -x < ExpMin || -x > ExpMax:
			if math.Abs(float64(v)-want) > 1e-30 && math.Abs(float64(v)-want) > 1e-6*math.Abs(want) {
				t.Errorf("SwiGLU(%g, %g) = %g, want %g", x, u, v, want)
			}
		case ulps(v, want) > 4:
			t.Errorf("SwiGLU(%g, %g) = %g, want %g (%.1f ulp)", x, u, v, want, ulps(v, want))
		}
	}
}
