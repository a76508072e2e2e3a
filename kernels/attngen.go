//go:build ignore

// attngen writes attn512_amd64.s, the AVX-512 attention kernels (AVX512F
// and VL, with F16C) of half-float caches: the value accumulation, the key
// dots and the exponentials (see attn.go for what each computes, and
// attn512_amd64.go for the Go declarations). Run it from this directory:
//
//	go run attngen.go > attn512_amd64.s
//
// The accumulation and the exponentials do, per element, the operations of
// their AVX2 forms in attn_amd64.s, so they give the same bits; the dots sum
// in sixteen lanes and have their own, fixed, reduction tree.
package main

import (
	"fmt"
	"os"
	"strings"
)

var out strings.Builder

// p writes an instruction line.
func p(format string, args ...any) { fmt.Fprintf(&out, "\t"+format+"\n", args...) }

// label writes a label line.
func label(format string, args ...any) { fmt.Fprintf(&out, format+":\n", args...) }

// ahead is how many bytes on the kernels prefetch rows (attn512_amd64.go).
const ahead = 6144

func main() {
	out.WriteString(`//go:build !purego

#include "textflag.h"

// AVX-512 attention kernels (AVX512F and VL, with F16C), written by
// attngen.go: see attn.go for what they compute and attn512_amd64.go for
// the Go declarations.
`)
	accum("accF16Q4AVX512", 4)
	accum("accF16Q1AVX512", 1)
	dots("dotsF16K4Q4AVX512")
	exp("expShiftAVX512")
	os.Stdout.WriteString(out.String())
}

// accum writes the value accumulation of outs (4 or 1) outputs, with
// accF16Q4AVX2's signature and arguments.
func accum(name string, outs int) {
	plural, accs := "s", 4*outs
	if outs == 1 {
		plural, accs = "", 4
	}
	fmt.Fprintf(&out, `
// func %[1]s(out []float32, ldo int, p []float32, ldp int, v []uint16, n, w int)
//
// %[2]d output%[3]s: per 64 channels (then 16, then 8), %[4]d (%[2]d, %[2]d)
// accumulators loaded from out, one fused multiply-add per element and row
// in row order, the row's weight broadcast from memory, stored back: each
// element the same operations as accF16Q4AVX2, so the same bits. Each row
// prefetches into L2 the row %[5]d bytes on.
TEXT ·%[1]s(SB), NOSPLIT, $0-104
`, name, outs, plural, accs, ahead)
	for _, s := range []string{"MOVQ out_base+0(FP), DI", "MOVQ ldo+24(FP), R8", "SHLQ $2, R8",
		"MOVQ p_base+32(FP), SI", "MOVQ ldp+56(FP), R9", "SHLQ $2, R9",
		"MOVQ v_base+64(FP), DX", "MOVQ w+96(FP), R10", "MOVQ R10, R11",
		"ANDQ $-8, R11", "SHLQ $1, R10", "XORQ CX, CX"} {
		p("%s", s)
	}
	weight := []string{"(R12)", "(R12)(R9*1)", "(R13)", "(R13)(R9*1)"}[:outs]
	output := []string{"(R12)", "(R12)(R8*1)", "(R13)", "(R13)(R8*1)"}[:outs]
	// at is the address of vector k of output o.
	at := func(o, k int) string {
		if k == 0 {
			return output[o]
		}
		return fmt.Sprint(64*k) + output[o]
	}
	for _, c := range []struct {
		width, vecs int
		reg, next   string
	}{{64, 4, "Z", "c16"}, {16, 1, "Z", "c8"}, {8, 1, "Y", "done"}} {
		l := fmt.Sprintf("%sc%d", name, c.width)
		label("%s", l)
		p("MOVQ R11, AX")
		p("SUBQ CX, AX")
		p("CMPQ AX, $%d", c.width)
		p("JB %s%s", name, c.next)
		p("LEAQ (DI)(CX*4), R12")
		p("LEAQ (R12)(R8*2), R13")
		// acc is the register of vector k of output o.
		acc := func(o, k int) int {
			if outs > 1 {
				return 4*o + k
			}
			return k
		}
		for o := range outs {
			for k := range c.vecs {
				p("VMOVUPS %s, %s%d", at(o, k), c.reg, acc(o, k))
			}
		}
		p("MOVQ n+88(FP), BX")
		p("LEAQ (DX)(CX*2), AX")
		p("MOVQ SI, R12")
		p("LEAQ (SI)(R9*2), R13")
		label("%sr", l)
		switch c.width {
		case 64:
			p("PREFETCHT1 %d(AX)", ahead)
			p("PREFETCHT1 %d(AX)", ahead+64)
		case 16:
			p("PREFETCHT1 %d(AX)", ahead)
		}
		for k := range c.vecs {
			src := "(AX)"
			if k > 0 {
				src = fmt.Sprintf("%d(AX)", 32*k)
			}
			p("VCVTPH2PS %s, %s%d", src, c.reg, 16+k)
		}
		for o := range outs {
			for k := range c.vecs {
				p("VFMADD231PS.BCST %s, %s%d, %s%d", weight[o], c.reg, 16+k, c.reg, acc(o, k))
			}
		}
		p("ADDQ R10, AX")
		p("ADDQ $4, R12")
		p("ADDQ $4, R13")
		p("DECQ BX")
		p("JNZ %sr", l)
		p("LEAQ (DI)(CX*4), R12")
		p("LEAQ (R12)(R8*2), R13")
		for o := range outs {
			for k := range c.vecs {
				p("VMOVUPS %s%d, %s", c.reg, acc(o, k), at(o, k))
			}
		}
		p("ADDQ $%d, CX", c.width)
		p("JMP %s", l)
	}
	label("%sdone", name)
	p("VZEROUPPER")
	p("RET")
}

