//go:build !purego

#include "textflag.h"

// func swiGLUAVX2(gate, up []float32) int
//
// gate[i] = gate[i]/(1+e^−gate[i]) × up[i] for i < len(gate) (a multiple of
// 8), eight at a time, as silu and expRounded compute it (swiglu.go), with
// no fused multiply-adds. It stops before eight inputs any of which makes
// −gate outside [ExpMin, ExpMax] (or NaN), for Go to do, and returns the
// number done.
TEXT ·swiGLUAVX2(SB), NOSPLIT, $0-56
	MOVQ         gate_base+0(FP), SI
	MOVQ         gate_len+8(FP), CX
	MOVQ         up_base+24(FP), DI
	XORQ         AX, AX
	VBROADCASTSS swLo<>(SB), Y15
	VBROADCASTSS swHi<>(SB), Y14
	VBROADCASTSS swOne<>(SB), Y13
	VBROADCASTSS swLog2e<>(SB), Y12
	VBROADCASTSS swC1<>(SB), Y11
	VBROADCASTSS swC2<>(SB), Y10
	VPBROADCASTD sw127<>(SB), Y9
	VBROADCASTSS swSign<>(SB), Y8
	CMPQ         CX, $8
	JLT          swdone

swloop:
	VMOVUPS   (SI)(AX*4), Y0
	VXORPS    Y8, Y0, Y1 // x = −g
	VCMPPS    $2, Y1, Y15, Y2 // ExpMin ≤ x
	VCMPPS    $2, Y14, Y1, Y3 // x ≤ ExpMax
	VANDPS    Y3, Y2, Y2
	VMOVMSKPS Y2, BX
	CMPQ      BX, $0xff
	JNE       swdone

	// n = round(x×log₂e); r = (x − n×C1) − n×C2.
	VMULPS   Y12, Y1, Y2
	VROUNDPS $0, Y2, Y2
	VMULPS   Y11, Y2, Y3
	VSUBPS   Y3, Y1, Y1
	VMULPS   Y10, Y2, Y3
	VSUBPS   Y3, Y1, Y1

	// y = P0; y = y×r + P1 … P5 (P1..P5 stored eight times, for the
	// adds' memory operands); y = y×(r×r) + r; y = y + 1.
	VBROADCASTSS swP0<>(SB), Y4
	VMULPS       Y1, Y4, Y4
	VADDPS       swP1<>(SB), Y4, Y4
	VMULPS       Y1, Y4, Y4
	VADDPS       swP2<>(SB), Y4, Y4
	VMULPS       Y1, Y4, Y4
	VADDPS       swP3<>(SB), Y4, Y4
	VMULPS       Y1, Y4, Y4
	VADDPS       swP4<>(SB), Y4, Y4
	VMULPS       Y1, Y4, Y4
	VADDPS       swP5<>(SB), Y4, Y4
	VMULPS       Y1, Y1, Y5
	VMULPS       Y5, Y4, Y4
	VADDPS       Y1, Y4, Y4
	VADDPS       Y13, Y4, Y4

	// × 2ⁿ, then g/(1+e) × up.
	VCVTPS2DQ Y2, Y2
	VPADDD    Y9, Y2, Y2
	VPSLLD    $23, Y2, Y2
	VMULPS    Y2, Y4, Y4
	VADDPS    Y13, Y4, Y4
	VDIVPS    Y4, Y0, Y0
	VMULPS    (DI)(AX*4), Y0, Y0
	VMOVUPS   Y0, (SI)(AX*4)
	ADDQ      $8, AX
	SUBQ      $8, CX
	CMPQ      CX, $8
	JGE       swloop

swdone:
	MOVQ AX, ret+48(FP)
	VZEROUPPER
	RET

