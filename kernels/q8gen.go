//go:build ignore

// q8gen writes q8dot_amd64.s, the tile kernels of the integer products of
// Q8_0, Q4_0, Q4_K and Q6_K weights with Q8 activations (see q8act.go and
// q8kquant.go for the order of operations every kernel follows, and
// q8pack.go for the packed layout). Run it from this directory:
//
//	go run q8gen.go > q8dot_amd64.s
//
// Two tiers: "avx2" (VEX, Y0..Y15; products by VPMADDUBSW and VPMADDWD)
// and "vnni" (AVX-512VL/BW with VNNI, Y0..Y31; products by VPDPBUSD, with
// the activations broadcast from memory). Two families:
//
//   - packed tiles, 8 rows × T tokens, over packed weights: each 32-byte
//     vector of weights holds four consecutive weights of each of the eight
//     rows, so a product with four activations broadcast adds into one lane
//     per row, and each token's eight outputs are one vector, stored whole;
//   - unpacked tiles (Q8_0 and Q4_0 rows as in the file, for products that
//     cannot take packed weights, such as KVDots'), 8 × 1 and 1 × 1: each
//     row's lane sums are added across lanes (exactly, in integers) before
//     the float steps.
package main

import (
	"fmt"
	"os"
	"strings"
)

var out strings.Builder

func p(format string, args ...any) { fmt.Fprintf(&out, "\t"+format+"\n", args...) }

func y(i int) string { return fmt.Sprintf("Y%d", i) }
func x(i int) string { return fmt.Sprintf("X%d", i) }

// tier is an instruction set: VEX with 16 registers or EVEX with 32.
type tier struct {
	name string
	vnni bool
}

// mnemonics that differ between the tiers' encodings.
func (tr tier) xor() string { return map[bool]string{false: "VPXOR", true: "VPXORD"}[tr.vnni] }
func (tr tier) and() string { return map[bool]string{false: "VPAND", true: "VPANDD"}[tr.vnni] }
func (tr tier) mov() string { return map[bool]string{false: "VMOVDQU", true: "VMOVDQU32"}[tr.vnni] }

// regs hands out vector registers in the order of order, panicking past
// its end; release by lowering next.
type regs struct {
	next  int
	order []int
	name  string
}

func newRegs(tr tier, name string) regs {
	r := regs{name: name}
	if tr.vnni {
		// The EVEX-only registers first, so that Y0..Y15 stay free for
		// what needs VEX.
		for i := 16; i < 32; i++ {
			r.order = append(r.order, i)
		}
	}
	for i := 0; i < 16; i++ {
		r.order = append(r.order, i)
	}
	return r
}

func (r *regs) get() int {
	if r.next >= len(r.order) {
		panic(fmt.Sprintf("%s: out of vector registers", r.name))
	}
	r.next++
	return r.order[r.next-1]
}

// ---- unpacked tiles ----

type wtype struct {
	name string
	bb   int  // bytes per block
	q4   bool // Q4_0 nibbles
}

var (
	q8_0 = wtype{"Q8_0", 34, false}
	q4_0 = wtype{"Q4_0", 18, true}
)

// row is the address of byte off of weight row r of an 8-row tile: rows
// at SI, SI+R8, R11 = SI+2×R8, R11+R8, R12 = SI+4×R8, R12+R8, R13 =
// SI+6×R8 and R13+R8.
func row(r, off int) string {
	o := ""
	if off != 0 {
		o = fmt.Sprint(off)
	}
	return o + [...]string{"(SI)", "(SI)(R8*1)", "(R11)", "(R11)(R8*1)", "(R12)", "(R12)(R8*1)", "(R13)", "(R13)(R8*1)"}[r]
}

