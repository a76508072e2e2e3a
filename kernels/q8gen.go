//go:build ignore

// q8gen writes q8dot_amd64.s, the tile kernels of the integer products of
// Q8_0, Q4_0, Q4_K and Q6_K weights with Q8 activations (see q8act.go and
// q8kquant.go for the order of operations every kernel follows). Run it from this directory:
//
//	go run q8gen.go > q8dot_amd64.s
//
// Each kernel computes a tile of R weight rows × T activation rows, one
// 8-lane float accumulator per output, over all blocks of the rows; the
// weight block of each row is unpacked once per block and used for all T
// activation rows.
package main

import (
	"fmt"
	"os"
	"strings"
)

type wtype struct {
	name string
	bb   int  // bytes per block
	q4   bool // Q4_0 nibbles
}

type tier struct {
	name   string
	vnni   bool
	shapes [][2]int
}

var (
	q8_0 = wtype{"Q8_0", 34, false}
	q4_0 = wtype{"Q4_0", 18, true}
)

var out strings.Builder

func p(format string, args ...any) { fmt.Fprintf(&out, "\t"+format+"\n", args...) }

func rowAddr(r, off int) string {
	o := ""
	if off != 0 {
		o = fmt.Sprint(off)
	}
	return [...]string{o + "(SI)", o + "(SI)(R8*1)", o + "(R11)", o + "(R11)(R8*1)"}[r]
}

func tokAddr(t int) string { return [...]string{"(DI)", "(DI)(R9*1)", "(R12)", "(R12)(R9*1)"}[t] }
func sclAddr(t int) string { return [...]string{"(BX)", "(BX)(R10*1)", "(R13)", "(R13)(R10*1)"}[t] }

func y(i int) string { return fmt.Sprintf("Y%d", i) }
func x(i int) string { return fmt.Sprintf("X%d", i) }

func kernel(tr tier, w wtype, R, T int) {
	name := fmt.Sprintf("q8%s%s_%dx%d", tr.name, w.name, R, T)
	fmt.Fprintf(&out, "\n// func %s(w *byte, wstride uintptr, a *int8, astride uintptr, ad *float32, adstride uintptr, nb int, out *float32, ostride uintptr)\n", name)
	fmt.Fprintf(&out, "TEXT ·%s(SB), NOSPLIT, $0-72\n", name)
	p("MOVQ w+0(FP), SI")
	p("MOVQ wstride+8(FP), R8")
	p("MOVQ a+16(FP), DI")
	p("MOVQ astride+24(FP), R9")
	p("MOVQ ad+32(FP), BX")
	p("MOVQ adstride+40(FP), R10")
	p("MOVQ nb+48(FP), CX")
	if R > 2 {
		p("LEAQ (SI)(R8*2), R11")
	}
	if T > 2 {
		p("LEAQ (DI)(R9*2), R12")
		p("LEAQ (BX)(R10*2), R13")
	}
	// Registers. Low ones for values the VEX-only instructions touch.
	reg := 0
	next := func() int { reg++; return reg - 1 }
	t1, s := next(), next()
	da := next()
	var wr, dw [4]int
	for r := 0; r < R; r++ {
		wr[r], dw[r] = next(), next()
	}
	var a, c16, k, zero, c int
	if !tr.vnni {
		if w.q4 {
			c16 = next()
		} else {
			a = next()
		}
	} else {
		k, zero, c = next(), next(), next()
	}
	var acc [4][4]int
	if tr.vnni {
		reg = 16
	}
	for r := 0; r < R; r++ {
		for t := 0; t < T; t++ {
			acc[r][t] = next()
		}
	}
	if reg > map[bool]int{false: 16, true: 32}[tr.vnni] {
		panic(fmt.Sprintf("%s: %d registers", name, reg))
	}
	zeroOp := "VXORPS %[1]s, %[1]s, %[1]s"
	if tr.vnni {
		zeroOp = "VPXORD %[1]s, %[1]s, %[1]s"
	}
	for r := 0; r < R; r++ {
		for t := 0; t < T; t++ {
			p(zeroOp, y(acc[r][t]))
		}
	}
	if tr.vnni {
		if w.q4 {
			p("VMOVDQU q8eights<>(SB), %s", y(k))
		} else {
			p("VMOVDQU q8k80<>(SB), %s", y(k))
		}
		p("VPXORD %[1]s, %[1]s, %[1]s", y(zero))
	}
	p("TESTQ CX, CX")
	p("JZ %s_sum", name)
	fmt.Fprintf(&out, "\n%s_block:\n", name)
	for r := 0; r < R; r++ {
		// The row's weights: |w| (AVX2, Q8_0), w+128 (VNNI, Q8_0) or the
		// nibbles 0..15 (Q4_0), as unsigned bytes; and its scale.
		switch {
		case w.q4:
			p("VMOVDQU %s, %s", rowAddr(r, 2), x(t1))
			p("VPSRLW $4, %s, %s", x(t1), x(s))
			p("VINSERTI128 $1, %s, %s, %s", x(s), y(t1), y(t1))
			p("VPAND q8nibble<>(SB), %s, %s", y(t1), y(wr[r]))
		case tr.vnni:
			p("VPXORD %s, %s, %s", rowAddr(r, 2), y(k), y(wr[r]))
		default:
			p("VPABSB %s, %s", rowAddr(r, 2), y(wr[r]))
		}
		p("VPBROADCASTW %s, %s", rowAddr(r, 0), x(dw[r]))
		p("VCVTPH2PS %s, %s", x(dw[r]), y(dw[r]))
	}
	for t := 0; t < T; t++ {
		p("VBROADCASTSS %s, %s", sclAddr(t), y(da))
		switch {
		case tr.vnni:
			// c = -K×(lane sums of a): the correction for the offset
			// weights (K = 128) or nibbles (K = 8).
			p("VPSUBB %s, %s, %s", tokAddr(t), y(zero), y(t1))
			p("VPXORD %[1]s, %[1]s, %[1]s", y(c))
			p("VPDPBUSD %s, %s, %s", y(t1), y(k), y(c))
		case w.q4:
			// c16 = 8×(pair sums of a), subtracted from nibbles×a.
			p("VMOVDQU q8eights<>(SB), %s", y(t1))
			p("VPMADDUBSW %s, %s, %s", tokAddr(t), y(t1), y(c16))
		default:
			p("VMOVDQU %s, %s", tokAddr(t), y(a))
		}
		for r := 0; r < R; r++ {
			switch {
			case tr.vnni:
				p("VMOVDQA32 %s, %s", y(c), y(t1))
				p("VPDPBUSD %s, %s, %s", tokAddr(t), y(wr[r]), y(t1))
			case w.q4:
				p("VPMADDUBSW %s, %s, %s", tokAddr(t), y(wr[r]), y(t1))
				p("VPSUBW %s, %s, %s", y(c16), y(t1), y(t1))
				p("VPMADDWD q8ones<>(SB), %s, %s", y(t1), y(t1))
			default:
				p("VPSIGNB %s, %s, %s", rowAddr(r, 2), y(a), y(t1))
				p("VPMADDUBSW %s, %s, %s", y(t1), y(wr[r]), y(t1))
				p("VPMADDWD q8ones<>(SB), %s, %s", y(t1), y(t1))
			}
			p("VCVTDQ2PS %s, %s", y(t1), y(t1))
			p("VMULPS %s, %s, %s", y(da), y(dw[r]), y(s))
			p("VMULPS %s, %s, %s", y(s), y(t1), y(t1))
			p("VADDPS %s, %s, %s", y(t1), y(acc[r][t]), y(acc[r][t]))
		}
	}
	p("ADDQ $%d, SI", w.bb)
	if R > 2 {
		p("ADDQ $%d, R11", w.bb)
	}
	p("ADDQ $32, DI")
	p("ADDQ $4, BX")
	if T > 2 {
		p("ADDQ $32, R12")
		p("ADDQ $4, R13")
	}
	p("DECQ CX")
	p("JNZ %s_block", name)
	fmt.Fprintf(&out, "\n%s_sum:\n", name)
	sum(R, T, acc, t1, s)
}

