package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The tests in this file compare the dispatched kernels (assembly where the
// CPU has it) with the plain-Go versions on random inputs of many lengths,
// at several misalignments. Both sum in different orders, so a dot product
// may differ by a few roundings of its largest partial sums: the bound is
// 1e-5 × Σ|aᵢbᵢ|. Under the purego tag, or without AVX2, both sides run the
// Go code and must agree exactly.

// testLengths are the vector lengths tried: every length up to 300 (all
// tail sizes around each unrolled step) and one long row.
func testLengths() []int {
	n := make([]int, 0, 302)
	for i := 0; i <= 300; i++ {
		n = append(n, i)
	}
	return append(n, 4096)
}

// guarded returns a slice of n elements that starts off elements into a
// buffer, so that kernels see starts that are not 32-byte aligned, and buf,
// the whole buffer. The 16 elements on either side of the slice hold
// canary: a NaN for floats, so that a kernel reading past the end of its
// input spoils its result, and writes past the end can be seen in buf.
func guarded[T any](n, off int, canary T) (s, buf []T) {
	buf = make([]T, 16+off+n+16)
	for i := range buf {
		buf[i] = canary
	}
	return buf[16+off : 16+off+n : 16+off+n], buf
}

// misaligned is guarded's slice, with a NaN canary for float types.
func misaligned[T float32 | uint16 | byte](n, off int) []T {
	var canary T
	switch c := any(&canary).(type) {
	case *float32:
		*c = float32(math.NaN())
	case *uint16:
		*c = 0x7e00 // a half NaN
	case *byte:
		*c = 0x7f
	}
	s, _ := guarded(n, off, canary)
	return s
}

func randF32s(r *rand.Rand, v []float32) {
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
}

// randF16s fills v with random finite halves of magnitude up to about 4.
func randF16s(r *rand.Rand, v []uint16) {
	for i := range v {
		v[i] = F32ToF16(float32(r.NormFloat64()))
	}
}

// checkClose fails unless got is within 1e-5×mag (plus a tiny absolute
// slack for all-zero inputs) of want.
func checkClose(t *testing.T, what string, n int, got, want float32, mag float64) {
	t.Helper()
	if d := math.Abs(float64(got) - float64(want)); !(d <= 1e-5*mag+1e-30) {
		t.Errorf("%s n=%d: asm %g, go %g (|diff| %g > 1e-5·%g)", what, n, got, want, d, mag)
	}
}

func TestDotAsm(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range testLengths() {
		off := n % 4
		a, b := misaligned[float32](n, off), misaligned[float32](n+3, 3-off)
		randF32s(r, a)
		randF32s(r, b)
		var mag float64
		for i := range a {
			mag += math.Abs(float64(a[i]) * float64(b[i]))
		}
		checkClose(t, "Dot", n, Dot(a, b), dotGeneric(a, b), mag)
	}
}

func TestDotF16Asm(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range testLengths() {
		off := n % 8
		w, x := misaligned[uint16](n, off), misaligned[float32](n, 7-off)
		randF16s(r, w)
		randF32s(r, x)
		var mag float64
		for i := range w {
			mag += math.Abs(float64(F16ToF32(w[i])) * float64(x[i]))
		}
		checkClose(t, "DotF16", n, DotF16(w, x), dotF16Generic(w, x), mag)
	}
}

// testAxpy runs one Axpy variant against its Go version. An FMA rounds
// once where the Go code rounds twice, so each element may differ by about
// one rounding of |y| + |a·x|.
func testAxpy[T float32 | uint16](t *testing.T, what string, fill func(*rand.Rand, []T), val func(T) float32,
	asm, gen func(y []float32, a float32, x []T)) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range testLengths() {
		off := n % 8
		x := misaligned[T](n, off)
		y, buf := guarded(n, 7-off, float32(-1))
		fill(r, x)
		randF32s(r, y)
		want := append([]float32(nil), y...)
		a := float32(r.NormFloat64())
		asm(y, a, x)
		gen(want, a, x)
		for i, v := range buf {
			if (i < 16+7-off || i >= 16+7-off+n) && v != -1 {
				t.Fatalf("%s n=%d: wrote outside y, at buffer index %d", what, n, i)
			}
		}
		for i := range y {
			mag := math.Abs(float64(want[i])) + math.Abs(float64(a*val(x[i])))
			if d := math.Abs(float64(y[i] - want[i])); !(d <= 1e-6*mag) {
				t.Fatalf("%s n=%d: y[%d] asm %g, go %g", what, n, i, y[i], want[i])
			}
		}
	}
}