// ukernel writes an unpacked tile of R = 8 or 1 rows × 1 token. Per block:
// the token's quants in a register and, for the VNNI tier and AVX2's Q4_0,
// a correction; per row the eight exact lane sums of the block's products
// (VNNI: VPDPBUSD of the unsigned stand-ins w+128 or the nibbles w+8,
// starting from −128 or −8 times the lane sums of a; AVX2 Q8_0: |w| by
// a×sign(w) in VPMADDUBSW, then VPMADDWD; AVX2 Q4_0: nibbles by a, less
// 8×(pair sums of a), then VPMADDWD); then the lanes are added into one
// integer per row (8 rows: VPERM2I128 and VPHADDD, which leave the rows in
// order; 1 row: shuffles), converted, multiplied by s = dw×da and added to
// the row's accumulator.
func ukernel(tr tier, w wtype, R int) {
	name := fmt.Sprintf("q8%s%s_%dx1", tr.name, w.name, R)
	fmt.Fprintf(&out, "\n// func %s(w *byte, wstride uintptr, a *int8, astride uintptr, ad *float32, adstride uintptr, nb int, out *float32, ostride uintptr)\n", name)
	frame := 0
	if R == 8 {
		frame = 32
	}
	fmt.Fprintf(&out, "TEXT ·%s(SB), NOSPLIT, $%d-72\n", name, frame)
	p("MOVQ w+0(FP), SI")
	p("MOVQ wstride+8(FP), R8")
	p("MOVQ a+16(FP), DI")
	p("MOVQ ad+32(FP), BX")
	p("MOVQ nb+48(FP), CX")
	if R == 8 {
		p("LEAQ (SI)(R8*2), R11")
		p("LEAQ (R11)(R8*2), R12")
		p("LEAQ (R12)(R8*2), R13")
	}
	// Y0..Y11 are used by the VEX-only reduction; constants above.
	const t0, t1, a, c, k, wr, ones, mask, shift, acc, s = 0, 1, 2, 3, 4, 5, 14, 13, 12, 15, 11
	// u(r): the rows' 4-lane partial sums, Y6..Y9.
	u := func(r int) int { return 6 + r }
	p("%s %s, %s, %s", tr.xor(), y(acc), y(acc), y(acc))
	p("VMOVDQU q8ones<>(SB), %s", y(ones))
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
	}
	p("TESTQ CX, CX")
	p("JZ %s_done", name)
	fmt.Fprintf(&out, "\n%s_block:\n", name)
	p("VMOVDQU (DI), %s", y(a))
	switch {
	case tr.vnni:
		p("VPXOR %[1]s, %[1]s, %[1]s", y(t0))
		p("VPSUBB %s, %s, %s", y(a), y(t0), y(t0))
		p("VPXOR %[1]s, %[1]s, %[1]s", y(c))
		p("VPDPBUSD %s, %s, %s", y(t0), y(k), y(c))
	case w.q4:
		p("VMOVDQU q8eights<>(SB), %s", y(t0))
		p("VPMADDUBSW %s, %s, %s", y(a), y(t0), y(c))
	}
	// lanes writes row r's 8 lane sums into register dst.
	lanes := func(r, dst int) {
		if w.q4 {
			p("VBROADCASTI128 %s, %s", row(r, 2), y(wr))
			p("VPSRLVQ %s, %s, %s", y(shift), y(wr), y(wr))
			p("VPAND %s, %s, %s", y(mask), y(wr), y(wr))
		} else if tr.vnni {
			p("VPXOR %s, %s, %s", row(r, 2), y(k), y(wr))
		}
		switch {
		case tr.vnni:
			p("VMOVDQA %s, %s", y(c), y(dst))
			p("VPDPBUSD %s, %s, %s", y(a), y(wr), y(dst))
		case w.q4:
			p("VPMADDUBSW %s, %s, %s", y(a), y(wr), y(dst))
			p("VPSUBW %s, %s, %s", y(c), y(dst), y(dst))
			p("VPMADDWD %s, %s, %s", y(ones), y(dst), y(dst))
		default:
			p("VPABSB %s, %s", row(r, 2), y(wr))
			p("VPSIGNB %s, %s, %s", row(r, 2), y(a), y(dst))
			p("VPMADDUBSW %s, %s, %s", y(dst), y(wr), y(dst))
			p("VPMADDWD %s, %s, %s", y(ones), y(dst), y(dst))
		}
	}
	if R == 8 {
		// The eight rows' f16 scales, four to a general register.
		for h, regs := range [2][2]string{{"AX", "DX"}, {"R9", "R10"}} {
			p("MOVWQZX %s, %s", row(4*h, 0), regs[0])
			for i := 1; i < 4; i++ {
				p("MOVWQZX %s, %s", row(4*h+i, 0), regs[1])
				p("SHLQ $%d, %s", 16*i, regs[1])
				p("ORQ %s, %s", regs[1], regs[0])
			}
		}
		p("VMOVQ AX, %s", x(s))
		p("VPINSRQ $1, R9, %s, %s", x(s), x(s))
		p("VCVTPH2PS %s, %s", x(s), y(s))
		p("VBROADCASTSS (BX), %s", y(t0))
		p("VMULPS %s, %s, %s", y(t0), y(s), y(s))
		// Rows r and r+4: their low 128-bit halves side by side, plus
		// their high halves: four partial sums of each in u(r).
		for r := 0; r < 4; r++ {
			lanes(r, t0)
			lanes(r+4, t1)
			p("VPERM2I128 $0x20, %s, %s, %s", y(t1), y(t0), y(u(r)))
			p("VPERM2I128 $0x31, %s, %s, %s", y(t1), y(t0), y(t0))
			p("VPADDD %s, %s, %s", y(t0), y(u(r)), y(u(r)))
		}
		p("VPHADDD %s, %s, %s", y(u(1)), y(u(0)), y(u(0)))
		p("VPHADDD %s, %s, %s", y(u(3)), y(u(2)), y(u(2)))
		p("VPHADDD %s, %s, %s", y(u(2)), y(u(0)), y(t0))
		p("VCVTDQ2PS %s, %s", y(t0), y(t0))
		p("VMULPS %s, %s, %s", y(s), y(t0), y(t0))
		p("VADDPS %s, %s, %s", y(t0), y(acc), y(acc))
	} else {
		lanes(0, t0)
		p("VEXTRACTI128 $1, %s, %s", y(t0), x(t1))
		p("VPADDD %s, %s, %s", x(t1), x(t0), x(t0))
		p("VPSHUFD $0x4e, %s, %s", x(t0), x(t1))
		p("VPADDD %s, %s, %s", x(t1), x(t0), x(t0))
		p("VPSHUFD $0xb1, %s, %s", x(t0), x(t1))
		p("VPADDD %s, %s, %s", x(t1), x(t0), x(t0))
		p("VCVTDQ2PS %s, %s", x(t0), x(t0))
		p("MOVWQZX (SI), AX")
		p("VMOVQ AX, %s", x(s))
		p("VCVTPH2PS %s, %s", x(s), x(s))
		p("VMULSS (BX), %s, %s", x(s), x(s))
		p("VMULSS %s, %s, %s", x(s), x(t0), x(t0))
		p("VADDSS %s, %s, %s", x(t0), x(acc), x(acc))
	}
	for r := 0; r < R; r += 2 {
		p("ADDQ $%d, %s", w.bb, [...]string{"SI", "R11", "R12", "R13"}[r/2])
	}
	p("ADDQ $32, DI")
	p("ADDQ $4, BX")
	p("DECQ CX")
	p("JNZ %s_block", name)
	fmt.Fprintf(&out, "\n%s_done:\n", name)
	p("MOVQ out+56(FP), DX")
	if R == 8 {
		p("VMOVUPS %s, (DX)", y(acc))
	} else {
		p("VMOVSS %s, (DX)", x(acc))
	}
	p("VZEROUPPER")
	p("RET")
}