// sum writes the R×T outputs: each accumulator's horizontal sum, in the
// order of q8Sum.
func sum(R, T int, acc [4][4]int, t1, s int) {
	p("MOVQ out+56(FP), DX")
	p("MOVQ ostride+64(FP), AX")
	for t := 0; t < T; t++ {
		for r := 0; r < R; r++ {
			v := acc[r][t]
			if v >= 16 {
				p("VMOVAPS %s, %s", y(v), y(s))
				v = s
			}
			// u[j] = acc[j]+acc[j+4]; (u0+u2) + (u1+u3).
			p("VEXTRACTF128 $1, %s, %s", y(v), x(t1))
			p("VADDPS %s, %s, %s", x(t1), x(v), x(v))
			p("VPERMILPS $0x4e, %s, %s", x(v), x(t1))
			p("VADDPS %s, %s, %s", x(t1), x(v), x(v))
			p("VPERMILPS $0xb1, %s, %s", x(v), x(t1))
			p("VADDSS %s, %s, %s", x(t1), x(v), x(v))
			p("VMOVSS %s, %d(DX)", x(v), 4*r)
		}
		if t < T-1 {
			p("ADDQ AX, DX")
		}
	}
	p("VZEROUPPER")
	p("RET")
}

// kwtype is a K-quant weight type of the integer products (q8kquant.go).
type kwtype struct {
	name string
	bb   int  // bytes per super-block
	q6   bool // Q6_K, else Q4_K
}

var (
	q4_k = kwtype{"Q4_K", 144, false}
	q6_k = kwtype{"Q6_K", 210, true}
)

func tokOff(t, off int) string {
	return fmt.Sprint(off) + [...]string{"(DI)", "(DI)(R9*1)", "(R12)", "(R12)(R9*1)"}[t]
}

func sclOff(t, off int) string {
	return fmt.Sprint(off) + [...]string{"(BX)", "(BX)(R10*1)", "(R13)", "(R13)(R10*1)"}[t]
}

