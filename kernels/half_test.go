package kernels

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

func TestF16ToF32Known(t *testing.T) {
	tests := []struct {
		h    uint16
		want float32
	}{
		{0x0000, 0},
		{0x3c00, 1},
		{0xbc00, -1},
		{0x3800, 0.5},
		{0xc000, -2},
		{0x3555, 0.333251953125},
		{0x7bff, 65504},                 // largest finite
		{0xfbff, -65504},                // smallest finite
		{0x0400, 0x1p-14},               // smallest normal
		{0x03ff, 1023 * 0x1p-24},        // largest subnormal
		{0x0001, 0x1p-24},               // smallest subnormal, 5.96e-8
		{0x8001, -0x1p-24},              // negative subnormal
		{0x0200, 0x1p-15},               // subnormal, one bit
		{0x7c00, float32(math.Inf(1))},  // +Inf
		{0xfc00, float32(math.Inf(-1))}, // -Inf
		{0x3c01, 1 + 0x1p-10},           // next after 1
		{0x5640, 100},                   // 1.5625 × 2^6
		{0xd640, -100},                  //
		{0x1400, 0x1p-10},               // 2^-10
		{0x7800, 32768},                 // 2^15
		{0x4248, 3.140625},              // pi in half
		{0x2e66, 0.0999755859375},       // 0.1 in half
		{0xabcd, -0.060943603515625},    // arbitrary pattern
		{0x0155, 341 * 0x1p-24},         // arbitrary subnormal
		{0x8000, float32(math.Copysign(0, -1))},
	}
	for _, tt := range tests {
		got := F16ToF32(tt.h)
		if math.Float32bits(got) != math.Float32bits(tt.want) {
			t.Errorf("F16ToF32(%#04x) = %g (%#08x), want %g (%#08x)",
				tt.h, got, math.Float32bits(got), tt.want, math.Float32bits(tt.want))
		}
	}
	for _, h := range []uint16{0x7e00, 0x7c01, 0xfe00, 0x7fff} {
		if got := F16ToF32(h); !isNaN32(got) {
			t.Errorf("F16ToF32(%#04x) = %g, want NaN", h, got)
		}
	}
	if got := F16ToF32(0x8000); !math.Signbit(float64(got)) {
		t.Errorf("F16ToF32(0x8000) lost the sign of -0")
	}
}

// TestF16ToF32Exhaustive checks every half value against the definition
// (-1)^s × 2^(e-15) × 1.m, or 2^-14 × 0.m for subnormals, computed in float64.
func TestF16ToF32Exhaustive(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		e := int(h>>10) & 0x1f
		m := float64(h & 0x3ff)
		var want float64
		switch e {
		case 0:
			want = math.Ldexp(m, -24)
		case 0x1f:
			continue
		default:
			want = math.Ldexp(1+m/1024, e-15)
		}
		if h&0x8000 != 0 {
			want = -want
		}
		if got := F16ToF32(h); float64(got) != want || math.Signbit(float64(got)) != (h&0x8000 != 0) {
			t.Fatalf("F16ToF32(%#04x) = %g, want %g", h, got, want)
		}
		// Every finite half survives a round trip.
		if back := F32ToF16(F16ToF32(h)); back != h {
			t.Fatalf("F32ToF16(F16ToF32(%#04x)) = %#04x", h, back)
		}
	}
}

func TestF32ToF16Known(t *testing.T) {
	tests := []struct {
		f    float32
		want uint16
	}{
		{1, 0x3c00},
		{-1, 0xbc00},
		{65504, 0x7bff},
		{65519.996, 0x7bff},             // just under the midpoint to 65536
		{65520, 0x7c00},                 // tie between 65504 (odd) and 65536: even is Inf
		{1e6, 0x7c00},                   // overflow
		{-1e6, 0xfc00},                  // negative overflow
		{0x1p-24, 0x0001},               // smallest subnormal
		{0x1p-25, 0x0000},               // tie between 0 and 0x0001: even is 0
		{0x1.000002p-25, 0x0001},        // just above that tie
		{3 * 0x1p-25, 0x0002},           // tie between 0x0001 and 0x0002: even
		{5 * 0x1p-25, 0x0002},           // tie between 0x0002 and 0x0003: even
		{0x1p-26, 0x0000},               // underflow
		{-0x1p-24, 0x8001},              // negative subnormal
		{1023 * 0x1p-24, 0x03ff},        // largest subnormal
		{1023.5 * 0x1p-24, 0x0400},      // rounds up into the smallest normal
		{0x1p-14, 0x0400},               // smallest normal
		{1 + 0x1p-11, 0x3c00},           // tie between 0x3c00 (even) and 0x3c01
		{1 + 3*0x1p-11, 0x3c02},         // tie between 0x3c01 and 0x3c02 (even)
		{1 + 0x1p-11 + 0x1p-20, 0x3c01}, // above the tie
		{4095 * 0x1p-12, 0x3c00},        // tie just under 1 rounds to even across the exponent
		{0.1, 0x2e66},                   //
		{3.14159265, 0x4248},            //
		{float32(math.Inf(1)), 0x7c00},  //
		{float32(math.Inf(-1)), 0xfc00}, //
		{0x1p-149, 0x0000},              // float32 subnormal
		{float32(math.Copysign(0, -1)), 0x8000},
	}
	for _, tt := range tests {
		if got := F32ToF16(tt.f); got != tt.want {
			t.Errorf("F32ToF16(%g) = %#04x, want %#04x", tt.f, got, tt.want)
		}
	}
	for _, b := range []uint32{0x7fc00000, 0x7f800001, 0xffc00000, 0x7fbfffff} {
		h := F32ToF16(math.Float32frombits(b))
		if h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
			t.Errorf("F32ToF16(NaN %#08x) = %#04x, want a NaN", b, h)
		}
	}
}

