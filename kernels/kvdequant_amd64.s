//go:build !purego

#include "textflag.h"

// AVX2+F16C dequantization of GGUF Q8_0 and Q4_0 blocks (see quant.go for
// the layouts): per block the f16 scale is widened by VCVTPH2PS and
// broadcast, the 32 integers are widened to int32 eight at a time,
// converted to float32 and multiplied by the scale, exactly (the product
// of an 8-bit integer and a half float fits a float32).

// func kvDequantQ8_0AVX2(dst []float32, src []byte)
TEXT ·kvDequantQ8_0AVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ src_base+24(FP), SI
	SHRQ $5, CX // blocks

q8block:
	MOVWLZX      (SI), AX
	VMOVD        AX, X0
	VCVTPH2PS    X0, X0
	VBROADCASTSS X0, Y0
	VPMOVSXBD    2(SI), Y1
	VPMOVSXBD    10(SI), Y2
	VPMOVSXBD    18(SI), Y3
	VPMOVSXBD    26(SI), Y4
	VCVTDQ2PS    Y1, Y1
	VCVTDQ2PS    Y2, Y2
	VCVTDQ2PS    Y3, Y3
	VCVTDQ2PS    Y4, Y4
	VMULPS       Y0, Y1, Y1
	VMULPS       Y0, Y2, Y2
	VMULPS       Y0, Y3, Y3
	VMULPS       Y0, Y4, Y4
	VMOVUPS      Y1, (DI)
	VMOVUPS      Y2, 32(DI)
	VMOVUPS      Y3, 64(DI)
	VMOVUPS      Y4, 96(DI)
	ADDQ         $34, SI
	ADDQ         $128, DI
	DECQ         CX
	JNZ          q8block
	VZEROUPPER
	RET

// func kvDequantQ4_0AVX2(dst []float32, src []byte)
//
// The 16 bytes of nibbles are split into low nibbles (elements 0..15) and
// high nibbles (16..31), less 8 as signed bytes, then widened as Q8_0's.
TEXT ·kvDequantQ4_0AVX2(SB), NOSPLIT, $0-48
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         src_base+24(FP), SI
	SHRQ         $5, CX            // blocks
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X6
	VPBROADCASTD X6, X6            // 0x0f in every byte
	MOVL         $0x08080808, AX
	VMOVD        AX, X7
	VPBROADCASTD X7, X7            // 8 in every byte

q4block:
	MOVWLZX      (SI), AX
	VMOVD        AX, X0
	VCVTPH2PS    X0, X0
	VBROADCASTSS X0, Y0
	VMOVDQU      2(SI), X1
	VPSRLW       $4, X1, X2
	VPAND        X6, X1, X1        // low nibbles: elements 0..15
	VPAND        X6, X2, X2        // high nibbles: elements 16..31
	VPSUBB       X7, X1, X1
	VPSUBB       X7, X2, X2
	VPSRLDQ      $8, X1, X3
	VPSRLDQ      $8, X2, X4
	VPMOVSXBD    X1, Y1
	VPMOVSXBD    X3, Y3
	VPMOVSXBD    X2, Y2
	VPMOVSXBD    X4, Y4
	VCVTDQ2PS    Y1, Y1
	VCVTDQ2PS    Y3, Y3
	VCVTDQ2PS    Y2, Y2
	VCVTDQ2PS    Y4, Y4
	VMULPS       Y0, Y1, Y1
	VMULPS       Y0, Y3, Y3
	VMULPS       Y0, Y2, Y2
	VMULPS       Y0, Y4, Y4
	VMOVUPS      Y1, (DI)
	VMOVUPS      Y3, 32(DI)
	VMOVUPS      Y2, 64(DI)
	VMOVUPS      Y4, 96(DI)
	ADDQ         $18, SI
	ADDQ         $128, DI
	DECQ         CX
	JNZ          q4block
	VZEROUPPER
	RET