func TestAxpyAsm(t *testing.T) {
	testAxpy(t, "Axpy", randF32s, func(v float32) float32 { return v }, Axpy, axpyGeneric)
}

func TestAxpyF16Asm(t *testing.T) {
	testAxpy(t, "AxpyF16", randF16s, F16ToF32, AxpyF16, axpyF16Generic)
}

// TestF16AllHalves checks the half conversion of the kernels on every bit
// pattern: F16sToF32s must reproduce F16ToF32 bit for bit, and so must
// AxpyF16 with y = 0 and a = 1, since 0 + 1·h is exact (except that -0
// becomes +0 there). NaNs only need to stay NaN.
func TestF16AllHalves(t *testing.T) {
	x := make([]uint16, 1<<16)
	for i := range x {
		x[i] = uint16(i)
	}
	conv, axpy := make([]float32, len(x)), make([]float32, len(x))
	F16sToF32s(conv, x)
	AxpyF16(axpy, 1, x)
	for i, h := range x {
		want := F16ToF32(h)
		if isNaN32(want) {
			if !isNaN32(conv[i]) || !isNaN32(axpy[i]) {
				t.Errorf("half %#04x: got %g and %g, want NaN", h, conv[i], axpy[i])
			}
			continue
		}
		if math.Float32bits(conv[i]) != math.Float32bits(want) {
			t.Errorf("F16sToF32s(%#04x) = %g, want %g", h, conv[i], want)
		}
		if axpy[i] != want {
			t.Errorf("AxpyF16 of %#04x = %g, want %g", h, axpy[i], want)
		}
	}
}

// TestF16sToF32sAsm checks every length and misalignment, and that nothing
// beyond dst[:len(src)] is written.
func TestF16sToF32sAsm(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range testLengths() {
		off := n % 8
		src := misaligned[uint16](n, off)
		randF16s(r, src)
		dst, buf := guarded(n, 7-off, float32(-1))
		F16sToF32s(dst, src)
		for i, v := range buf {
			if i < 16+7-off || i >= 16+7-off+n {
				if v != -1 {
					t.Fatalf("n=%d: wrote outside dst, at buffer index %d", n, i)
				}
			} else if h := src[i-16-7+off]; v != F16ToF32(h) {
				t.Fatalf("n=%d: F16sToF32s(%#04x) = %g, want %g", n, h, v, F16ToF32(h))
			}
		}
	}
}

// randQuantRow returns a row of n/32 blocks of the given size with random
// quantised values and random finite f16 scales (some of them subnormal),
// starting at byte offset off of its buffer.
func randQuantRow(r *rand.Rand, n, blockBytes, off int) []byte {
	w := misaligned[byte](n/32*blockBytes, off)
	for i := range w {
		w[i] = byte(r.Uint32())
	}
	for b := 0; b < len(w); b += blockBytes {
		d := float32(r.NormFloat64()) * 0.01
		if b%(3*blockBytes) == 0 {
			d *= 1e-3 // subnormal half
		}
		putScale(w[b:], d)
	}
	return w
}

func testQuantDot(t *testing.T, what string, blockBytes int, dequant func([]float32, []byte),
	dot, gen func([]byte, []float32) float32) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range testLengths() {
		if n%32 != 0 {
			continue
		}
		w := randQuantRow(r, n, blockBytes, n/32%4)
		x := misaligned[float32](n, n/32%3)
		randF32s(r, x)
		row := make([]float32, n)
		dequant(row, w)
		var mag float64
		for i := range x {
			mag += math.Abs(float64(row[i]) * float64(x[i]))
		}
		checkClose(t, what, n, dot(w, x), gen(w, x), mag)
	}
}

