package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// Hand-built blocks: each test sets a few fields of one block to chosen
// values and checks elements whose values are worked out in the comments from
// the layout (kquant.go, and ggml's block_* structs): which byte, which
// bits, which scale. f16 constants: 0x3800 = 0.5, 0x3400 = 0.25, 0xbc00 = -1.

// kHandCase is an element index and its value worked out by hand.
type kHandCase struct {
	e    int
	want float32
}

func checkHand(t *testing.T, name string, deq func([]float32, []byte), blk []byte, n int, cases []kHandCase) {
	t.Helper()
	got := make([]float32, n)
	deq(got, blk)
	for _, c := range cases {
		if got[c.e] != c.want {
			t.Errorf("%s element %d = %g, want %g", name, c.e, got[c.e], c.want)
		}
	}
}

func TestDequantizeQ4_1Hand(t *testing.T) {
	// d = 0.5, m = -1; element = nibble×0.5 − 1. Byte 3 = 0xa7: element 3 is
	// its low nibble 7 → 2.5, element 19 its high nibble 10 → 4. Byte 15 =
	// 0xf1: element 15 → 1×0.5−1 = −0.5, element 31 → 15×0.5−1 = 6.5. Byte 0
	// = 0: elements 0 and 16 are −1.
	b := make([]byte, BlockBytesQ4_1)
	b[0], b[1], b[2], b[3] = 0x00, 0x38, 0x00, 0xbc
	b[4+3], b[4+15] = 0xa7, 0xf1
	checkHand(t, "Q4_1", DequantizeQ4_1, b, 32, []kHandCase{{3, 2.5}, {19, 4}, {15, -0.5}, {31, 6.5}, {0, -1}, {16, -1}})
}

// q5Bits is qh with bits 3, 19 and 31 set: bytes 08 00 08 80.
var q5Bits = []byte{0x08, 0x00, 0x08, 0x80}

func TestDequantizeQ5_0Hand(t *testing.T) {
	// d = 0.5, qh bits 3, 19, 31 set; element = (5-bit value − 16)×0.5.
	// Byte 3 = 0xa7: element 3 = 7|16 = 23 → 3.5; element 19 = 10|16 = 26 →
	// 5. Byte 15 = 0xf1: element 15 = 1 (bit 15 clear) → −7.5; element 31 =
	// 15|16 = 31 → 7.5. Byte 0 = 0: elements 0 and 16 → −8.
	b := make([]byte, BlockBytesQ5_0)
	b[0], b[1] = 0x00, 0x38
	copy(b[2:], q5Bits)
	b[6+3], b[6+15] = 0xa7, 0xf1
	checkHand(t, "Q5_0", DequantizeQ5_0, b, 32, []kHandCase{{3, 3.5}, {19, 5}, {15, -7.5}, {31, 7.5}, {0, -8}, {16, -8}})
}

func TestDequantizeQ5_1Hand(t *testing.T) {
	// d = 0.5, m = −1, the same qh and nibbles as the Q5_0 test; element =
	// value×0.5 − 1: 23 → 10.5, 26 → 12, 1 → −0.5, 31 → 14.5, 0 → −1.
	b := make([]byte, BlockBytesQ5_1)
	b[0], b[1], b[2], b[3] = 0x00, 0x38, 0x00, 0xbc
	copy(b[4:], q5Bits)
	b[8+3], b[8+15] = 0xa7, 0xf1
	checkHand(t, "Q5_1", DequantizeQ5_1, b, 32, []kHandCase{{3, 10.5}, {19, 12}, {15, -0.5}, {31, 14.5}, {0, -1}, {16, -1}})
}

