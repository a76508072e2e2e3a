//go:build !purego

#include "textflag.h"

// func quantizeQ8AVX2(q *int8, d *float32, halves *int32, hstride uintptr, x *float32, nb int) int
//
// Quantizes nb blocks of 32 floats at x as quantizeQ8 does (q8act.go), bit
// for bit: amax = max|x| (exact, in any order), d = amax/127, id = 1/d (0
// when d is 0), q = trunc(x×id + copysign(0.5, x×id)) clamped to
// [-127, 127], which is quantizeQ8's rounding half away from zero: f+0.5
// for f ≥ 0 (−0 included, whose result is 0 either way) and f−0.5
// otherwise. It writes the block's scale to d[b], its 32 quants to q and
// the sums of quants 0..15 and 16..31 to halves[0] and halves[1], halves
// advancing hstride bytes per block. It stops before the first block
// holding a NaN or an infinity, which the caller quantizes in Go, and
// returns the number of blocks done. It also stops before a block whose
// 1/d overflows to +Inf (a subnormal scale), where quantizeQ8 clamps the
// infinite products and gives 0×Inf = NaN the value 0.
TEXT ·quantizeQ8AVX2(SB), NOSPLIT, $0-56
	MOVQ q+0(FP), DI
	MOVQ d+8(FP), DX
	MOVQ halves+16(FP), R8
	MOVQ hstride+24(FP), R9
	MOVQ x+32(FP), SI
	MOVQ nb+40(FP), CX
	XORQ AX, AX
	VPBROADCASTD qabs<>(SB), Y15
	VPBROADCASTD qinf<>(SB), Y14
	VPBROADCASTD qhalf<>(SB), Y13
	VPBROADCASTD qsign<>(SB), Y12
	VPBROADCASTD q127<>(SB), Y11
	VPBROADCASTD qm127<>(SB), Y10
	VMOVDQU      qperm<>(SB), Y9
	TESTQ        CX, CX
	JZ           qdone

qblock:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VANDPS  Y15, Y0, Y4
	VANDPS  Y15, Y1, Y5
	VANDPS  Y15, Y2, Y6
	VANDPS  Y15, Y3, Y7

	// All finite: |x| < +Inf (false for NaN) in every lane.
	// (Y0 is reloaded after: no register is free.)
	VCMPPS    $1, Y14, Y4, Y8
	VCMPPS    $1, Y14, Y5, Y0
	VANDPS    Y0, Y8, Y8
	VCMPPS    $1, Y14, Y6, Y0
	VANDPS    Y0, Y8, Y8
	VCMPPS    $1, Y14, Y7, Y0
	VANDPS    Y0, Y8, Y8
	VMOVMSKPS Y8, BX
	CMPQ      BX, $0xff
	JNE       qdone
	VMOVUPS   (SI), Y0

	// amax, then d = amax/127 and id.
	VMAXPS       Y5, Y4, Y4
	VMAXPS       Y7, Y6, Y6
	VMAXPS       Y6, Y4, Y4
	VEXTRACTF128 $1, Y4, X6
	VMAXPS       X6, X4, X4
	VPERMILPS    $0x4e, X4, X6
	VMAXPS       X6, X4, X4
	VPERMILPS    $0xb1, X4, X6
	VMAXPS       X6, X4, X4
	VDIVSS       q127f<>(SB), X4, X4
	VMOVSS       X4, (DX)
	VXORPS       X5, X5, X5
	VUCOMISS     X5, X4
	JEQ          qzero
	VMOVSS       qone<>(SB), X5
	VDIVSS       X4, X5, X5
	VUCOMISS     qinf<>(SB), X5
	JEQ          qdone // 1/d overflows (d subnormal): Go's clamps and NaN rule apply