// TestF32ToF16Nearest compares F32ToF16 with a search for the nearest half
// value (ties to the even encoding) for many random float32 bit patterns.
func TestF32ToF16Nearest(t *testing.T) {
	// All finite non-negative halves in increasing order, then 2^16 standing
	// for Inf (0x7c00), the value where the exponent would continue.
	pos := make([]float64, 0x7c01)
	for h := range pos {
		pos[h] = float64(F16ToF32(uint16(h)))
	}
	pos[0x7c00] = 65536
	nearest := func(f float32) uint16 {
		a := math.Abs(float64(f))
		var h uint16
		if a >= 65536 {
			h = 0x7c00
		} else {
			i := sort.SearchFloat64s(pos, a) // pos[i-1] < a <= pos[i]
			h = uint16(i)
			if i > 0 {
				dl, dh := a-pos[i-1], pos[i]-a
				if dl < dh || dl == dh && (i-1)&1 == 0 {
					h = uint16(i - 1)
				}
			}
		}
		if math.Signbit(float64(f)) {
			h |= 0x8000
		}
		return h
	}
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 1<<20; n++ {
		b := r.Uint32()
		if n&1 == 0 {
			// Concentrate on the half range: exponents 100..145.
			b = b&0x807fffff | uint32(100+r.IntN(46))<<23
		}
		f := math.Float32frombits(b)
		if isNaN32(f) {
			continue
		}
		if got, want := F32ToF16(f), nearest(f); got != want {
			t.Fatalf("F32ToF16(%g = %#08x) = %#04x, want %#04x", f, b, got, want)
		}
	}
}

func TestBF16(t *testing.T) {
	tests := []struct {
		f    float32
		want uint16
	}{
		{1, 0x3f80},
		{-2, 0xc000},
		{0, 0x0000},
		{math.Float32frombits(0x3f808000), 0x3f80}, // tie, even stays
		{math.Float32frombits(0x3f818000), 0x3f82}, // tie, odd rounds up
		{math.Float32frombits(0x3f808001), 0x3f81}, // above the tie
		{math.Float32frombits(0x3f807fff), 0x3f80}, // below the tie
		{math.MaxFloat32, 0x7f80},                  // rounds past the largest finite: Inf
		{float32(math.Inf(-1)), 0xff80},
		{math.Float32frombits(0x00000001), 0x0000}, // float32 subnormal
	}
	for _, tt := range tests {
		if got := F32ToBF16(tt.f); got != tt.want {
			t.Errorf("F32ToBF16(%g) = %#04x, want %#04x", tt.f, got, tt.want)
		}
		if tt.want&0x7f80 != 0x7f80 {
			if back := BF16ToF32(tt.want); F32ToBF16(back) != tt.want {
				t.Errorf("BF16 round trip of %#04x failed", tt.want)
			}
		}
	}
	if got := BF16ToF32(0x3f80); got != 1 {
		t.Errorf("BF16ToF32(0x3f80) = %g, want 1", got)
	}
	if got := BF16ToF32(0x4049); got != 3.140625 {
		t.Errorf("BF16ToF32(0x4049) = %g, want 3.140625", got)
	}
	for _, b := range []uint32{0x7fc00000, 0x7f800001, 0xff800001} {
		if got := BF16ToF32(F32ToBF16(math.Float32frombits(b))); !isNaN32(got) {
			t.Errorf("NaN %#08x did not survive bf16: %g", b, got)
		}
	}
}

func TestF16Slices(t *testing.T) {
	src := []float32{0, 1, -2, 0.5, 65504, 1e-7, 3.14159}
	h := make([]uint16, len(src)+2)
	F32sToF16s(h, src)
	back := make([]float32, len(src))
	F16sToF32s(back, h[:len(src)])
	for i, f := range src {
		if want := F16ToF32(F32ToF16(f)); back[i] != want {
			t.Errorf("element %d: got %g, want %g", i, back[i], want)
		}
	}
	if h[len(src)] != 0 {
		t.Errorf("F32sToF16s wrote past len(src)")
	}
	mustPanic(t, "F16sToF32s short dst", func() { F16sToF32s(make([]float32, 1), make([]uint16, 2)) })
	mustPanic(t, "F32sToF16s short dst", func() { F32sToF16s(make([]uint16, 1), make([]float32, 2)) })
}

func TestDotF16(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 3, 4, 7, 64, 1000} {
		w := make([]uint16, n)
		x := make([]float32, n)
		var want, mag float64
		for i := range w {
			w[i] = F32ToF16(float32(r.NormFloat64()))
			x[i] = float32(r.NormFloat64())
			p := float64(F16ToF32(w[i])) * float64(x[i])
			want += p
			mag += math.Abs(p)
		}
		got := DotF16(w, x)
		if math.Abs(float64(got)-want) > 1e-5*mag+1e-6 {
			t.Errorf("n=%d: DotF16 = %g, want %g", n, got, want)
		}
	}
	mustPanic(t, "DotF16 length mismatch", func() { DotF16(make([]uint16, 3), make([]float32, 4)) })
}

func isNaN32(f float32) bool { return f != f }

func mustPanic(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: did not panic", what)
		}
	}()
	fn()
}

func BenchmarkDotF16(b *testing.B) {
	w := make([]uint16, 4096)
	x := make([]float32, 4096)
	for i := range w {
		w[i] = F32ToF16(float32(i%97) / 97)
		x[i] = float32(i%13) / 13
	}
	b.SetBytes(int64(2 * len(w)))
	for b.Loop() {
		DotF16(w, x)
	}
}