func TestDequantizeQ2_KHand(t *testing.T) {
	// Layout: scales[16] (low nibble scale, high nibble min, one per 16
	// elements), qs[64], d = 0.5, dmin = 0.25. Element e = 128h + 32s + l is
	// bits 2s..2s+1 of qs[32h+l]; value d×sc×q − dmin×m with the scale byte
	// e/16.
	b := make([]byte, BlockBytesQ2_K)
	sc, qs := b[:16], b[16:80]
	b[80], b[81], b[82], b[83] = 0x00, 0x38, 0x00, 0x34
	sc[0], sc[2], sc[5], sc[9], sc[15] = 0x21, 0x14, 0x3f, 0x12, 0xf0
	qs[0] = 0x1b  // 00 01 10 11: s=0 → 3, s=1 → 2
	qs[16] = 0x30 // bits 4-5 = 3
	qs[54] = 0x01 // bits 0-1 = 1
	checkHand(t, "Q2_K", DequantizeQ2_K, b, 256, []kHandCase{
		{0, 1},       // qs[0] bits 0-1 = 3, scale byte 0 (sc 1, m 2): 0.5×1×3 − 0.25×2
		{32, 3.75},   // h0 s1 l0: qs[0] bits 2-3 = 2, byte 2 (sc 4, m 1): 4 − 0.25
		{80, 21.75},  // h0 s2 l16: qs[16] bits 4-5 = 3, byte 5 (sc 15, m 3): 22.5 − 0.75
		{150, 0.75},  // h1 s0 l22: qs[54] bits 0-1 = 1, byte 9 (sc 2, m 1): 1 − 0.25
		{255, -3.75}, // h1 s3 l31: qs[63] = 0, byte 15 (sc 0, m 15): −0.25×15
		{1, -0.5},    // qs[1] = 0, byte 0: −0.25×2
	})
}

func TestDequantizeQ3_KHand(t *testing.T) {
	// Layout: hmask[32], qs[64], scales[12], d = 0.5. Element e = 128h+32s+l:
	// low bits 2s..2s+1 of qs[32h+l], high bit 4h+s of hmask[l]; q = low −
	// 4 when the high bit is clear, low when set. Scale j (of e/16) is 6 bits
	// less 32: low four bits from byte j's low nibble (j < 8) or byte j−8's
	// high nibble, top two bits from byte 8+j%4 at bit 2(j/4).
	//   scale 0 = 40 (low 8 in byte 0, top 2 in byte 8 bits 0-1) → 8
	//   scale 9 = 20 (low 4 in byte 1's high nibble, top 1 in byte 9 bits 4-5) → −12
	//   scale 15 = 63 (15 in byte 7's high nibble, 3 in byte 11 bits 6-7) → 31
	//   scale 6 = 0 → −32
	b := make([]byte, BlockBytesQ3_K)
	hm, qs, sc := b[:32], b[32:96], b[96:108]
	b[108], b[109] = 0x00, 0x38
	sc[0], sc[1], sc[7], sc[8], sc[9], sc[11] = 0x08, 0x40, 0xf0, 0x02, 0x10, 0xc0
	qs[0], hm[0] = 0x03, 0x01   // e0: low 3, high set → 3
	qs[5] = 0x01                // e5: low 1, high clear → −3
	qs[54], hm[22] = 0x03, 0x10 // e150 (h1 s0 l22): low 3, hmask[22] bit 4 set → 3
	qs[63] = 0x40               // e255 (h1 s3 l31): low 1, hmask[31] bit 7 clear → −3
	qs[4], hm[4] = 0xc0, 0x08   // e100 (h0 s3 l4): low 3, hmask[4] bit 3 set → 3
	checkHand(t, "Q3_K", DequantizeQ3_K, b, 256, []kHandCase{
		{0, 12},      // 0.5×8×3
		{5, -12},     // 0.5×8×−3
		{150, -18},   // 0.5×−12×3
		{255, -46.5}, // 0.5×31×−3
		{100, -48},   // 0.5×−32×3
		{1, -16},     // qs[1] = 0, hmask clear → −4: 0.5×8×−4
	})
}

// q4KScales are the 12 packed scale bytes of the Q4_K and Q5_K tests:
// sub-block 0: scale 3 (byte 0), min 5 (byte 4); sub-block 1: scale 2 (byte
// 1's low six bits), min 1 (byte 5's); sub-block 5: scale 39 = 0b100111
// (low 7 from byte 9's low nibble, top 2 from byte 1's top two bits), min 18
// = 0b010010 (low 2 from byte 9's high nibble, top 1 from byte 5's top
// bits); sub-block 7: scale 1 (byte 11 low nibble), min 3 (byte 11 high
// nibble); the others 0.
var q4KScales = []byte{0x03, 0x82, 0, 0, 0x05, 0x41, 0, 0, 0, 0x27, 0, 0x31}