// dots writes the key dots: tiles of four keys × four queries.
func dots(name string) {
	fmt.Fprintf(&out, `
// func %[1]s(dst []float32, ldd int, keys []uint16, n, w int, q []float32, mq int, scale float32)
//
// Tiles of four keys × four queries, for n keys (a multiple of 4) and the
// mq ≤ 4 queries of q (the missing ones computed from query 0 and not
// stored); w is a multiple of 16. Sixteen accumulators, one per pair, each
// summing channel c in lane c mod 16 (a product, then fused multiply-adds
// in channel order); then every pair reduced by the same tree: lane l plus
// lane l+8, then ((s0+s1)+(s2+s3)) + ((s4+s5)+(s6+s7)), and scaled. So a
// pair's bits do not depend on the tile's other keys and queries. Each tile
// prefetches into L2 the bytes %[2]d on.
TEXT ·%[1]s(SB), NOSPLIT, $0-108
`, name, ahead)
	// Keys k0..k3 at SI, DX, BX, R8 (R9 bytes apart); queries q0..q3 at
	// R10..R13, query j being query min(j, mq−1).
	for _, s := range []string{"MOVQ dst_base+0(FP), DI", "MOVQ keys_base+32(FP), SI", "MOVQ w+64(FP), R9",
		"SHLQ $1, R9", "LEAQ (SI)(R9*1), DX", "LEAQ (DX)(R9*1), BX", "LEAQ (BX)(R9*1), R8",
		"MOVQ q_base+72(FP), R10", "MOVQ mq+96(FP), AX", "MOVQ R9, CX", "SHLQ $1, CX",
		"MOVQ R10, R11", "MOVQ R10, R12", "MOVQ R10, R13"} {
		p("%s", s)
	}
	for j := 2; j <= 4; j++ {
		p("CMPQ AX, $%d", j)
		p("JB %sq", name)
		r := 9 + j // R11, R12, R13: query j−1
		p("ADDQ CX, R%d", r)
		for s := r + 1; s <= 13; s++ {
			p("MOVQ R%d, R%d", r, s)
		}
	}
	label("%sq", name)
	p("MOVQ n+56(FP), CX")
	p("SHRQ $2, CX")
	label("%stile", name)
	keys := []string{"(SI)(AX*1)", "(DX)(AX*1)", "(BX)(AX*1)", "(R8)(AX*1)"}
	qs := []string{"(R10)(AX*2)", "(R11)(AX*2)", "(R12)(AX*2)", "(R13)(AX*2)"}
	// chunk multiplies sixteen channels: accumulator 4j+k holds key k ×
	// query j; the first chunk sets them.
	chunk := func(first bool) {
		for k := range 4 {
			p("VCVTPH2PS %s, Z%d", keys[k], 16+k)
		}
		for j := range 4 {
			p("VMOVUPS %s, Z%d", qs[j], 20+j)
		}
		for j := range 4 {
			for k := range 4 {
				if first {
					p("VMULPS Z%d, Z%d, Z%d", 20+j, 16+k, 4*j+k)
				} else {
					p("VFMADD231PS Z%d, Z%d, Z%d", 20+j, 16+k, 4*j+k)
				}
			}
		}
	}
	// The tile's bytes ahead come into L2, a line at a time.
	p("MOVQ R9, AX")
	p("SHLQ $2, AX")
	label("%spf", name)
	p("SUBQ $64, AX")
	p("PREFETCHT1 %d(SI)(AX*1)", ahead)
	p("JG %spf", name)
	p("XORQ AX, AX")
	chunk(true)
	p("ADDQ $32, AX")
	p("CMPQ AX, R9")
	p("JAE %sreduce", name)
	label("%schan", name)
	chunk(false)
	p("ADDQ $32, AX")
	p("CMPQ AX, R9")
	p("JB %schan", name)
	label("%sreduce", name)
	// Fold: T = [A's lanes l + l+8 | B's] for A, B the accumulators of a
	// key with queries q and q+1; T in Z16, Z18, …, Z30.
	var T []int
	for _, q := range []int{0, 2} {
		for k := range 4 {
			a, b, t := 4*q+k, 4*(q+1)+k, 16+2*len(T)
			p("VSHUFF32X4 $0x44, Z%d, Z%d, Z%d", b, a, t)
			p("VSHUFF32X4 $0xEE, Z%d, Z%d, Z%d", b, a, t+1)
			p("VADDPS Z%d, Z%d, Z%d", t+1, t, t)
			T = append(T, t)
		}
	}
	// hadd is VHADDPS on whole registers: per 128-bit lane, the sums of
	// x's two pairs, then of y's.
	hadd := func(x, y, dst, tmp int) {
		p("VSHUFPS $0x88, Z%d, Z%d, Z%d", y, x, dst)
		p("VSHUFPS $0xDD, Z%d, Z%d, Z%d", y, x, tmp)
		p("VADDPS Z%d, Z%d, Z%d", tmp, dst, dst)
	}
	H := []int{0, 2, 4, 6}
	for i := range 4 {
		hadd(T[2*i], T[2*i+1], H[i], H[i]+1)
	}
	hadd(H[0], H[1], 8, 9)
	hadd(H[2], H[3], 10, 11)
	// Lane j of Z12: query j's four keys.
	p("VSHUFF32X4 $0x88, Z10, Z8, Z12")
	p("VSHUFF32X4 $0xDD, Z10, Z8, Z13")
	p("VADDPS Z13, Z12, Z12")
	p("VMULPS.BCST scale+104(FP), Z12, Z12")
	p("MOVQ ldd+24(FP), AX")
	p("SHLQ $2, AX")
	p("VMOVUPS X12, (DI)")
	for j, dst := range []string{"(DI)(AX*1)", "(DI)(AX*2)", "(DI)(AX*1)"} {
		p("CMPQ mq+96(FP), $%d", j+2)
		p("JB %snext", name)
		if j == 2 {
			p("LEAQ (AX)(AX*2), AX")
		}
		p("VEXTRACTF32X4 $%d, Z12, %s", j+1, dst)
	}
	label("%snext", name)
	p("ADDQ $16, DI")
	for _, r := range []string{"SI", "DX", "BX", "R8"} {
		p("LEAQ (%s)(R9*4), %s", r, r)
	}
	p("DECQ CX")
	p("JNZ %stile", name)
	p("VZEROUPPER")
	p("RET")
}