// ---- packed tiles ----

// ptype is a packed weight type: its head and quant bytes per block (of 32
// for Q8_0 and Q4_0, of 256 for the K-quants).
type ptype struct {
	name        string
	head, quant int
	k           bool // a K-quant: blocks of 256
}

var (
	pq8_0 = ptype{"Q8_0", 16, 256, false}
	pq4_0 = ptype{"Q4_0", 16, 128, false}
	pq4_k = ptype{"Q4_K", 160, 1024, true}
	pq6_k = ptype{"Q6_K", 160, 1536, true}
)

// Offsets in an actBlock (q8act.go) and its size.
const (
	mD, mSum, mC128, mC8, mC32lo, mC32hi = 0, 4, 8, 12, 16, 20
	mSize                                = 24
)

// tokQ is the address of byte off of token t's quants: tokens at DI,
// DI+R9, R12 = DI+2×R9 and R12+R9.
func tokQ(t, off int) string {
	return fmt.Sprint(off) + [...]string{"(DI)", "(DI)(R9*1)", "(R12)", "(R12)(R9*1)"}[t]
}

// tokM is the address of byte off of token t's block records: BX, BX+R10,
// R13 = BX+2×R10 and R13+R10.
func tokM(t, off int) string {
	return fmt.Sprint(off) + [...]string{"(BX)", "(BX)(R10*1)", "(R13)", "(R13)(R10*1)"}[t]
}

// pk holds the state of one packed kernel being written.
type pk struct {
	tr   tier
	w    ptype
	T    int
	name string
	r    regs
	// Registers: the accumulators, one per token; constants (ones: 16-bit
	// ones, AVX2 only; mask: 0x0f bytes; k30: 0x30 bytes, Q6_K only); the
	// eight rows' scales d; scratch s, and for AVX2 tmp and at.
	acc                []int
	ones, mask, k30, d int
	s, tmp, at         int
}