DATA swLo<>+0(SB)/4, $0xc2aeac4f
GLOBL swLo<>(SB), RODATA|NOPTR, $4
DATA swHi<>+0(SB)/4, $0x42b0c09d
GLOBL swHi<>(SB), RODATA|NOPTR, $4
DATA swOne<>+0(SB)/4, $0x3f800000
GLOBL swOne<>(SB), RODATA|NOPTR, $4
DATA swLog2e<>+0(SB)/4, $0x3fb8aa3b
GLOBL swLog2e<>(SB), RODATA|NOPTR, $4
DATA swC1<>+0(SB)/4, $0x3f318000
GLOBL swC1<>(SB), RODATA|NOPTR, $4
DATA swC2<>+0(SB)/4, $0xb95e8083
GLOBL swC2<>(SB), RODATA|NOPTR, $4
DATA sw127<>+0(SB)/4, $127
GLOBL sw127<>(SB), RODATA|NOPTR, $4
DATA swP0<>+0(SB)/4, $0x39506967
GLOBL swP0<>(SB), RODATA|NOPTR, $4
DATA swP1<>+0(SB)/4, $0x3ab743ce
DATA swP1<>+4(SB)/4, $0x3ab743ce
DATA swP1<>+8(SB)/4, $0x3ab743ce
DATA swP1<>+12(SB)/4, $0x3ab743ce
DATA swP1<>+16(SB)/4, $0x3ab743ce
DATA swP1<>+20(SB)/4, $0x3ab743ce
DATA swP1<>+24(SB)/4, $0x3ab743ce
DATA swP1<>+28(SB)/4, $0x3ab743ce
GLOBL swP1<>(SB), RODATA|NOPTR, $32
DATA swP2<>+0(SB)/4, $0x3c088908
DATA swP2<>+4(SB)/4, $0x3c088908
DATA swP2<>+8(SB)/4, $0x3c088908
DATA swP2<>+12(SB)/4, $0x3c088908
DATA swP2<>+16(SB)/4, $0x3c088908
DATA swP2<>+20(SB)/4, $0x3c088908
DATA swP2<>+24(SB)/4, $0x3c088908
DATA swP2<>+28(SB)/4, $0x3c088908
GLOBL swP2<>(SB), RODATA|NOPTR, $32
DATA swP3<>+0(SB)/4, $0x3d2aa9c1
DATA swP3<>+4(SB)/4, $0x3d2aa9c1
DATA swP3<>+8(SB)/4, $0x3d2aa9c1
DATA swP3<>+12(SB)/4, $0x3d2aa9c1
DATA swP3<>+16(SB)/4, $0x3d2aa9c1
DATA swP3<>+20(SB)/4, $0x3d2aa9c1
DATA swP3<>+24(SB)/4, $0x3d2aa9c1
DATA swP3<>+28(SB)/4, $0x3d2aa9c1
GLOBL swP3<>(SB), RODATA|NOPTR, $32
DATA swP4<>+0(SB)/4, $0x3e2aaaaa
DATA swP4<>+4(SB)/4, $0x3e2aaaaa
DATA swP4<>+8(SB)/4, $0x3e2aaaaa
DATA swP4<>+12(SB)/4, $0x3e2aaaaa
DATA swP4<>+16(SB)/4, $0x3e2aaaaa
DATA swP4<>+20(SB)/4, $0x3e2aaaaa
DATA swP4<>+24(SB)/4, $0x3e2aaaaa
DATA swP4<>+28(SB)/4, $0x3e2aaaaa
GLOBL swP4<>(SB), RODATA|NOPTR, $32
DATA swP5<>+0(SB)/4, $0x3f000000
DATA swP5<>+4(SB)/4, $0x3f000000
DATA swP5<>+8(SB)/4, $0x3f000000
DATA swP5<>+12(SB)/4, $0x3f000000
DATA swP5<>+16(SB)/4, $0x3f000000
DATA swP5<>+20(SB)/4, $0x3f000000
DATA swP5<>+24(SB)/4, $0x3f000000
DATA swP5<>+28(SB)/4, $0x3f000000
GLOBL swP5<>(SB), RODATA|NOPTR, $32
DATA swSign<>+0(SB)/4, $0x80000000
GLOBL swSign<>(SB), RODATA|NOPTR, $4
