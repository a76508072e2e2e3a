package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestDequantizeQ8_0Hand(t *testing.T) {
	// Two blocks. Block 0: d = 0x3800 = 0.5, q[i] = i-16, so element i is
	// (i-16)/2: -8, -7.5, ..., 7.5. Block 1: d = 0xc000 = -2, q = {-128, 127,
	// 1, 0, ...}: 256, -254, -2, 0, ...
	src := []byte{0x00, 0x38}
	for i := range 32 {
		src = append(src, byte(int8(i-16)))
	}
	src = append(src, 0x00, 0xc0, 0x80, 0x7f, 0x01)
	src = append(src, make([]byte, 29)...)
	want := make([]float32, 64)
	for i := range 32 {
		want[i] = float32(i-16) / 2
	}
	want[32], want[33], want[34] = 256, -254, -2
	if len(src) != 2*BlockBytesQ8_0 {
		t.Fatalf("test bug: %d bytes", len(src))
	}
	got := make([]float32, 64)
	DequantizeQ8_0(got, src)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("element %d = %g, want %g", i, got[i], want[i])
		}
	}
}

func TestDequantizeQ4_0Hand(t *testing.T) {
	// d = 0x4000 = 2. Byte i has low nibble i and high nibble 15-i, so
	// element i = (i-8)×2 = -16, -14, ..., 14 and element 16+i = (7-i)×2 =
	// 14, 12, ..., -16.
	src := []byte{0x00, 0x40,
		0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87,
		0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f}
	want := []float32{
		-16, -14, -12, -10, -8, -6, -4, -2, 0, 2, 4, 6, 8, 10, 12, 14,
		14, 12, 10, 8, 6, 4, 2, 0, -2, -4, -6, -8, -10, -12, -14, -16,
	}
	got := make([]float32, 32)
	DequantizeQ4_0(got, src)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("element %d = %g, want %g", i, got[i], want[i])
		}
	}
}

func TestQuantizeQ8_0Reference(t *testing.T) {
	// x[i] = i-16: amax = 16, d = 16/127 = 0.125984..., stored as f16 0x3008
	// (0.1259765625); q = round(x×127/16), e.g. -16 → -127, 15 → 119
	// (119.06), 2 → 16 (15.875), -1 → -8 (-7.9375).
	x := make([]float32, 32)
	for i := range x {
		x[i] = float32(i - 16)
	}
	b := make([]byte, BlockBytesQ8_0)
	QuantizeQ8_0(b, x)
	if b[0] != 0x08 || b[1] != 0x30 {
		t.Errorf("scale = %#02x%02x, want 0x3008", b[1], b[0])
	}
	for i, v := range x {
		want := int8(math.Round(float64(v) * 127 / 16))
		if got := int8(b[2+i]); got != want {
			t.Errorf("q[%d] = %d, want %d", i, got, want)
		}
	}
	for i, want := range map[int]int8{0: -127, 31: 119, 18: 16, 15: -8, 16: 0} {
		if got := int8(b[2+i]); got != want {
			t.Errorf("q[%d] = %d, want %d", i, got, want)
		}
	}

	// An all-zero block has d = 0 and q = 0.
	QuantizeQ8_0(b, make([]float32, 32))
	for i, v := range b {
		if v != 0 {
			t.Fatalf("zero block: byte %d = %#x", i, v)
		}
	}
}

func TestQuantizeQ4_0Reference(t *testing.T) {
	// x[i] = i-16: the value of largest magnitude is -16, so d = -16/-8 = 2
	// (f16 0x4000) and the nibble is min(15, trunc(x/2 + 8.5)): -16 → 0,
	// -15 → 1, -1 → 8, 0 → 8, 1 → 9, 15 → 15 (16, clamped).
	x := make([]float32, 32)
	for i := range x {
		x[i] = float32(i - 16)
	}
	b := make([]byte, BlockBytesQ4_0)
	QuantizeQ4_0(b, x)
	want := []byte{0x00, 0x40,
		0x80, 0x91, 0x91, 0xa2, 0xa2, 0xb3, 0xb3, 0xc4,
		0xc4, 0xd5, 0xd5, 0xe6, 0xe6, 0xf7, 0xf7, 0xf8}
	// Check the stated nibbles one by one as well as the bytes.
	nib := func(i int) int {
		if i < 16 {
			return int(b[2+i] & 0xf)
		}
		return int(b[2+i-16] >> 4)
	}
	for i, v := range x {
		w := min(15, int(v/2+8.5))
		if nib(i) != w {
			t.Errorf("nibble %d (x=%g) = %d, want %d", i, v, nib(i), w)
		}
	}
	for i := range want {
		if b[i] != want[i] {
			t.Errorf("byte %d = %#02x, want %#02x", i, b[i], want[i])
		}
	}
	// With the largest magnitude positive, d is negative.
	x[31] = 40 // d = 40/-8 = -5
	QuantizeQ4_0(b, x)
	if d := scale(b); d != -5 {
		t.Errorf("d = %g, want -5", d)
	}
	if n := int(b[2+15] >> 4); n != 0 { // 40/-5 + 8.5 = 0.5 → 0
		t.Errorf("nibble of the largest value = %d, want 0", n)
	}
}

func randBlocks(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64()) * float32(1+i/32) // a different scale per block
	}
	if n >= 64 {
		for i := 32; i < 64; i++ { // one all-zero block
			x[i] = 0
		}
	}
	return x
}