// pkernel writes a packed tile of 8 rows × T tokens.
func pkernel(tr tier, w ptype, T int) {
	g := &pk{tr: tr, w: w, T: T, name: fmt.Sprintf("q8%s%sP_8x%d", tr.name, w.name, T)}
	g.r = newRegs(tr, g.name)
	fmt.Fprintf(&out, "\n// func %s(wh, wq *byte, a *int8, astride uintptr, am *actBlock, amstride uintptr, nb int, out *float32, ostride uintptr)\n", g.name)
	fmt.Fprintf(&out, "TEXT ·%s(SB), NOSPLIT, $0-72\n", g.name)
	p("MOVQ wh+0(FP), SI")
	p("MOVQ wq+8(FP), R8")
	p("MOVQ a+16(FP), DI")
	p("MOVQ astride+24(FP), R9")
	p("MOVQ am+32(FP), BX")
	p("MOVQ amstride+40(FP), R10")
	p("MOVQ nb+48(FP), CX")
	if w.k {
		p("SHRQ $3, CX")
	}
	if T > 2 {
		p("LEAQ (DI)(R9*2), R12")
		p("LEAQ (BX)(R10*2), R13")
	}
	for t := 0; t < T; t++ {
		g.acc = append(g.acc, g.r.get())
		p("%s %s, %s, %s", tr.xor(), y(g.acc[t]), y(g.acc[t]), y(g.acc[t]))
	}
	g.d, g.s = g.r.get(), g.r.get()
	if !tr.vnni {
		g.ones = g.r.get()
		p("VMOVDQU q8ones<>(SB), %s", y(g.ones))
	}
	if w.name != "Q8_0" {
		g.mask = g.r.get()
		p("%s q8nibble<>(SB), %s", tr.mov(), y(g.mask))
	}
	if w.name == "Q6_K" {
		g.k30 = g.r.get()
		p("%s q8k30<>(SB), %s", tr.mov(), y(g.k30))
	}
	if !w.k {
		// Records of two blocks (q8pack.go); R11 says whether a last,
		// lone block follows them.
		p("MOVQ CX, R11")
		p("ANDQ $1, R11")
		p("SHRQ $1, CX")
		p("JZ %s_tail", g.name)
	} else {
		p("TESTQ CX, CX")
		p("JZ %s_done", g.name)
	}
	fmt.Fprintf(&out, "\n%s_block:\n", g.name)
	switch w.name {
	case "Q8_0", "Q4_0":
		g.block32(0)
		g.block32(1)
	case "Q4_K":
		p("VCVTPH2PS (SI), %s", y(g.d))
		g.q4k()
	case "Q6_K":
		p("VCVTPH2PS (SI), %s", y(g.d))
		g.q6k()
	}
	// The next record: a super-block, its head just before its quants, or
	// two blocks, their heads before their quants (q8pack.go).
	rec, step, mstep := 32+2*w.quant, 64, 2*mSize
	if w.k {
		rec, step, mstep = w.head+w.quant, 256, 8*mSize
	}
	p("ADDQ $%d, SI", rec)
	p("ADDQ $%d, R8", rec)
	p("ADDQ $%d, DI", step)
	p("ADDQ $%d, BX", mstep)
	if T > 2 {
		p("ADDQ $%d, R12", step)
		p("ADDQ $%d, R13", mstep)
	}
	p("DECQ CX")
	p("JNZ %s_block", g.name)
	if !w.k {
		fmt.Fprintf(&out, "\n%s_tail:\n", g.name)
		p("TESTQ R11, R11")
		p("JZ %s_done", g.name)
		g.block32(0)
	}
	fmt.Fprintf(&out, "\n%s_done:\n", g.name)
	p("MOVQ out+56(FP), DX")
	p("MOVQ ostride+64(FP), AX")
	for t := 0; t < T; t++ {
		p("VMOVUPS %s, (DX)", y(g.acc[t]))
		if t < T-1 {
			p("ADDQ AX, DX")
		}
	}
	p("VZEROUPPER")
	p("RET")
}

// prefetch writes the prefetches of the part-th of parts slices of a
// record of rec bytes, a line per 64 bytes, spread over the record so that
// they do not all leave at once. They reach prefetchAhead bytes on from the
// record's quants, past a group's end into the next group (or past the
// matrix's end: a prefetch does not fault). The 4- and 6-bit types
// prefetch into L2 only, prefetchAheadL2 bytes on, and leave L1 to the
// hardware's prefetcher; Q8_0 prefetchAhead bytes on, into L2 in its
// one-token tile and into L1 in the others.
func (g *pk) prefetch(part, parts, rec int) {
	inst, ahead := "PREFETCHT1", prefetchAheadL2
	if g.w.name == "Q8_0" {
		ahead = prefetchAhead
		if g.T > 1 {
			inst = "PREFETCHT0"
		}
	}
	lines := (rec + 63) / 64
	for l := part * lines / parts; l < (part+1)*lines/parts; l++ {
		p("%s %d(R8)", inst, ahead+64*l)
	}
}

// finish converts token t's integer sum in register i, multiplies it by
// s = sc × da (sc the eight rows' scales in register sc, da the token's
// scale at record offset moff) and adds it to the token's accumulator.
func (g *pk) finish(t, i, sc, moff int) {
	p("VCVTDQ2PS %s, %s", y(i), y(i))
	if g.tr.vnni {
		p("VMULPS.BCST %s, %s, %s", tokM(t, moff), y(sc), y(g.s))
	} else {
		p("VBROADCASTSS %s, %s", tokM(t, moff), y(g.s))
		p("VMULPS %s, %s, %s", y(sc), y(g.s), y(g.s))
	}
	p("VMULPS %s, %s, %s", y(g.s), y(i), y(i))
	p("VADDPS %s, %s, %s", y(i), y(g.acc[t]), y(g.acc[t]))
}