func TestDequantizeQ4_KHand(t *testing.T) {
	// Layout: d = 0.5, dmin = 0.25, scales[12], qs[128]; sub-block j = e/32
	// uses byte 32(j/2) + e%32, low nibble for even j, high for odd.
	b := make([]byte, BlockBytesQ4_K)
	b[0], b[1], b[2], b[3] = 0x00, 0x38, 0x00, 0x34
	copy(b[4:16], q4KScales)
	qs := b[16:]
	qs[0], qs[74], qs[127] = 0x9a, 0xf0, 0x50
	checkHand(t, "Q4_K", DequantizeQ4_K, b, 256, []kHandCase{
		{0, 13.75},  // j0, qs[0] low 10: 0.5×3×10 − 0.25×5
		{32, 8.75},  // j1, qs[0] high 9: 0.5×2×9 − 0.25×1
		{170, 288},  // j5, qs[74] high 15: 0.5×39×15 − 0.25×18
		{64, 0},     // j2: scale and min 0
		{255, 1.75}, // j7, qs[127] high 5: 0.5×1×5 − 0.25×3
		{1, -1.25},  // j0, qs[1] = 0: −0.25×5
	})
}

func TestDequantizeQ5_KHand(t *testing.T) {
	// As Q4_K, with qh[32] between the scales and the nibbles: bit j of
	// qh[e%32] adds 16 to element e of sub-block j.
	b := make([]byte, BlockBytesQ5_K)
	b[0], b[1], b[2], b[3] = 0x00, 0x38, 0x00, 0x34
	copy(b[4:16], q4KScales)
	qh, qs := b[16:48], b[48:]
	qs[0], qs[74], qs[127] = 0x9a, 0xf0, 0x50
	qh[0], qh[10], qh[31] = 0x01, 0x20, 0x80
	checkHand(t, "Q5_K", DequantizeQ5_K, b, 256, []kHandCase{
		{0, 37.75},  // j0: 10+16 = 26: 0.5×3×26 − 1.25
		{32, 8.75},  // j1: qh[0] bit 1 clear: 9
		{170, 600},  // j5 l10: qh[10] bit 5 set: 31: 0.5×39×31 − 4.5
		{255, 9.75}, // j7 l31: qh[31] bit 7 set: 21: 0.5×21 − 0.75
	})
}

func TestDequantizeQ6_KHand(t *testing.T) {
	// Layout: ql[128], qh[64], scales[16] (int8, one per 16 elements), d =
	// 0.5. Element e = 128h + 32g + l: low four bits from ql[64h + 32(g%2) +
	// l] (low nibble for g < 2, high for g ≥ 2), top two from bits 2g..2g+1
	// of qh[32h+l]; value d×scale×(q−32).
	b := make([]byte, BlockBytesQ6_K)
	ql, qh, sc := b[:128], b[128:192], b[192:208]
	b[208], b[209] = 0x00, 0x38
	sc[0], sc[3], sc[12], sc[15] = 2, 0xfd, 127, 0x80 // 2, −3, 127, −128
	ql[0], qh[0] = 0x0f, 0x02                         // e0: 15 | 2<<4 = 47
	ql[50], qh[18] = 0x05, 0x0c                       // e50 (g1 l18): 5 | 3<<4 = 53
	ql[72] = 0x30                                     // e200 (h1 g2 l8): ql[72] high 3, qh[40] = 0: 3
	ql[127], qh[63] = 0xf0, 0xc0                      // e255 (h1 g3 l31): 15 | 3<<4 = 63
	checkHand(t, "Q6_K", DequantizeQ6_K, b, 256, []kHandCase{
		{0, 15},        // 0.5×2×(47−32)
		{50, -31.5},    // 0.5×−3×21
		{200, -1841.5}, // 0.5×127×−29
		{255, -1984},   // 0.5×−128×31
		{1, -32},       // ql[1] = qh[1] = 0: 0.5×2×−32
	})
}

// kFormat is one format of kquant.go for the table-driven tests.
type kFormat struct {
	name       string
	typ        DType
	qk, bytes  int
	dequantize func([]float32, []byte)
	dot        func([]byte, []float32) float32
	halves     []int // offsets of f16 fields (set to sane values in random blocks)
}