func TestQ8_0RoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	x := randBlocks(r, 32*40)
	q := make([]byte, 40*BlockBytesQ8_0)
	QuantizeQ8_0(q, x)
	y := make([]float32, len(x))
	DequantizeQ8_0(y, q)
	for b := 0; b < 40; b++ {
		var amax float64
		for _, v := range x[b*32 : b*32+32] {
			amax = max(amax, math.Abs(float64(v)))
		}
		d := amax / 127
		// round() is off by at most d/2; storing d as f16 (relative error
		// ≤ 2⁻¹¹) moves q×d by at most 127×d×2⁻¹¹ more.
		bound := d/2 + 127*d*0x1p-11
		for i := b * 32; i < b*32+32; i++ {
			if e := math.Abs(float64(x[i] - y[i])); e > bound {
				t.Fatalf("element %d: |%g - %g| = %g > %g", i, x[i], y[i], e, bound)
			}
		}
	}
}

func TestQ4_0RoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	x := randBlocks(r, 32*40)
	q := make([]byte, 40*BlockBytesQ4_0)
	QuantizeQ4_0(q, x)
	y := make([]float32, len(x))
	DequantizeQ4_0(y, q)
	for b := 0; b < 40; b++ {
		var amax float64
		for _, v := range x[b*32 : b*32+32] {
			amax = max(amax, math.Abs(float64(v)))
		}
		d := amax / 8
		// Truncating x/d+8.5 rounds to nearest (error ≤ d/2) except where
		// the clamp to 15 cuts the far end (error ≤ d); the f16 scale adds
		// at most 8×d×2⁻¹¹.
		bound := d + 8*d*0x1p-11
		for i := b * 32; i < b*32+32; i++ {
			if e := math.Abs(float64(x[i] - y[i])); e > bound {
				t.Fatalf("element %d: |%g - %g| = %g > %g", i, x[i], y[i], e, bound)
			}
		}
	}
}

func refDot(w, x []float32) (dot, mag float64) {
	for i := range w {
		p := float64(w[i]) * float64(x[i])
		dot += p
		mag += math.Abs(p)
	}
	return dot, mag
}

func TestDotQuantized(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, nb := range []int{0, 1, 2, 7, 64} {
		n := nb * 32
		w := randBlocks(r, n)
		x := randBlocks(r, n)
		deq := make([]float32, n)

		q8 := make([]byte, nb*BlockBytesQ8_0)
		QuantizeQ8_0(q8, w)
		DequantizeQ8_0(deq, q8)
		want, mag := refDot(deq, x)
		if got := DotQ8_0(q8, x); math.Abs(float64(got)-want) > 1e-5*mag+1e-6 {
			t.Errorf("%d blocks: DotQ8_0 = %g, want %g", nb, got, want)
		}

		q4 := make([]byte, nb*BlockBytesQ4_0)
		QuantizeQ4_0(q4, w)
		DequantizeQ4_0(deq, q4)
		want, mag = refDot(deq, x)
		if got := DotQ4_0(q4, x); math.Abs(float64(got)-want) > 1e-5*mag+1e-6 {
			t.Errorf("%d blocks: DotQ4_0 = %g, want %g", nb, got, want)
		}
	}
}

func TestQuantLengthPanics(t *testing.T) {
	mustPanic(t, "DequantizeQ8_0 partial block", func() { DequantizeQ8_0(make([]float32, 33), make([]byte, 34)) })
	mustPanic(t, "DequantizeQ8_0 short src", func() { DequantizeQ8_0(make([]float32, 64), make([]byte, 34)) })
	mustPanic(t, "DequantizeQ4_0 long src", func() { DequantizeQ4_0(make([]float32, 32), make([]byte, 19)) })
	mustPanic(t, "QuantizeQ8_0 short dst", func() { QuantizeQ8_0(make([]byte, 33), make([]float32, 32)) })
	mustPanic(t, "QuantizeQ4_0 partial block", func() { QuantizeQ4_0(make([]byte, 18), make([]float32, 31)) })
	mustPanic(t, "DotQ8_0 mismatch", func() { DotQ8_0(make([]byte, 34), make([]float32, 64)) })
	mustPanic(t, "DotQ4_0 mismatch", func() { DotQ4_0(make([]byte, 36), make([]float32, 32)) })
}

func TestQuantizeNonFinite(t *testing.T) {
	// Non-finite input must not panic or produce out-of-range nibbles.
	x := make([]float32, 32)
	x[3] = float32(math.NaN())
	x[5] = float32(math.Inf(1))
	b4 := make([]byte, BlockBytesQ4_0)
	QuantizeQ4_0(b4, x)
	b8 := make([]byte, BlockBytesQ8_0)
	QuantizeQ8_0(b8, x)
}

func benchDot(b *testing.B, bytes int, dot func(w []byte, x []float32) float32, quant func([]byte, []float32)) {
	const n = 4096
	r := rand.New(rand.NewPCG(1, 1))
	w := randBlocks(r, n)
	x := randBlocks(r, n)
	q := make([]byte, n/32*bytes)
	quant(q, w)
	b.SetBytes(int64(len(q)))
	for b.Loop() {
		dot(q, x)
	}
}

func BenchmarkDotQ8_0(b *testing.B) { benchDot(b, BlockBytesQ8_0, DotQ8_0, QuantizeQ8_0) }
func BenchmarkDotQ4_0(b *testing.B) { benchDot(b, BlockBytesQ4_0, DotQ4_0, QuantizeQ4_0) }