// kkernel writes a tile kernel of R rows × T tokens for K-quant weights.
// The loop runs over super-blocks (nb/8 of them); per super-block each row's
// scales are decoded to the stack frame: d broadcast (32 bytes at 32r), and
// for Q4_K dmin×m_j as 8 floats (at 128+32r) and the six-bit scales as 8
// words (at 256+16r, decoded through the bytes at 320), and the offset of
// the block sums from the scales is at 336. Then for each of
// the 8 activation blocks each row's weights are unpacked to bytes 0..15
// (Q4_K) or 0..63 (Q6_K) and its scales to 16 words (Q4_K: sc_j; Q6_K:
// sc_lo ×8, sc_hi ×8), which VPMADDWD applies to the pair sums of
// VPMADDUBSW; the float steps are those of q8Product's.
func kkernel(tr tier, w kwtype, R, T int) {
	name := fmt.Sprintf("q8%s%s_%dx%d", tr.name, w.name, R, T)
	fmt.Fprintf(&out, "\n// func %s(w *byte, wstride uintptr, a *int8, astride uintptr, ad *float32, adstride uintptr, nb int, out *float32, ostride uintptr)\n", name)
	fmt.Fprintf(&out, "TEXT ·%s(SB), NOSPLIT, $344-72\n", name)
	p("MOVQ w+0(FP), SI")
	p("MOVQ wstride+8(FP), R8")
	p("MOVQ a+16(FP), DI")
	p("MOVQ astride+24(FP), R9")
	p("MOVQ ad+32(FP), BX")
	p("MOVQ adstride+40(FP), R10")
	p("MOVQ nb+48(FP), CX")
	if !w.q6 {
		// The block sums follow a token's nb scales: 4×nb bytes on.
		p("MOVQ CX, AX")
		p("SHLQ $2, AX")
		p("MOVQ AX, 336(SP)")
	}
	p("SHRQ $3, CX")
	if R > 2 {
		p("LEAQ (SI)(R8*2), R11")
	}
	if T > 2 {
		p("LEAQ (DI)(R9*2), R12")
		p("LEAQ (BX)(R10*2), R13")
	}
	reg := 0
	next := func() int { reg++; return reg - 1 }
	t1, s, da := next(), next(), next()
	var c16, mask int
	if w.q6 {
		c16 = next()
	}
	var wr, sc [4]int
	for r := 0; r < R; r++ {
		wr[r], sc[r] = next(), next()
	}
	if !w.q6 {
		mask = next()
	}
	if tr.vnni {
		reg = 16
	}
	var acc [4][4]int
	for r := 0; r < R; r++ {
		for t := 0; t < T; t++ {
			acc[r][t] = next()
		}
	}
	if reg > map[bool]int{false: 16, true: 32}[tr.vnni] {
		panic(fmt.Sprintf("%s: %d registers", name, reg))
	}
	zeroOp := "VXORPS %[1]s, %[1]s, %[1]s"
	if tr.vnni {
		zeroOp = "VPXORD %[1]s, %[1]s, %[1]s"
	}
	for r := 0; r < R; r++ {
		for t := 0; t < T; t++ {
			p(zeroOp, y(acc[r][t]))
		}
	}
	if !w.q6 {
		p("VMOVDQU q8nibble<>(SB), %s", y(mask))
	}
	p("TESTQ CX, CX")
	p("JZ %s_sum", name)
	fmt.Fprintf(&out, "\n%s_superblock:\n", name)
	for r := 0; r < R; r++ {
		if w.q6 {
			p("VPBROADCASTW %s, %s", rowAddr(r, 208), x(t1))
			p("VCVTPH2PS %s, %s", x(t1), y(t1))
			p("VMOVUPS %s, %d(SP)", y(t1), 32*r)
			continue
		}
		p("VPBROADCASTW %s, %s", rowAddr(r, 0), x(t1))
		p("VCVTPH2PS %s, %s", x(t1), y(t1))
		p("VMOVUPS %s, %d(SP)", y(t1), 32*r)
		// Scales 0..3: bytes 0..3 & 63; 4..7: bytes 8..11 & 15 | (bytes
		// 0..3 >> 6) << 4. Minimums likewise from bytes 4..7 and the high
		// nibbles of 8..11.
		for k := 0; k < 2; k++ {
			p("MOVL %s, AX", rowAddr(r, 4+4*k))
			p("MOVL AX, DX")
			p("ANDL $0x3f3f3f3f, DX")
			p("MOVL DX, %d(SP)", 320+8*k)
			p("SHRL $2, AX")
			p("ANDL $0x30303030, AX")
			p("MOVL %s, DX", rowAddr(r, 12))
			if k == 1 {
				p("SHRL $4, DX")
			}
			p("ANDL $0x0f0f0f0f, DX")
			p("ORL DX, AX")
			p("MOVL AX, %d(SP)", 324+8*k)
		}
		p("VPMOVZXBW 320(SP), %s", x(s))
		p("VMOVDQU %s, %d(SP)", x(s), 256+16*r)
		p("VPMOVZXBD 328(SP), %s", y(s))
		p("VCVTDQ2PS %s, %s", y(s), y(s))
		p("VPBROADCASTW %s, %s", rowAddr(r, 2), x(t1))
		p("VCVTPH2PS %s, %s", x(t1), y(t1))
		p("VMULPS %s, %s, %s", y(t1), y(s), y(s))
		p("VMOVUPS %s, %d(SP)", y(s), 128+32*r)
	}
	for b := 0; b < 8; b++ {
		for r := 0; r < R; r++ {
			if w.q6 {
				h, g := b/4, b%4
				p("VMOVDQU %s, %s", rowAddr(r, 64*h+32*(g%2)), y(t1))
				if g >= 2 {
					p("VPSRLW $4, %s, %s", y(t1), y(t1))
				}
				p("VPAND q8nibble<>(SB), %s, %s", y(t1), y(wr[r]))
				p("VMOVDQU %s, %s", rowAddr(r, 128+32*h), y(s))
				switch g {
				case 0:
					p("VPSLLW $4, %s, %s", y(s), y(s))
				case 1:
					p("VPSLLW $2, %s, %s", y(s), y(s))
				case 3:
					p("VPSRLW $2, %s, %s", y(s), y(s))
				}
				p("VPAND q8k30<>(SB), %s, %s", y(s), y(s))
				p("VPOR %s, %s, %s", y(s), y(wr[r]), y(wr[r]))
				p("VBROADCASTI128 %s, %s", rowAddr(r, 192), y(t1))
				p("VPSHUFB q6kscale<>+%d(SB), %s, %s", 32*b, y(t1), y(sc[r]))
				p("VPSRAW $8, %s, %s", y(sc[r]), y(sc[r]))
			} else {
				if b%2 == 0 {
					p("VPAND %s, %s, %s", rowAddr(r, 16+32*(b/2)), y(mask), y(wr[r]))
				} else {
					p("VMOVDQU %s, %s", rowAddr(r, 16+32*(b/2)), y(t1))
					p("VPSRLW $4, %s, %s", y(t1), y(t1))
					p("VPAND %s, %s, %s", y(t1), y(mask), y(wr[r]))
				}
				p("VPBROADCASTW %d(SP), %s", 256+16*r+2*b, y(sc[r]))
			}
		}
		for t := 0; t < T; t++ {
			p("VBROADCASTSS %s, %s", sclOff(t, 4*b), y(da))
			if w.q6 {
				// c16 = 32×(pair sums of a), subtracted from q×a.
				p("VMOVDQU q8thirtytwos<>(SB), %s", y(t1))
				p("VPMADDUBSW %s, %s, %s", tokOff(t, 32*b), y(t1), y(c16))
			}
			for r := 0; r < R; r++ {
				p("VPMADDUBSW %s, %s, %s", tokOff(t, 32*b), y(wr[r]), y(t1))
				if w.q6 {
					p("VPSUBW %s, %s, %s", y(c16), y(t1), y(t1))
				}
				p("VPMADDWD %s, %s, %s", y(sc[r]), y(t1), y(t1))
				p("VCVTDQ2PS %s, %s", y(t1), y(t1))
				p("VMULPS %d(SP), %s, %s", 32*r, y(da), y(s))
				p("VMULPS %s, %s, %s", y(s), y(t1), y(t1))
				p("VADDPS %s, %s, %s", y(t1), y(acc[r][t]), y(acc[r][t]))
			}
		}
	}
	if !w.q6 {
		// acc[j] -= (dmin×m_j) × sa[j], the super-block's 8 block sums.
		p("MOVQ 336(SP), AX")
		p("ADDQ BX, AX")
		if T > 2 {
			p("LEAQ (AX)(R10*2), DX")
		}
		for t := 0; t < T; t++ {
			p("VMOVUPS %s, %s", [...]string{"(AX)", "(AX)(R10*1)", "(DX)", "(DX)(R10*1)"}[t], y(da))
			for r := 0; r < R; r++ {
				p("VMULPS %d(SP), %s, %s", 128+32*r, y(da), y(t1))
				p("VSUBPS %s, %s, %s", y(t1), y(acc[r][t]), y(acc[r][t]))
			}
		}
	}
	p("ADDQ $%d, SI", w.bb)
	if R > 2 {
		p("ADDQ $%d, R11", w.bb)
	}
	p("ADDQ $256, DI")
	p("ADDQ $32, BX")
	if T > 2 {
		p("ADDQ $256, R12")
		p("ADDQ $32, R13")
	}
	p("DECQ CX")
	p("JNZ %s_superblock", name)
	fmt.Fprintf(&out, "\n%s_sum:\n", name)
	sum(R, T, acc, t1, s)
}