// dots adds into register i the products of the weight vectors wk (each
// four weights of the eight rows, unsigned) with token t's quants from
// byte off of its row on, four broadcast to each VPDPBUSD (VNNI tier).
// With one token the odd vectors go to a second chain, added at the end,
// so that the chain of dependent VPDPBUSDs is half as long.
func (g *pk) dots(t, i int, wk []int, off int) {
	if g.T > 1 || len(wk) < 8 {
		for k, wr := range wk {
			p("VPDPBUSD.BCST %s, %s, %s", tokQ(t, off+4*k), y(wr), y(i))
		}
		return
	}
	i2 := g.r.get()
	p("VPXORD %[1]s, %[1]s, %[1]s", y(i2))
	for k, wr := range wk {
		p("VPDPBUSD.BCST %s, %s, %s", tokQ(t, off+4*k), y(wr), y([2]int{i, i2}[k%2]))
	}
	p("VPADDD %s, %s, %s", y(i2), y(i), y(i))
	g.r.next--
}

// block32 writes the block of a Q8_0 or Q4_0 kernel: the eight weight
// vectors (VNNI: all at once in registers; AVX2: Q4_0 one load, two
// vectors, at a time, Q8_0 one), then per token the integer sum from its
// correction (c128 or c8) and the float steps.
func (g *pk) block32(b int) {
	tr, q4 := g.tr, g.w.name == "Q4_0"
	corr := mC128
	if q4 {
		corr = mC8
	}
	// Block b of a record: its scales 16b bytes into the record's head, its
	// quants qo bytes into the record's quants, its token quants and
	// activation records one block on.
	qo, to, mo := b*g.w.quant, 32*b, mSize*b
	corr += mo
	p("VCVTPH2PS %d(SI), %s", 16*b, y(g.d))
	g.prefetch(b, 2, 32+2*g.w.quant)
	if tr.vnni {
		var wk [8]int
		for k := range wk {
			wk[k] = g.r.get()
		}
		if q4 {
			for m := 0; m < 4; m++ {
				p("VPANDD %d(R8), %s, %s", qo+32*m, y(g.mask), y(wk[m]))
				p("VPSRLW $4, %d(R8), %s", qo+32*m, y(wk[m+4]))
				p("VPANDD %s, %s, %s", y(wk[m+4]), y(g.mask), y(wk[m+4]))
			}
		} else {
			for k := range wk {
				p("VMOVDQU32 %d(R8), %s", qo+32*k, y(wk[k]))
			}
		}
		for t := 0; t < g.T; t++ {
			i := g.r.get()
			p("VPBROADCASTD %s, %s", tokM(t, corr), y(i))
			g.dots(t, i, wk[:], to)
			g.finish(t, i, g.d, mo+mD)
			g.r.next--
		}
		g.r.next -= 8
		return
	}
	// AVX2: per token a 32-bit sum (Q4_0: 16-bit pair sums first, at most
	// 8×2×15×127 < 2^15); Q8_0 by |w| and a×sign(w).
	var sums []int
	for t := 0; t < g.T; t++ {
		sums = append(sums, g.r.get())
	}
	g.tmp, g.at = g.r.get(), g.r.get()
	w0, w1 := g.r.get(), g.r.get()
	if q4 {
		var h []int
		for t := 0; t < g.T; t++ {
			h = append(h, g.r.get())
		}
		for m := 0; m < 4; m++ {
			p("VMOVDQU %d(R8), %s", qo+32*m, y(w0))
			p("VPSRLW $4, %s, %s", y(w0), y(w1))
			p("VPAND %s, %s, %s", y(g.mask), y(w0), y(w0))
			p("VPAND %s, %s, %s", y(g.mask), y(w1), y(w1))
			for t := 0; t < g.T; t++ {
				for j, wr := range []int{w0, w1} {
					p("VPBROADCASTD %s, %s", tokQ(t, to+4*m+16*j), y(g.at))
					p("VPMADDUBSW %s, %s, %s", y(g.at), y(wr), y(g.at))
					if m == 0 && j == 0 {
						p("VMOVDQA %s, %s", y(g.at), y(h[t]))
					} else {
						p("VPADDW %s, %s, %s", y(g.at), y(h[t]), y(h[t]))
					}
				}
			}
		}
		for t := 0; t < g.T; t++ {
			p("VPMADDWD %s, %s, %s", y(g.ones), y(h[t]), y(sums[t]))
			p("VPBROADCASTD %s, %s", tokM(t, corr), y(g.at))
			p("VPADDD %s, %s, %s", y(g.at), y(sums[t]), y(sums[t]))
		}
		g.r.next -= g.T
	} else {
		for t := 0; t < g.T; t++ {
			p("VPXOR %[1]s, %[1]s, %[1]s", y(sums[t]))
		}
		for k := 0; k < 8; k++ {
			p("VMOVDQU %d(R8), %s", qo+32*k, y(w0))
			p("VPXOR q8k80<>(SB), %s, %s", y(w0), y(w0))
			p("VPABSB %s, %s", y(w0), y(w1))
			for t := 0; t < g.T; t++ {
				p("VPBROADCASTD %s, %s", tokQ(t, to+4*k), y(g.at))
				p("VPSIGNB %s, %s, %s", y(w0), y(g.at), y(g.at))
				p("VPMADDUBSW %s, %s, %s", y(g.at), y(w1), y(g.at))
				p("VPMADDWD %s, %s, %s", y(g.ones), y(g.at), y(g.at))
				p("VPADDD %s, %s, %s", y(g.at), y(sums[t]), y(sums[t]))
			}
		}
	}
	for t := 0; t < g.T; t++ {
		g.finish(t, sums[t], g.d, mo+mD)
	}
	g.r.next -= g.T + 4
}