var kFormats = []kFormat{
	{"Q4_1", Q4_1, QK4_1, BlockBytesQ4_1, DequantizeQ4_1, DotQ4_1, []int{0, 2}},
	{"Q5_0", Q5_0, QK5_0, BlockBytesQ5_0, DequantizeQ5_0, DotQ5_0, []int{0}},
	{"Q5_1", Q5_1, QK5_1, BlockBytesQ5_1, DequantizeQ5_1, DotQ5_1, []int{0, 2}},
	{"Q2_K", Q2_K, QK_K, BlockBytesQ2_K, DequantizeQ2_K, DotQ2_K, []int{80, 82}},
	{"Q3_K", Q3_K, QK_K, BlockBytesQ3_K, DequantizeQ3_K, DotQ3_K, []int{108}},
	{"Q4_K", Q4_K, QK_K, BlockBytesQ4_K, DequantizeQ4_K, DotQ4_K, []int{0, 2}},
	{"Q5_K", Q5_K, QK_K, BlockBytesQ5_K, DequantizeQ5_K, DotQ5_K, []int{0, 2}},
	{"Q6_K", Q6_K, QK_K, BlockBytesQ6_K, DequantizeQ6_K, DotQ6_K, []int{208}},
}

// randKRow returns n random blocks of f: random bytes, with every f16 field
// a random value in ±[2⁻¹⁰, 2⁻⁴] so that products stay finite.
func randKRow(r *rand.Rand, f kFormat, n int) []byte {
	w := make([]byte, n*f.bytes)
	for i := range w {
		w[i] = byte(r.Uint32())
	}
	for b := range n {
		for _, o := range f.halves {
			v := float32(math.Ldexp(1+r.Float64(), -4-r.IntN(7)))
			if r.IntN(2) == 0 {
				v = -v
			}
			h := F32ToF16(v)
			w[b*f.bytes+o], w[b*f.bytes+o+1] = byte(h), byte(h>>8)
		}
	}
	return w
}

// TestDotK checks every format's dot product, on both kernel tiers, against
// its dequantized row dotted with x in float64: the error must be within
// 2⁻¹⁸ (about 4e-6) of Σ|wᵢxᵢ|, a few float32 roundings per term.
func TestDotK(t *testing.T) {
	defer useGeneric(false)
	r := rand.New(rand.NewPCG(1, 2))
	for _, f := range kFormats {
		for _, blocks := range []int{1, 2, 7, 17, 40} {
			w := randKRow(r, f, blocks)
			x := make([]float32, blocks*f.qk)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			deq := make([]float32, len(x))
			f.dequantize(deq, w)
			var want, mag float64
			for i := range x {
				want += float64(deq[i]) * float64(x[i])
				mag += math.Abs(float64(deq[i]) * float64(x[i]))
			}
			for _, generic := range []bool{true, false} {
				useGeneric(generic)
				got := f.dot(w, x)
				if math.Abs(float64(got)-want) > mag/(1<<18) {
					t.Errorf("%s %d blocks (generic %v): dot %g, dequantize-then-dot %g (Σ|wx| %g)", f.name, blocks, generic, got, want, mag)
				}
				m, err := NewMatrix(f.typ, 1, len(x), w)
				if err != nil {
					t.Fatal(err)
				}
				if got2 := m.RowDot(0, x); got2 != got {
					t.Errorf("%s: Matrix.RowDot %g, Dot %g", f.name, got2, got)
				}
			}
		}
	}
}