// row8 is the address of byte off of weight row r of an 8-row tile: rows
// at SI, SI+R8, R11 = SI+2×R8, R11+R8, R12 = SI+4×R8, R12+R8, R13 =
// SI+6×R8 and R13+R8.
func row8(r, off int) string {
	o := ""
	if off != 0 {
		o = fmt.Sprint(off)
	}
	return o + [...]string{"(SI)", "(SI)(R8*1)", "(R11)", "(R11)(R8*1)", "(R12)", "(R12)(R8*1)", "(R13)", "(R13)(R8*1)"}[r]
}

// vkernel writes a tier's matrix-vector tile for Q8_0 or Q4_0 weights:
// 8 rows × 1 token. Per block the eight rows' scales are gathered (through
// general registers) into one vector, converted and multiplied by the
// token's scale at once, s = dw×da for all eight rows, and stored to the
// frame, from where each row's product takes its s broadcast (a load, no
// shuffle); Q4_0's 16 bytes are loaded into both 128-bit lanes and shifted
// by 0 and 4 in one step. The lanes and the order of the float steps are
// those of the other kernels, so the results are the same bit for bit.
func vkernel(tr tier, w wtype) {
	const R = 8
	name := fmt.Sprintf("q8%s%s_%dx1", tr.name, w.name, R)
	fmt.Fprintf(&out, "\n// func %s(w *byte, wstride uintptr, a *int8, astride uintptr, ad *float32, adstride uintptr, nb int, out *float32, ostride uintptr)\n", name)
	fmt.Fprintf(&out, "TEXT ·%s(SB), NOSPLIT, $32-72\n", name)
	p("MOVQ w+0(FP), SI")
	p("MOVQ wstride+8(FP), R8")
	p("MOVQ a+16(FP), DI")
	p("MOVQ ad+32(FP), BX")
	p("MOVQ nb+48(FP), CX")
	p("LEAQ (SI)(R8*2), R11")
	p("LEAQ (R11)(R8*2), R12")
	p("LEAQ (R12)(R8*2), R13")
	// Y0, Y1: scratch (and the final sums); Y2: da; Y3: the token's 32
	// quants; Y4: the correction (VNNI: -K×(lane sums of a), K in Y5 as
	// bytes, 8 or 128; AVX2 Q4_0: 8×(pair sums of a)); Y6: zero; Y7: the
	// rows' scales, then (AVX2) a row's s; Y8: the shifts that take Q4_0's
	// low nibbles to the low 128-bit lane and the high ones to the high;
	// Y9: nibble mask. VNNI: the rows' weights in Y10..Y13 in turn, their
	// accumulators in Y16..Y23 and products in Y24..Y31; AVX2: weights in
	// Y1, products in Y0 and accumulators in Y8..Y15 (Q8_0) or Y10..Y15
	// and then, for rows 6 and 7, Y2 and Y6 (Q4_0).
	const da, a, c, k, zero, dw, shift, mask = 2, 3, 4, 5, 6, 7, 8, 9
	wr := func(r int) int { return 10 + r%4 }
	acc := func(r int) int { return 16 + r }
	tp := func(r int) int { return 24 + r }
	xor, mov := "VPXORD", "VMOVDQA32"
	if !tr.vnni {
		xor, mov = "VPXOR", "VMOVDQA"
		wr = func(int) int { return 1 }
		tp = func(int) int { return 0 }
		acc = func(r int) int { return 8 + r }
		if w.q4 {
			acc = func(r int) int { return [...]int{10, 11, 12, 13, 14, 15, 2, 6}[r] }
		}
	}
	for r := 0; r < R; r++ {
		p("%s %[2]s, %[2]s, %[2]s", xor, y(acc(r)))
	}
	if w.q4 {
		p("VMOVDQU q8nibble<>(SB), %s", y(mask))
		p("VMOVDQU q8nibshift<>(SB), %s", y(shift))
	}
	if tr.vnni {
		if w.q4 {
			p("VMOVDQU q8eights<>(SB), %s", y(k))
		} else {
			p("VMOVDQU q8k80<>(SB), %s", y(k))
		}
		p("VPXORD %[1]s, %[1]s, %[1]s", y(zero))
	}
	p("TESTQ CX, CX")
	p("JZ %s_sum", name)
	fmt.Fprintf(&out, "\n%s_block:\n", name)
	// The eight f16 scales, four to a general register.
	for h, regs := range [2][2]string{{"AX", "DX"}, {"R9", "R10"}} {
		p("MOVWQZX %s, %s", row8(4*h, 0), regs[0])
		for i := 1; i < 4; i++ {
			p("MOVWQZX %s, %s", row8(4*h+i, 0), regs[1])
			p("SHLQ $%d, %s", 16*i, regs[1])
			p("ORQ %s, %s", regs[1], regs[0])
		}
	}
	p("VMOVQ AX, %s", x(dw))
	p("VPINSRQ $1, R9, %s, %s", x(dw), x(dw))
	p("VCVTPH2PS %s, %s", x(dw), y(dw))
	if tr.vnni || !w.q4 {
		p("VBROADCASTSS (BX), %s", y(da))
		p("VMULPS %s, %s, %s", y(da), y(dw), y(dw))
	} else {
		p("VBROADCASTSS (BX), Y0")
		p("VMULPS Y0, %s, %s", y(dw), y(dw))
	}
	p("VMOVUPS %s, (SP)", y(dw))
	switch {
	case tr.vnni:
		p("VMOVDQU (DI), %s", y(a))
		p("VPSUBB %s, %s, %s", y(a), y(zero), y(0))
		p("VPXORD %[1]s, %[1]s, %[1]s", y(c))
		p("VPDPBUSD %s, %s, %s", y(0), y(k), y(c))
	case w.q4:
		p("VMOVDQU (DI), %s", y(a))
		p("VMOVDQU q8eights<>(SB), Y0")
		p("VPMADDUBSW %s, Y0, %s", y(a), y(c))
	default:
		p("VMOVDQU (DI), %s", y(a))
	}
	for r := 0; r < R; r++ {
		if w.q4 {
			p("VBROADCASTI128 %s, %s", row8(r, 2), y(wr(r)))
			p("VPSRLVQ %s, %s, %s", y(shift), y(wr(r)), y(wr(r)))
			p("VPAND %s, %s, %s", y(mask), y(wr(r)), y(wr(r)))
		} else if tr.vnni {
			p("VPXORD %s, %s, %s", row8(r, 2), y(k), y(wr(r)))
		} else {
			p("VPABSB %s, %s", row8(r, 2), y(wr(r)))
		}
		switch {
		case tr.vnni:
			p("%s %s, %s", mov, y(c), y(tp(r)))
			p("VPDPBUSD %s, %s, %s", y(a), y(wr(r)), y(tp(r)))
		case w.q4:
			p("VPMADDUBSW %s, %s, %s", y(a), y(wr(r)), y(tp(r)))
			p("VPSUBW %s, %s, %s", y(c), y(tp(r)), y(tp(r)))
			p("VPMADDWD q8ones<>(SB), %s, %s", y(tp(r)), y(tp(r)))
		default:
			p("VPSIGNB %s, %s, %s", row8(r, 2), y(a), y(tp(r)))
			p("VPMADDUBSW %s, %s, %s", y(tp(r)), y(wr(r)), y(tp(r)))
			p("VPMADDWD q8ones<>(SB), %s, %s", y(tp(r)), y(tp(r)))
		}
		p("VCVTDQ2PS %s, %s", y(tp(r)), y(tp(r)))
		if tr.vnni {
			p("VMULPS.BCST %d(SP), %s, %s", 4*r, y(tp(r)), y(tp(r)))
		} else {
			p("VBROADCASTSS %d(SP), %s", 4*r, y(dw))
			p("VMULPS %s, %s, %s", y(dw), y(tp(r)), y(tp(r)))
		}
		p("VADDPS %s, %s, %s", y(tp(r)), y(acc(r)), y(acc(r)))
	}
	p("ADDQ $%d, SI", w.bb)
	p("ADDQ $%d, R11", w.bb)
	p("ADDQ $%d, R12", w.bb)
	p("ADDQ $%d, R13", w.bb)
	p("ADDQ $32, DI")
	p("ADDQ $4, BX")
	p("DECQ CX")
	p("JNZ %s_block", name)
	fmt.Fprintf(&out, "\n%s_sum:\n", name)
	vsum(R, acc)
}