// q4k writes the super-block of a Q4_K kernel: per activation block j the
// eight rows' d×sc_j and dmin×m_j (exact), the eight weight vectors (the
// low or high nibbles of chunk j/2), and per token the integer sum, its
// float steps and the minimum's term.
func (g *pk) q4k() {
	tr := g.tr
	dmin, ds, dm := g.r.get(), g.r.get(), g.r.get()
	p("VCVTPH2PS 16(SI), %s", y(dmin))
	var wk [8]int
	n := 8
	if !tr.vnni {
		n = 1 // AVX2: one vector at a time
		g.tmp, g.at = g.r.get(), g.r.get()
	}
	for k := 0; k < n; k++ {
		wk[k] = g.r.get()
	}
	var sums []int
	for t := 0; t < g.T; t++ {
		sums = append(sums, g.r.get())
	}
	for j := 0; j < 8; j++ {
		g.prefetch(j, 8, g.w.head+g.w.quant)
		p("VPMOVZXBD %d(SI), %s", 32+8*j, y(ds))
		p("VCVTDQ2PS %s, %s", y(ds), y(ds))
		p("VMULPS %s, %s, %s", y(g.d), y(ds), y(ds))
		p("VPMOVZXBD %d(SI), %s", 96+8*j, y(dm))
		p("VCVTDQ2PS %s, %s", y(dm), y(dm))
		p("VMULPS %s, %s, %s", y(dmin), y(dm), y(dm))
		// nib writes weight vector k (elements 4k..4k+3 of block j).
		nib := func(k, dst int) {
			addr := fmt.Sprintf("%d(R8)", 256*(j/2)+32*k)
			switch {
			case j%2 == 0:
				p("%s %s, %s, %s", tr.and(), addr, y(g.mask), y(dst))
			case tr.vnni:
				p("VPSRLW $4, %s, %s", addr, y(dst))
				p("VPANDD %s, %s, %s", y(dst), y(g.mask), y(dst))
			default:
				p("VMOVDQU %s, %s", addr, y(dst))
				p("VPSRLW $4, %s, %s", y(dst), y(dst))
				p("VPAND %s, %s, %s", y(g.mask), y(dst), y(dst))
			}
		}
		for t := 0; t < g.T; t++ {
			p("%s %s, %s, %s", tr.xor(), y(sums[t]), y(sums[t]), y(sums[t]))
		}
		if tr.vnni {
			for k := 0; k < 8; k++ {
				nib(k, wk[k])
			}
			for t := 0; t < g.T; t++ {
				g.dots(t, sums[t], wk[:], 32*j)
			}
		} else {
			// 16-bit pair sums of all eight vectors (at most
			// 8×2×15×127 < 2^15), per token in its own register.
			h := make([]int, g.T)
			for t := range h {
				h[t] = g.r.get()
			}
			for k := 0; k < 8; k++ {
				nib(k, wk[0])
				for t := 0; t < g.T; t++ {
					p("VPBROADCASTD %s, %s", tokQ(t, 32*j+4*k), y(g.at))
					p("VPMADDUBSW %s, %s, %s", y(g.at), y(wk[0]), y(g.at))
					if k == 0 {
						p("VMOVDQA %s, %s", y(g.at), y(h[t]))
					} else {
						p("VPADDW %s, %s, %s", y(g.at), y(h[t]), y(h[t]))
					}
				}
			}
			for t := 0; t < g.T; t++ {
				p("VPMADDWD %s, %s, %s", y(g.ones), y(h[t]), y(sums[t]))
			}
			g.r.next -= g.T
		}
		for t := 0; t < g.T; t++ {
			g.finish(t, sums[t], ds, mSize*j+mD)
			// acc −= (dmin×m_j) × sa.
			if tr.vnni {
				p("VMULPS.BCST %s, %s, %s", tokM(t, mSize*j+mSum), y(dm), y(g.s))
			} else {
				p("VBROADCASTSS %s, %s", tokM(t, mSize*j+mSum), y(g.s))
				p("VMULPS %s, %s, %s", y(dm), y(g.s), y(g.s))
			}
			p("VSUBPS %s, %s, %s", y(g.s), y(g.acc[t]), y(g.acc[t]))
		}
	}
	g.r.next -= 3 + n + g.T
	if !tr.vnni {
		g.r.next -= 2
	}
}

