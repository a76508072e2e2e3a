package kernels

import "math"

// SwiGLU sets gate[i] = silu(gate[i]) × up[i], where silu(g) = g/(1+e^−g),
// with e^x computed in float32 as Exp does (within 2 ulp on [ExpMin,
// ExpMax]; 0 below, +Inf above) but with every product rounded before it
// is added, so that the assembly (eight at a time) and plain Go agree bit
// for bit whatever the compiler fuses.
func SwiGLU(gate, up []float32) {
	up = up[:len(gate)]
	i, n8 := 0, len(gate)&^7
	if useAVX2 {
		// The kernel stops at eight inputs any of which is outside
		// [−ExpMax, −ExpMin] or NaN; Go does those.
		for i < n8 {
			i += swiGLUAVX2(gate[i:n8], up[i:n8])
			for end := min(i+8, n8); i < end; i++ {
				gate[i] = silu(gate[i]) * up[i]
			}
		}
	}
	for ; i < len(gate); i++ {
		gate[i] = silu(gate[i]) * up[i]
	}
}

// silu returns g/(1+e^−g) with e^x as expRounded.
func silu(g float32) float32 {
	return g / (1 + expRounded(-g))
}

// expRounded is Exp with each product rounded to float32 before the sum it
// enters (explicit conversions forbid fused multiply-adds).
func expRounded(x float32) float32 {
	switch {
	case x != x:
		return x
	case x < ExpMin:
		return 0
	case x > ExpMax:
		return float32(math.Inf(1))
	}
	n := float32(math.RoundToEven(float64(x * expLog2e)))
	r := x - float32(n*expC1)
	r = r - float32(n*expC2)
	y := float32(expP0)
	y = float32(y*r) + expP1
	y = float32(y*r) + expP2
	y = float32(y*r) + expP3
	y = float32(y*r) + expP4
	y = float32(y*r) + expP5
	y = float32(y*float32(r*r)) + r
	y++
	return y * math.Float32frombits(uint32(int32(n)+127)<<23)
}