// vkkernel writes a tier's matrix-vector tile for Q4_K weights: 8 rows ×
// 1 token. Per super-block the eight rows' d are gathered into one vector
// (at 32 in the frame), each row's dmin×m_j stored as 8 floats (at 64+32r)
// and its six-bit scales as 8 dwords, each the scale in both words (at
// 320+32r, decoded through the bytes at 576), so that a block's scale is
// one broadcast load. Per activation block s = d×da is formed for the
// eight rows at once and stored at 0, from where each row's product takes
// its s broadcast. The block sums' offset from the scales is at 592. The
// float steps are those of kkernel's, in the same order.
func vkkernel(tr tier) {
	const R = 8
	w := q4_k
	name := fmt.Sprintf("q8%s%s_%dx1", tr.name, w.name, R)
	fmt.Fprintf(&out, "\n// func %s(w *byte, wstride uintptr, a *int8, astride uintptr, ad *float32, adstride uintptr, nb int, out *float32, ostride uintptr)\n", name)
	fmt.Fprintf(&out, "TEXT ·%s(SB), NOSPLIT, $600-72\n", name)
	p("MOVQ w+0(FP), SI")
	p("MOVQ wstride+8(FP), R8")
	p("MOVQ a+16(FP), DI")
	p("MOVQ ad+32(FP), BX")
	p("MOVQ nb+48(FP), CX")
	p("MOVQ CX, AX")
	p("SHLQ $2, AX")
	p("MOVQ AX, 592(SP)")
	p("SHRQ $3, CX")
	p("LEAQ (SI)(R8*2), R11")
	p("LEAQ (R11)(R8*2), R12")
	p("LEAQ (R12)(R8*2), R13")
	// Y0, Y1: scratch (and the final sums); Y2: da; Y3: the token's block;
	// Y4: nibble mask. VNNI: the rows' weights in Y10..Y13 and scales in
	// Y5..Y8 in turn, their accumulators in Y16..Y23 and products in
	// Y24..Y31; AVX2: weights in Y1, scales in Y5, s in Y6, products in
	// Y0 and accumulators in Y8..Y15.
	const da, a, mask = 2, 3, 4
	wr := func(r int) int { return 10 + r%4 }
	sc := func(r int) int { return 5 + r%4 }
	acc := func(r int) int { return 16 + r }
	tp := func(r int) int { return 24 + r }
	xor := "VPXORD"
	if !tr.vnni {
		xor = "VPXOR"
		wr = func(int) int { return 1 }
		sc = func(int) int { return 5 }
		tp = func(int) int { return 0 }
		acc = func(r int) int { return 8 + r }
	}
	for r := 0; r < R; r++ {
		p("%s %[2]s, %[2]s, %[2]s", xor, y(acc(r)))
	}
	p("VMOVDQU q8nibble<>(SB), %s", y(mask))
	p("TESTQ CX, CX")
	p("JZ %s_sum", name)
	fmt.Fprintf(&out, "\n%s_superblock:\n", name)
	for h, regs := range [2][2]string{{"AX", "DX"}, {"R9", "R10"}} {
		p("MOVWQZX %s, %s", row8(4*h, 0), regs[0])
		for i := 1; i < 4; i++ {
			p("MOVWQZX %s, %s", row8(4*h+i, 0), regs[1])
			p("SHLQ $%d, %s", 16*i, regs[1])
			p("ORQ %s, %s", regs[1], regs[0])
		}
	}
	p("VMOVQ AX, X0")
	p("VPINSRQ $1, R9, X0, X0")
	p("VCVTPH2PS X0, Y0")
	p("VMOVUPS Y0, 32(SP)")
	for r := 0; r < R; r++ {
		// Scales 0..3: bytes 0..3 & 63; 4..7: bytes 8..11 & 15 | (bytes
		// 0..3 >> 6) << 4. Minimums likewise from bytes 4..7 and the high
		// nibbles of 8..11.
		for k := 0; k < 2; k++ {
			p("MOVL %s, AX", row8(r, 4+4*k))
			p("MOVL AX, DX")
			p("ANDL $0x3f3f3f3f, DX")
			p("MOVL DX, %d(SP)", 576+8*k)
			p("SHRL $2, AX")
			p("ANDL $0x30303030, AX")
			p("MOVL %s, DX", row8(r, 12))
			if k == 1 {
				p("SHRL $4, DX")
			}
			p("ANDL $0x0f0f0f0f, DX")
			p("ORL DX, AX")
			p("MOVL AX, %d(SP)", 580+8*k)
		}
		p("VPMOVZXBD 576(SP), Y1")
		p("VPSLLD $16, Y1, Y0")
		p("VPOR Y0, Y1, Y1")
		p("VMOVDQU Y1, %d(SP)", 320+32*r)
		p("VPMOVZXBD 584(SP), Y1")
		p("VCVTDQ2PS Y1, Y1")
		p("VPBROADCASTW %s, X0", row8(r, 2))
		p("VCVTPH2PS X0, Y0")
		p("VMULPS Y0, Y1, Y1")
		p("VMOVUPS Y1, %d(SP)", 64+32*r)
	}
	for b := 0; b < 8; b++ {
		p("VBROADCASTSS %d(BX), %s", 4*b, y(da))
		p("VMULPS 32(SP), %s, Y1", y(da))
		p("VMOVUPS Y1, (SP)")
		p("VMOVDQU %d(DI), %s", 32*b, y(a))
		for r := 0; r < R; r++ {
			if b%2 == 0 {
				p("VPAND %s, %s, %s", row8(r, 16+32*(b/2)), y(mask), y(wr(r)))
			} else {
				p("VMOVDQU %s, %s", row8(r, 16+32*(b/2)), y(wr(r)))
				p("VPSRLW $4, %s, %s", y(wr(r)), y(wr(r)))
				p("VPAND %s, %s, %s", y(wr(r)), y(mask), y(wr(r)))
			}
			p("VPBROADCASTD %d(SP), %s", 320+32*r+4*b, y(sc(r)))
			p("VPMADDUBSW %s, %s, %s", y(a), y(wr(r)), y(tp(r)))
			p("VPMADDWD %s, %s, %s", y(sc(r)), y(tp(r)), y(tp(r)))
			p("VCVTDQ2PS %s, %s", y(tp(r)), y(tp(r)))
			if tr.vnni {
				p("VMULPS.BCST %d(SP), %s, %s", 4*r, y(tp(r)), y(tp(r)))
			} else {
				p("VBROADCASTSS %d(SP), Y6", 4*r)
				p("VMULPS Y6, %s, %s", y(tp(r)), y(tp(r)))
			}
			p("VADDPS %s, %s, %s", y(tp(r)), y(acc(r)), y(acc(r)))
		}
	}
	// acc[j] -= (dmin×m_j) × sa[j], the super-block's 8 block sums.
	p("MOVQ 592(SP), AX")
	p("ADDQ BX, AX")
	p("VMOVUPS (AX), %s", y(da))
	for r := 0; r < R; r++ {
		p("VMULPS %d(SP), %s, Y0", 64+32*r, y(da))
		p("VSUBPS Y0, %s, %s", y(acc(r)), y(acc(r)))
	}
	p("ADDQ $%d, SI", w.bb)
	p("ADDQ $%d, R11", w.bb)
	p("ADDQ $%d, R12", w.bb)
	p("ADDQ $%d, R13", w.bb)
	p("ADDQ $256, DI")
	p("ADDQ $32, BX")
	p("DECQ CX")
	p("JNZ %s_superblock", name)
	fmt.Fprintf(&out, "\n%s_sum:\n", name)
	vsum(R, acc)
}