// q6k writes the super-block of a Q6_K kernel: per activation block b the
// eight weight vectors (low four bits from ql, the top two from qh moved to
// bits 4..5), then per token two integer sums, of elements 0..15 and
// 16..31, each from its correction (c32lo, c32hi), times the eight rows'
// scales of the two sub-blocks, added, and the float steps.
func (g *pk) q6k() {
	tr, k30 := g.tr, g.k30
	var wk [8]int
	n := 8
	if !tr.vnni {
		n = 2 // AVX2: two vectors at a time
		g.tmp, g.at = g.r.get(), g.r.get()
	}
	for k := 0; k < n; k++ {
		wk[k] = g.r.get()
	}
	hb := g.r.get()
	var lo, hi []int
	for t := 0; t < g.T; t++ {
		lo, hi = append(lo, g.r.get()), append(hi, g.r.get())
	}
	var sclo, schi int
	if tr.vnni {
		sclo, schi = g.r.get(), g.r.get()
	} else {
		sclo, schi = wk[0], wk[1] // free once the block's products are done
	}
	// With one token (VNNI) the eight qh vectors of a half super-block stay
	// in registers for its four blocks, instead of being loaded four times.
	var qhv []int
	if tr.vnni && g.T == 1 {
		for range 8 {
			qhv = append(qhv, g.r.get())
		}
	}
	for b := 0; b < 8; b++ {
		g.prefetch(b, 8, g.w.head+g.w.quant)
		h, q := b/4, b%4
		if qhv != nil && q == 0 {
			for k, r := range qhv {
				p("VMOVDQU32 %d(R8), %s", q6qh(h)+32*k, y(r))
			}
		}
		// six writes weight vector k of block b.
		six := func(k, dst int) {
			ql := fmt.Sprintf("%d(R8)", q6ql(h, q%2)+32*k)
			qh := fmt.Sprintf("%d(R8)", q6qh(h)+32*k)
			switch {
			case q/2 == 0:
				p("%s %s, %s, %s", tr.and(), ql, y(g.mask), y(dst))
			case tr.vnni:
				p("VPSRLW $4, %s, %s", ql, y(dst))
				p("VPANDD %s, %s, %s", y(dst), y(g.mask), y(dst))
			default:
				p("VMOVDQU %s, %s", ql, y(dst))
				p("VPSRLW $4, %s, %s", y(dst), y(dst))
				p("VPAND %s, %s, %s", y(g.mask), y(dst), y(dst))
			}
			// qh bits 2q..2q+1 to bits 4..5.
			shift := map[int]string{0: "VPSLLW $4", 1: "VPSLLW $2", 3: "VPSRLW $2"}[q]
			if qhv != nil {
				qh = y(qhv[k])
			}
			if tr.vnni {
				src := qh
				if shift != "" {
					p("%s, %s, %s", shift, qh, y(hb))
					src = y(hb)
				}
				p("VPTERNLOGD $0xf8, %s, %s, %s", src, y(k30), y(dst))
				return
			}
			p("VMOVDQU %s, %s", qh, y(hb))
			if shift != "" {
				p("%s, %s, %s", shift, y(hb), y(hb))
			}
			p("VPAND %s, %s, %s", y(k30), y(hb), y(hb))
			p("VPOR %s, %s, %s", y(hb), y(dst), y(dst))
		}
		for t := 0; t < g.T; t++ {
			p("VPBROADCASTD %s, %s", tokM(t, mSize*b+mC32lo), y(lo[t]))
			p("VPBROADCASTD %s, %s", tokM(t, mSize*b+mC32hi), y(hi[t]))
		}
		if tr.vnni {
			for k := 0; k < 8; k++ {
				six(k, wk[k])
			}
			for t := 0; t < g.T; t++ {
				g.dots(t, lo[t], wk[:4], 32*b)
				g.dots(t, hi[t], wk[4:], 32*b+16)
			}
		} else {
			// Pair sums of 6-bit weights reach 2×63×127: two vectors'
			// fit in 16 bits, then VPMADDWD.
			for k := 0; k < 8; k += 2 {
				six(k, wk[0])
				six(k+1, wk[1])
				for t := 0; t < g.T; t++ {
					i := lo[t]
					if k >= 4 {
						i = hi[t]
					}
					p("VPBROADCASTD %s, %s", tokQ(t, 32*b+4*k), y(g.at))
					p("VPMADDUBSW %s, %s, %s", y(g.at), y(wk[0]), y(g.at))
					p("VPBROADCASTD %s, %s", tokQ(t, 32*b+4*k+4), y(g.tmp))
					p("VPMADDUBSW %s, %s, %s", y(g.tmp), y(wk[1]), y(g.tmp))
					p("VPADDW %s, %s, %s", y(g.at), y(g.tmp), y(g.tmp))
					p("VPMADDWD %s, %s, %s", y(g.ones), y(g.tmp), y(g.tmp))
					p("VPADDD %s, %s, %s", y(g.tmp), y(i), y(i))
				}
			}
		}
		p("VPMOVSXBD %d(SI), %s", 16+8*(2*b), y(sclo))
		p("VPMOVSXBD %d(SI), %s", 16+8*(2*b+1), y(schi))
		for t := 0; t < g.T; t++ {
			p("VPMULLD %s, %s, %s", y(sclo), y(lo[t]), y(lo[t]))
			p("VPMULLD %s, %s, %s", y(schi), y(hi[t]), y(hi[t]))
			p("VPADDD %s, %s, %s", y(hi[t]), y(lo[t]), y(lo[t]))
			g.finish(t, lo[t], g.d, mSize*b+mD)
		}
	}
	g.r.next = 0 // nothing after
}