func TestDotQ8_0Asm(t *testing.T) {
	testQuantDot(t, "DotQ8_0", BlockBytesQ8_0, DequantizeQ8_0, DotQ8_0, dotQ8_0Generic)
}

func TestDotQ4_0Asm(t *testing.T) {
	testQuantDot(t, "DotQ4_0", BlockBytesQ4_0, DequantizeQ4_0, DotQ4_0, dotQ4_0Generic)
}

// TestDispatch checks that useGeneric switches every exported kernel
// between the two paths: with it on, the results equal the Go versions bit
// for bit; with it off, they equal the assembly (where there is some).
func TestDispatch(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const n = 100 // not a multiple of 8 or 32, so tails run too
	a, b := make([]float32, n), make([]float32, n)
	h := make([]uint16, n)
	randF32s(r, a)
	randF32s(r, b)
	randF16s(r, h)
	q8 := randQuantRow(r, 96, BlockBytesQ8_0, 0)
	q4 := randQuantRow(r, 96, BlockBytesQ4_0, 0)
	x96 := b[:96]
	axpy := func(f func([]float32)) float32 {
		y := append([]float32(nil), a...)
		f(y)
		return dotGeneric(y, y) // a summary that depends on every element
	}
	type kernel struct {
		name          string
		exported, gen func() float32
		asm           func() float32
	}
	kernels := []kernel{
		{"Dot", func() float32 { return Dot(a, b) }, func() float32 { return dotGeneric(a, b) },
			func() float32 { return dotAVX2(a, b) }},
		{"DotF16", func() float32 { return DotF16(h, b) }, func() float32 { return dotF16Generic(h, b) },
			func() float32 { return dotF16AVX2(h, b) }},
		{"DotQ8_0", func() float32 { return DotQ8_0(q8, x96) }, func() float32 { return dotQ8_0Generic(q8, x96) },
			func() float32 { return dotQ8_0AVX2(q8, x96) }},
		{"DotQ4_0", func() float32 { return DotQ4_0(q4, x96) }, func() float32 { return dotQ4_0Generic(q4, x96) },
			func() float32 { return dotQ4_0AVX2(q4, x96) }},
		{"Axpy", func() float32 { return axpy(func(y []float32) { Axpy(y, 0.3, b) }) },
			func() float32 { return axpy(func(y []float32) { axpyGeneric(y, 0.3, b) }) },
			func() float32 { return axpy(func(y []float32) { axpyAVX2(y, 0.3, b) }) }},
		{"AxpyF16", func() float32 { return axpy(func(y []float32) { AxpyF16(y, 0.3, h) }) },
			func() float32 { return axpy(func(y []float32) { axpyF16Generic(y, 0.3, h) }) },
			func() float32 { return axpy(func(y []float32) { axpyF16AVX2(y, 0.3, h) }) }},
		{"F16sToF32s", func() float32 { return axpy(func(y []float32) { F16sToF32s(y, h) }) },
			func() float32 { return axpy(func(y []float32) { f16sToF32sGeneric(y, h) }) },
			func() float32 { return axpy(func(y []float32) { f16sToF32sAVX2(y, h) }) }},
	}
	defer useGeneric(false)
	for _, k := range kernels {
		useGeneric(true)
		if got, want := k.exported(), k.gen(); got != want {
			t.Errorf("%s with useGeneric(true) = %g, want the Go result %g", k.name, got, want)
		}
		useGeneric(false)
		if !useAVX2 {
			continue
		}
		if got, want := k.exported(), k.asm(); got != want {
			t.Errorf("%s = %g, want the assembly result %g", k.name, got, want)
		}
	}
	t.Logf("assembly kernels in use: %v", useAVX2)
}