qzero:
	VBROADCASTSS X5, Y5

	// f = x×id; t = f + copysign(0.5, f); q = clamp(trunc(t)).
	VMULPS     Y5, Y0, Y0
	VMULPS     Y5, Y1, Y1
	VMULPS     Y5, Y2, Y2
	VMULPS     Y5, Y3, Y3
	VANDPS     Y12, Y0, Y4
	VORPS      Y13, Y4, Y4
	VADDPS     Y4, Y0, Y0
	VANDPS     Y12, Y1, Y4
	VORPS      Y13, Y4, Y4
	VADDPS     Y4, Y1, Y1
	VANDPS     Y12, Y2, Y4
	VORPS      Y13, Y4, Y4
	VADDPS     Y4, Y2, Y2
	VANDPS     Y12, Y3, Y4
	VORPS      Y13, Y4, Y4
	VADDPS     Y4, Y3, Y3
	VCVTTPS2DQ Y0, Y0
	VCVTTPS2DQ Y1, Y1
	VCVTTPS2DQ Y2, Y2
	VCVTTPS2DQ Y3, Y3
	VPMINSD    Y11, Y0, Y0
	VPMINSD    Y11, Y1, Y1
	VPMINSD    Y11, Y2, Y2
	VPMINSD    Y11, Y3, Y3
	VPMAXSD    Y10, Y0, Y0
	VPMAXSD    Y10, Y1, Y1
	VPMAXSD    Y10, Y2, Y2
	VPMAXSD    Y10, Y3, Y3

	// The sums of quants 0..15 and 16..31.
	VPADDD       Y1, Y0, Y4
	VPADDD       Y3, Y2, Y5
	VEXTRACTI128 $1, Y4, X6
	VPADDD       X6, X4, X4
	VEXTRACTI128 $1, Y5, X6
	VPADDD       X6, X5, X5
	VPHADDD      X5, X4, X4
	VPHADDD      X4, X4, X4
	VMOVQ        X4, (R8)

	// Pack to bytes: the packs interleave the 128-bit lanes; VPERMD puts
	// the dwords (four quants each) back in order.
	VPACKSSDW Y1, Y0, Y0
	VPACKSSDW Y3, Y2, Y2
	VPACKSSWB Y2, Y0, Y0
	VPERMD    Y0, Y9, Y0
	VMOVDQU   Y0, (DI)

	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $4, DX
	ADDQ R9, R8
	INCQ AX
	DECQ CX
	JNZ  qblock

qdone:
	MOVQ AX, ret+48(FP)
	VZEROUPPER
	RET

DATA qabs<>+0(SB)/4, $0x7fffffff
GLOBL qabs<>(SB), RODATA|NOPTR, $4
DATA qinf<>+0(SB)/4, $0x7f800000
GLOBL qinf<>(SB), RODATA|NOPTR, $4
DATA qhalf<>+0(SB)/4, $0x3f000000
GLOBL qhalf<>(SB), RODATA|NOPTR, $4
DATA qsign<>+0(SB)/4, $0x80000000
GLOBL qsign<>(SB), RODATA|NOPTR, $4
DATA q127<>+0(SB)/4, $127
GLOBL q127<>(SB), RODATA|NOPTR, $4
DATA qm127<>+0(SB)/4, $-127
GLOBL qm127<>(SB), RODATA|NOPTR, $4
DATA q127f<>+0(SB)/4, $0x42fe0000
GLOBL q127f<>(SB), RODATA|NOPTR, $4
DATA qone<>+0(SB)/4, $0x3f800000
GLOBL qone<>(SB), RODATA|NOPTR, $4
DATA qperm<>+0(SB)/4, $0
DATA qperm<>+4(SB)/4, $4
DATA qperm<>+8(SB)/4, $1
DATA qperm<>+12(SB)/4, $5
DATA qperm<>+16(SB)/4, $2
DATA qperm<>+20(SB)/4, $6
DATA qperm<>+24(SB)/4, $3
DATA qperm<>+28(SB)/4, $7
GLOBL qperm<>(SB), RODATA|NOPTR, $32