// TestKAsmMatchesGeneric checks that the AVX2 kernels of Q4_K and Q6_K agree
// with the plain-Go ones within 2⁻²⁰ of Σ|wᵢxᵢ| on long rows (where the
// CPU has AVX2; elsewhere both are the Go kernel).
func TestKAsmMatchesGeneric(t *testing.T) {
	defer useGeneric(false)
	r := rand.New(rand.NewPCG(3, 4))
	for _, f := range kFormats {
		if f.typ != Q4_K && f.typ != Q6_K {
			continue
		}
		for _, blocks := range []int{1, 15, 16, 17, 33, 56} {
			w := randKRow(r, f, blocks)
			x := make([]float32, blocks*QK_K)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			deq := make([]float32, len(x))
			f.dequantize(deq, w)
			var mag float64
			for i := range x {
				mag += math.Abs(float64(deq[i]) * float64(x[i]))
			}
			useGeneric(true)
			g := f.dot(w, x)
			useGeneric(false)
			a := f.dot(w, x)
			if math.Abs(float64(a)-float64(g)) > mag/(1<<20) {
				t.Errorf("%s %d blocks: %s kernel %g, generic %g (Σ|wx| %g)", f.name, blocks, Tier(), a, g, mag)
			}
		}
	}
}

// TestKMatrix checks the Matrix methods for the new types: names, row bytes,
// a row length that is not a whole number of blocks is refused with the
// block size in the message, and Row and MulVec agree with the functions.
func TestKMatrix(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, f := range kFormats {
		if got := f.typ.String(); got != strings.ToLower(f.name) {
			t.Errorf("%v.String() = %q", f.name, got)
		}
		if got := f.typ.RowBytes(2 * f.qk); got != 2*f.bytes {
			t.Errorf("%s RowBytes(%d) = %d, want %d", f.name, 2*f.qk, got, 2*f.bytes)
		}
		bad := f.qk + 32
		if f.qk == 32 {
			bad = 48
		}
		_, err := NewMatrix(f.typ, 1, bad, make([]byte, f.bytes*2))
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("multiple of %d", f.qk)) {
			t.Errorf("%s with %d columns: %v", f.name, bad, err)
		}
		rows, cols := 3, 2*f.qk
		w := randKRow(r, f, rows*2)
		m, err := NewMatrix(f.typ, rows, cols, w)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, cols)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		out := make([]float32, rows)
		m.MulVec(nil, out, x)
		row, want := make([]float32, cols), make([]float32, cols)
		for i := range rows {
			if out[i] != f.dot(w[i*2*f.bytes:(i+1)*2*f.bytes], x) {
				t.Errorf("%s MulVec row %d = %g", f.name, i, out[i])
			}
			m.Row(row, i)
			f.dequantize(want, w[i*2*f.bytes:(i+1)*2*f.bytes])
			for j := range row {
				if row[j] != want[j] {
					t.Fatalf("%s Row %d[%d] = %g, want %g", f.name, i, j, row[j], want[j])
				}
			}
		}
	}
}

func TestKLengthPanics(t *testing.T) {
	for _, f := range kFormats {
		for _, call := range []func(){
			func() { f.dequantize(make([]float32, f.qk), make([]byte, f.bytes-1)) },
			func() { f.dequantize(make([]float32, f.qk+1), make([]byte, f.bytes)) },
			func() { f.dot(make([]byte, f.bytes), make([]float32, 2*f.qk)) },
		} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s: no panic on a length mismatch", f.name)
					}
				}()
				call()
			}()
		}
	}
}

// BenchmarkDotK compares, per format and 4096-element row, the fused dot
// product (the default tier, and the plain-Go one) with dequantizing the row
// and then taking an f32 dot product.
func BenchmarkDotK(b *testing.B) {
	defer useGeneric(false)
	r := rand.New(rand.NewPCG(7, 8))
	const n = 4096
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for _, f := range kFormats {
		w := randKRow(r, f, n/f.qk)
		b.Run(f.name+"/fused-"+Tier(), func(b *testing.B) {
			useGeneric(false)
			b.SetBytes(int64(len(w)))
			for b.Loop() {
				f.dot(w, x)
			}
		})
		if f.typ == Q4_K || f.typ == Q6_K {
			b.Run(f.name+"/fused-generic", func(b *testing.B) {
				useGeneric(true)
				defer useGeneric(false)
				b.SetBytes(int64(len(w)))
				for b.Loop() {
					f.dot(w, x)
				}
			})
		}
		b.Run(f.name+"/dequantize-then-dot", func(b *testing.B) {
			useGeneric(false)
			tmp := make([]float32, n)
			b.SetBytes(int64(len(w)))
			for b.Loop() {
				f.dequantize(tmp, w)
				Dot(tmp, x)
			}
		})
	}
}