// vk6kernel writes a tier's matrix-vector tile for Q6_K weights: 8 rows ×
// 1 token. Per super-block the eight rows' d are gathered into one vector
// (at 32 in the frame); per activation block s = d×da is formed for the
// eight rows at once and stored at 0, from where each row's product takes
// its s broadcast. The weights and scales are unpacked as kkernel does and
// the float steps are its, in the same order.
func vk6kernel(tr tier) {
	const R = 8
	w := q6_k
	name := fmt.Sprintf("q8%s%s_%dx1", tr.name, w.name, R)
	fmt.Fprintf(&out, "\n// func %s(w *byte, wstride uintptr, a *int8, astride uintptr, ad *float32, adstride uintptr, nb int, out *float32, ostride uintptr)\n", name)
	fmt.Fprintf(&out, "TEXT ·%s(SB), NOSPLIT, $64-72\n", name)
	p("MOVQ w+0(FP), SI")
	p("MOVQ wstride+8(FP), R8")
	p("MOVQ a+16(FP), DI")
	p("MOVQ ad+32(FP), BX")
	p("MOVQ nb+48(FP), CX")
	p("SHRQ $3, CX")
	p("LEAQ (SI)(R8*2), R11")
	p("LEAQ (R11)(R8*2), R12")
	p("LEAQ (R12)(R8*2), R13")
	// Y0, Y1: scratch (and the final sums; Y1 holds da); Y2: 32×(pair
	// sums of a); Y3: the token's block; Y4: nibble mask. VNNI: the rows'
	// low bits in Y10..Y13, high bits in Y7..Y8 and scales in Y5..Y6 in
	// turn, their accumulators in Y16..Y23 and products in Y24..Y31; AVX2:
	// low bits in Y1, high bits in Y7, scales in Y5, s in Y6, products in
	// Y0 and accumulators in Y8..Y15.
	const c16, a, mask = 2, 3, 4
	wr := func(r int) int { return 10 + r%4 }
	sc := func(r int) int { return 5 + r%2 }
	hb := func(r int) int { return 7 + r%2 }
	acc := func(r int) int { return 16 + r }
	tp := func(r int) int { return 24 + r }
	xor := "VPXORD"
	if !tr.vnni {
		xor = "VPXOR"
		wr = func(int) int { return 1 }
		sc = func(int) int { return 5 }
		hb = func(int) int { return 7 }
		tp = func(int) int { return 0 }
		acc = func(r int) int { return 8 + r }
	}
	for r := 0; r < R; r++ {
		p("%s %[2]s, %[2]s, %[2]s", xor, y(acc(r)))
	}
	p("VMOVDQU q8nibble<>(SB), %s", y(mask))
	p("TESTQ CX, CX")
	p("JZ %s_sum", name)
	fmt.Fprintf(&out, "\n%s_superblock:\n", name)
	for h, regs := range [2][2]string{{"AX", "DX"}, {"R9", "R10"}} {
		p("MOVWQZX %s, %s", row8(4*h, 208), regs[0])
		for i := 1; i < 4; i++ {
			p("MOVWQZX %s, %s", row8(4*h+i, 208), regs[1])
			p("SHLQ $%d, %s", 16*i, regs[1])
			p("ORQ %s, %s", regs[1], regs[0])
		}
	}
	p("VMOVQ AX, X0")
	p("VPINSRQ $1, R9, X0, X0")
	p("VCVTPH2PS X0, Y0")
	p("VMOVUPS Y0, 32(SP)")
	for b := 0; b < 8; b++ {
		p("VBROADCASTSS %d(BX), Y1", 4*b)
		p("VMULPS 32(SP), Y1, Y1")
		p("VMOVUPS Y1, (SP)")
		p("VMOVDQU %d(DI), %s", 32*b, y(a))
		p("VMOVDQU q8thirtytwos<>(SB), Y0")
		p("VPMADDUBSW %s, Y0, %s", y(a), y(c16))
		h, g := b/4, b%4
		for r := 0; r < R; r++ {
			p("VMOVDQU %s, %s", row8(r, 64*h+32*(g%2)), y(wr(r)))
			if g >= 2 {
				p("VPSRLW $4, %s, %s", y(wr(r)), y(wr(r)))
			}
			p("VPAND %s, %s, %s", y(mask), y(wr(r)), y(wr(r)))
			p("VMOVDQU %s, %s", row8(r, 128+32*h), y(hb(r)))
			switch g {
			case 0:
				p("VPSLLW $4, %s, %s", y(hb(r)), y(hb(r)))
			case 1:
				p("VPSLLW $2, %s, %s", y(hb(r)), y(hb(r)))
			case 3:
				p("VPSRLW $2, %s, %s", y(hb(r)), y(hb(r)))
			}
			p("VPAND q8k30<>(SB), %s, %s", y(hb(r)), y(hb(r)))
			p("VPOR %s, %s, %s", y(hb(r)), y(wr(r)), y(wr(r)))
			p("VBROADCASTI128 %s, %s", row8(r, 192), y(sc(r)))
			p("VPSHUFB q6kscale<>+%d(SB), %s, %s", 32*b, y(sc(r)), y(sc(r)))
			p("VPSRAW $8, %s, %s", y(sc(r)), y(sc(r)))
			p("VPMADDUBSW %s, %s, %s", y(a), y(wr(r)), y(tp(r)))
			p("VPSUBW %s, %s, %s", y(c16), y(tp(r)), y(tp(r)))
			p("VPMADDWD %s, %s, %s", y(sc(r)), y(tp(r)), y(tp(r)))
			p("VCVTDQ2PS %s, %s", y(tp(r)), y(tp(r)))
			if tr.vnni {
				p("VMULPS.BCST %d(SP), %s, %s", 4*r, y(tp(r)), y(tp(r)))
			} else {
				p("VBROADCASTSS %d(SP), Y6", 4*r)
				p("VMULPS Y6, %s, %s", y(tp(r)), y(tp(r)))
			}
			p("VADDPS %s, %s, %s", y(tp(r)), y(acc(r)), y(acc(r)))
		}
	}
	p("ADDQ $%d, SI", w.bb)
	p("ADDQ $%d, R11", w.bb)
	p("ADDQ $%d, R12", w.bb)
	p("ADDQ $%d, R13", w.bb)
	p("ADDQ $256, DI")
	p("ADDQ $32, BX")
	p("DECQ CX")
	p("JNZ %s_superblock", name)
	fmt.Fprintf(&out, "\n%s_sum:\n", name)
	vsum(R, acc)
}

