//go:build !purego

#include "textflag.h"

// AVX2+FMA+F16C kernels for rows of ggml-quantised blocks (see quant.go for
// the formats). Each block's f16 scale d is broadcast and widened with
// VPBROADCASTW+VCVTPH2PS, and the block's integers are widened to float32
// and multiplied by d before the FMA with x. d×q is exact in float32 (an
// 11-bit by 8-bit product), so the products equal those of the dequantised
// row. Four accumulators, one per group of eight elements, carry across
// blocks. See dispatch_amd64.go for the Go declarations; the callers
// guarantee that w holds len(x)/32 blocks.

// func dotQ8_0AVX2(w []byte, x []float32) float32
//
// A Q8_0 block is 34 bytes: the scale, then 32 int8 values, which
// VPMOVSXBD and VCVTDQ2PS widen eight at a time.
TEXT ·dotQ8_0AVX2(SB), NOSPLIT, $0-52
	MOVQ   w_base+0(FP), SI
	MOVQ   x_base+24(FP), DI
	MOVQ   x_len+32(FP), CX
	SHRQ   $5, CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	TESTQ  CX, CX
	JZ     q8sum

q8block:
	VPBROADCASTW (SI), X4
	VCVTPH2PS    X4, Y4
	VPMOVSXBD    2(SI), Y5
	VPMOVSXBD    10(SI), Y6
	VPMOVSXBD    18(SI), Y7
	VPMOVSXBD    26(SI), Y8
	VCVTDQ2PS    Y5, Y5
	VCVTDQ2PS    Y6, Y6
	VCVTDQ2PS    Y7, Y7
	VCVTDQ2PS    Y8, Y8
	VMULPS       Y4, Y5, Y5
	VMULPS       Y4, Y6, Y6
	VMULPS       Y4, Y7, Y7
	VMULPS       Y4, Y8, Y8
	VFMADD231PS  (DI), Y5, Y0
	VFMADD231PS  32(DI), Y6, Y1
	VFMADD231PS  64(DI), Y7, Y2
	VFMADD231PS  96(DI), Y8, Y3
	ADDQ         $34, SI
	ADDQ         $128, DI
	DECQ         CX
	JNZ          q8block

q8sum:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VPERMILPS    $0x4e, X0, X1
	VADDPS       X1, X0, X0
	VPERMILPS    $0xb1, X0, X1
	VADDSS       X1, X0, X0
	VMOVSS       X0, ret+48(FP)
	VZEROUPPER
	RET

// func dotQ4_0AVX2(w []byte, x []float32) float32
//
// A Q4_0 block is 18 bytes: the scale, then 16 bytes whose low nibbles are
// elements 0..15 and high nibbles elements 16..31, each offset by 8.
TEXT ·dotQ4_0AVX2(SB), NOSPLIT, $0-52
	MOVQ         w_base+0(FP), SI
	MOVQ         x_base+24(FP), DI
	MOVQ         x_len+32(FP), CX
	SHRQ         $5, CX
	VXORPS       Y0, Y0, Y0
	VXORPS       Y1, Y1, Y1
	VXORPS       Y2, Y2, Y2
	VXORPS       Y3, Y3, Y3
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X9
	VPBROADCASTD X9, X9              // nibble mask
	MOVL         $0x08080808, AX
	VMOVD        AX, X10
	VPBROADCASTD X10, X10            // offset 8 in every byte
	TESTQ        CX, CX
	JZ           q4sum

q4block:
	VPBROADCASTW (SI), X4
	VCVTPH2PS    X4, Y4
	VMOVDQU      2(SI), X5
	VPSRLW       $4, X5, X6
	VPAND        X9, X5, X5           // elements 0..15
	VPAND        X9, X6, X6           // elements 16..31
	VPSUBB       X10, X5, X5
	VPSUBB       X10, X6, X6
	VPMOVSXBD    X5, Y7
	VPSRLDQ      $8, X5, X5
	VPMOVSXBD    X5, Y8
	VPMOVSXBD    X6, Y11
	VPSRLDQ      $8, X6, X6
	VPMOVSXBD    X6, Y12
	VCVTDQ2PS    Y7, Y7
	VCVTDQ2PS    Y8, Y8
	VCVTDQ2PS    Y11, Y11
	VCVTDQ2PS    Y12, Y12
	VMULPS       Y4, Y7, Y7
	VMULPS       Y4, Y8, Y8
	VMULPS       Y4, Y11, Y11
	VMULPS       Y4, Y12, Y12
	VFMADD231PS  (DI), Y7, Y0
	VFMADD231PS  32(DI), Y8, Y1
	VFMADD231PS  64(DI), Y11, Y2
	VFMADD231PS  96(DI), Y12, Y3
	ADDQ         $18, SI
	ADDQ         $128, DI
	DECQ         CX
	JNZ          q4block

q4sum:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VPERMILPS    $0x4e, X0, X1
	VADDPS       X1, X0, X0
	VPERMILPS    $0xb1, X0, X1
	VADDSS       X1, X0, X0
	VMOVSS       X0, ret+48(FP)
	VZEROUPPER
	RET