// exp writes the exponentials.
func exp(name string) {
	out.WriteString(`
// Constants of expShiftAVX512, one lane each (broadcast where used): those
// of expShiftAVX2 (attn_amd64.s).
`)
	for _, c := range []struct{ name, bits string }{
		{"Log2e", "0x3fb8aa3b"}, {"C1", "0x3f318000"}, {"C2", "0xb95e8083"},
		{"P0", "0x39506967"}, {"P1", "0x3ab743ce"}, {"P2", "0x3c088908"}, {"P3", "0x3d2aa9c1"},
		{"P4", "0x3e2aaaaa"}, {"P5", "0x3f000000"}, {"One", "0x3f800000"}, {"Lo", "0xc2aeac4f"},
		{"Hi", "0x42b0c09d"}, {"Inf", "0x7f800000"}, {"Bias", "0x0000007f"},
	} {
		fmt.Fprintf(&out, "DATA x512%s<>+0(SB)/4, $%s\nGLOBL x512%s<>(SB), RODATA|NOPTR, $4\n", c.name, c.bits, c.name)
	}
	fmt.Fprintf(&out, `
// func %[1]s(x []float32, shift float32) float32
//
// expShiftAVX2 sixteen lanes at a time: every element by the same
// operations (so the same bits), four vectors in flight per iteration; the
// sum is kept in eight lanes as there, each vector's low half added before
// its high half, so it is the same bits too. The last 8 elements, if any,
// are a vector's low half under a mask.
TEXT ·%[1]s(SB), NOSPLIT, $0-36
`, name)
	p("MOVQ x_base+0(FP), SI")
	p("MOVQ x_len+8(FP), CX")
	p("VBROADCASTSS shift+24(FP), Z24")
	p("VBROADCASTSS x512Lo<>(SB), Z25")
	p("VBROADCASTSS x512Hi<>(SB), Z26")
	p("VBROADCASTSS x512Inf<>(SB), Z27")
	p("VBROADCASTSS x512P0<>(SB), Z28")
	p("VXORPS Y29, Y29, Y29")
	// body computes streams vectors at SI, SI+64, …, each step for all of
	// them before the next; masked: one vector of 8 elements under K3.
	// Stream s uses Z6s..Z6s+5: x, r, n, the polynomial, r², 2ⁿ.
	body := func(streams int, masked bool) {
		each := func(format string, regs ...int) {
			for s := range streams {
				args := make([]any, len(regs))
				for i, r := range regs {
					args[i] = 6*s + r
				}
				p(format, args...)
			}
		}
		for s := range streams {
			if masked {
				p("VMOVUPS.Z %d(SI), K3, Z%d", 64*s, 6*s)
			} else {
				p("VMOVUPS %d(SI), Z%d", 64*s, 6*s)
			}
		}
		each("VSUBPS Z24, Z%d, Z%d", 0, 0)
		each("VMAXPS Z%d, Z25, Z%d", 0, 1)
		each("VMINPS Z%d, Z26, Z%d", 1, 1)
		each("VMULPS.BCST x512Log2e<>(SB), Z%d, Z%d", 1, 2)
		each("VRNDSCALEPS $0, Z%d, Z%d", 2, 2)
		each("VFNMADD231PS.BCST x512C1<>(SB), Z%d, Z%d", 2, 1)
		each("VFNMADD231PS.BCST x512C2<>(SB), Z%d, Z%d", 2, 1)
		each("VMOVAPS Z28, Z%d", 3)
		for _, c := range []string{"P1", "P2", "P3", "P4", "P5"} {
			each("VFMADD213PS.BCST x512"+c+"<>(SB), Z%d, Z%d", 1, 3)
		}
		each("VMULPS Z%d, Z%d, Z%d", 1, 1, 4)
		each("VFMADD213PS Z%d, Z%d, Z%d", 1, 4, 3)
		each("VADDPS.BCST x512One<>(SB), Z%d, Z%d", 3, 3)
		each("VCVTPS2DQ Z%d, Z%d", 2, 5)
		each("VPADDD.BCST x512Bias<>(SB), Z%d, Z%d", 5, 5)
		each("VPSLLD $23, Z%d, Z%d", 5, 5)
		each("VMULPS Z%d, Z%d, Z%d", 5, 3, 3)
		// Below ExpMin: 0; above ExpMax: +Inf (NaN stays NaN).
		for s := range streams {
			x, e := 6*s, 6*s+3
			p("VCMPPS $1, Z25, Z%d, K1", x)
			p("VXORPS Z%d, Z%d, K1, Z%d", e, e, e)
			p("VCMPPS $0x1e, Z26, Z%d, K2", x)
			p("VMOVAPS Z27, K2, Z%d", e)
		}
		for s := range streams {
			if masked {
				p("VMOVUPS Z%d, K3, %d(SI)", 6*s+3, 64*s)
			} else {
				p("VMOVUPS Z%d, %d(SI)", 6*s+3, 64*s)
			}
		}
		for s := range streams {
			p("VADDPS Y%d, Y29, Y29", 6*s+3)
			if !masked {
				p("VEXTRACTF64X4 $1, Z%d, Y30", 6*s+3)
				p("VADDPS Y30, Y29, Y29")
			}
		}
	}
	label("%s64", name)
	p("CMPQ CX, $64")
	p("JB %s16", name)
	body(4, false)
	p("ADDQ $256, SI")
	p("SUBQ $64, CX")
	p("JMP %s64", name)
	label("%s16", name)
	p("CMPQ CX, $16")
	p("JB %s8", name)
	body(1, false)
	p("ADDQ $64, SI")
	p("SUBQ $16, CX")
	p("JMP %s16", name)
	label("%s8", name)
	p("TESTQ CX, CX")
	p("JZ %ssum", name)
	p("MOVL $0xff, AX")
	p("KMOVW AX, K3")
	body(1, true)
	label("%ssum", name)
	p("VMOVAPS Y29, Y8")
	p("VHADDPS Y8, Y8, Y0")
	p("VHADDPS Y0, Y0, Y0")
	p("VEXTRACTF128 $1, Y0, X1")
	p("VADDPS X1, X0, X0")
	p("VMOVSS X0, ret+32(FP)")
	p("VZEROUPPER")
	p("RET")
}