// vsum writes the R outputs of an R×1 tile whose accumulators are acc(r):
// each one's horizontal sum, in the order of q8Sum.
func vsum(R int, acc func(int) int) {
	p("MOVQ out+56(FP), DX")
	for r := 0; r < R; r++ {
		p("VMOVAPS %s, Y1", y(acc(r)))
		p("VEXTRACTF128 $1, Y1, X0")
		p("VADDPS X0, X1, X1")
		p("VPERMILPS $0x4e, X1, X0")
		p("VADDPS X0, X1, X1")
		p("VPERMILPS $0xb1, X1, X0")
		p("VADDSS X0, X1, X1")
		p("VMOVSS X1, %d(DX)", 4*r)
	}
	p("VZEROUPPER")
	p("RET")
}

func main() {
	out.WriteString(`// Code generated by q8gen.go; DO NOT EDIT.

//go:build !purego

#include "textflag.h"

// Tile kernels of the integer products of Q8_0, Q4_0, Q4_K and Q6_K weight
// rows with Q8 activation rows; q8gen.go explains them and q8act.go and
// q8kquant.go give the order of operations, which every kernel follows
// exactly.

DATA q8ones<>+0(SB)/8, $0x0001000100010001
DATA q8ones<>+8(SB)/8, $0x0001000100010001
DATA q8ones<>+16(SB)/8, $0x0001000100010001
DATA q8ones<>+24(SB)/8, $0x0001000100010001
GLOBL q8ones<>(SB), RODATA|NOPTR, $32

DATA q8nibble<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA q8nibble<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA q8nibble<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA q8nibble<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL q8nibble<>(SB), RODATA|NOPTR, $32

DATA q8eights<>+0(SB)/8, $0x0808080808080808
DATA q8eights<>+8(SB)/8, $0x0808080808080808
DATA q8eights<>+16(SB)/8, $0x0808080808080808
DATA q8eights<>+24(SB)/8, $0x0808080808080808
GLOBL q8eights<>(SB), RODATA|NOPTR, $32

DATA q8k80<>+0(SB)/8, $0x8080808080808080
DATA q8k80<>+8(SB)/8, $0x8080808080808080
DATA q8k80<>+16(SB)/8, $0x8080808080808080
DATA q8k80<>+24(SB)/8, $0x8080808080808080
GLOBL q8k80<>(SB), RODATA|NOPTR, $32

DATA q8k30<>+0(SB)/8, $0x3030303030303030
DATA q8k30<>+8(SB)/8, $0x3030303030303030
DATA q8k30<>+16(SB)/8, $0x3030303030303030
DATA q8k30<>+24(SB)/8, $0x3030303030303030
GLOBL q8k30<>(SB), RODATA|NOPTR, $32

DATA q8thirtytwos<>+0(SB)/8, $0x2020202020202020
DATA q8thirtytwos<>+8(SB)/8, $0x2020202020202020
DATA q8thirtytwos<>+16(SB)/8, $0x2020202020202020
DATA q8thirtytwos<>+24(SB)/8, $0x2020202020202020
GLOBL q8thirtytwos<>(SB), RODATA|NOPTR, $32

DATA q8nibshift<>+0(SB)/8, $0
DATA q8nibshift<>+8(SB)/8, $0
DATA q8nibshift<>+16(SB)/8, $4
DATA q8nibshift<>+24(SB)/8, $4
GLOBL q8nibshift<>(SB), RODATA|NOPTR, $32
`)
	// q6kscale: for activation block b, VPSHUFB masks that put Q6_K scale
	// byte 2b (low 128-bit lane) or 2b+1 (high lane) in the high byte of
	// every word, the low byte zero, for VPSRAW $8 to sign-extend.
	for b := 0; b < 8; b++ {
		for half := 0; half < 4; half++ {
			idx := 2*b + half/2
			fmt.Fprintf(&out, "DATA q6kscale<>+%d(SB)/8, $0x%02x80%02x80%02x80%02x80\n", 32*b+8*half, idx, idx, idx, idx)
		}
	}
	out.WriteString("GLOBL q6kscale<>(SB), RODATA|NOPTR, $256\n")
	tiers := []tier{
		{"avx2", false, [][2]int{{2, 4}, {2, 1}, {1, 4}, {1, 1}}},
		{"vnni", true, [][2]int{{4, 4}, {4, 1}, {1, 4}, {1, 1}}},
	}
	for _, tr := range tiers {
		for _, w := range []wtype{q8_0, q4_0} {
			for _, sh := range tr.shapes {
				kernel(tr, w, sh[0], sh[1])
			}
		}
	}
	for _, tr := range tiers {
		for _, w := range []wtype{q8_0, q4_0} {
			vkernel(tr, w)
		}
	}
	for _, tr := range tiers {
		for _, w := range []kwtype{q4_k, q6_k} {
			for _, sh := range tr.shapes {
				kkernel(tr, w, sh[0], sh[1])
			}
		}
	}
	for _, tr := range tiers {
		vkkernel(tr)
		vk6kernel(tr)
	}
	os.Stdout.WriteString(out.String())
}