// q6qh and q6ql are the offsets in a Q6_K record's quants of half h's qh
// vectors and of its ql chunk 2h+i (q8pack.go).
func q6qh(h int) int    { return 768 * h }
func q6ql(h, i int) int { return 768*h + 256 + 256*i }

// prefetchAhead is how far ahead of the block in use the packed kernels
// prefetch the quants, in bytes. Streaming from memory one thread, it took
// Q8_0 from about 15 to 20 GB/s, Q4_0 from 10 to 14, Q4_K from 10 to 14
// and Q6_K from 8.5 to 10.5 (768 to 1536 bytes did about as well; in one
// burst per super-block instead of spread over it, the K-quants gained
// little). On two threads, one-token tiles did better into L2 than into
// L1: Q8_0 +8–10%, the others within noise (interleaved runs, same
// memory).
const prefetchAhead = 1024

// prefetchAheadL2 is the distance of the tiles of the 4- and 6-bit types,
// which prefetch into L2. Against 1,024 bytes, streaming on two threads,
// 6,144 took one-token tiles of Q4_0 3–37% faster, Q4_K 9–16% and Q6_K
// 4–10% (2,048 was slower, 4,096 to 8,192 about as fast; Q8_0 lost 5–13%,
// and keeps 1,024), and four-token tiles (batched decode) Q4_0 15–34%,
// Q4_K 27–29% and Q6_K 52–57% faster than 1,024 into L1; at 64 tokens
// (prefill, from cache) they were as fast or faster (Q6_K 10–14%). Q8_0's
// four-token tile lost 9–24% when prefetching into L2.
const prefetchAheadL2 = 6144

func main() {
	out.WriteString(`// Code generated by q8gen.go; DO NOT EDIT.

//go:build !purego

#include "textflag.h"

// Tile kernels of the integer products of Q8_0, Q4_0, Q4_K and Q6_K weight
// rows with Q8 activation rows; q8gen.go explains them, q8act.go and
// q8kquant.go give the order of operations, which every kernel follows
// exactly, and q8pack.go the packed layout.

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

DATA q8nibshift<>+0(SB)/8, $0
DATA q8nibshift<>+8(SB)/8, $0
DATA q8nibshift<>+16(SB)/8, $4
DATA q8nibshift<>+24(SB)/8, $4
GLOBL q8nibshift<>(SB), RODATA|NOPTR, $32
`)
	avx2, vnni := tier{"avx2", false}, tier{"vnni", true}
	for _, tr := range []tier{avx2, vnni} {
		for _, w := range []wtype{q8_0, q4_0} {
			ukernel(tr, w, 8)
			ukernel(tr, w, 1)
		}
	}
	for _, tr := range []tier{avx2, vnni} {
		for _, w := range []ptype{pq8_0, pq4_0, pq4_k, pq6_k} {
			for _, T := range packedTokens(tr) {
				pkernel(tr, w, T)
			}
		}
	}
	os.Stdout.WriteString(out.String())
}

// packedTokens are the token counts of a tier's packed tiles: 1 and the
// main tile's (q8dot_amd64.go's mainT).
func packedTokens(tr tier) []int {
	if tr.vnni {
		return []int{1, 4}
	}
	return []int{1, 2}
}
