//go:build !purego

#include "textflag.h"

// AVX2+FMA+F16C weighted sums of GGUF Q8_0 and Q4_0 rows (see kvaccum.go):
// out[j] += p[j][i] × vᵢ for rows i in order, one fused multiply-add per
// element and row as accF32Q4AVX2 and accF32Q1AVX2 do on float rows, each
// value converted in registers first (quant × f16 scale, exact). The Q4
// kernels take four outputs and 16 channels (half a block) at a time,
// eight accumulators; the Q1 kernels one output and a whole block, four.

// func kvAccQ8_0Q4AVX2(out []float32, ldo int, p []float32, ldp int, v []byte, n, nb int)
TEXT ·kvAccQ8_0Q4AVX2(SB), NOSPLIT, $0-104
	MOVQ out_base+0(FP), DI
	MOVQ ldo+24(FP), R8
	SHLQ $2, R8
	MOVQ p_base+32(FP), SI
	MOVQ ldp+56(FP), R9
	SHLQ $2, R9
	MOVQ v_base+64(FP), DX
	MOVQ nb+96(FP), R10
	IMULQ $34, R10 // row bytes
	XORQ CX, CX // tile: 16 channels, half of block CX/2

kvAccQ8_0Q4AVX2tile:
	MOVQ nb+96(FP), R11
	SHLQ $1, R11
	CMPQ CX, R11
	JAE  kvAccQ8_0Q4AVX2done
	MOVQ CX, AX
	SHLQ $6, AX
	LEAQ (DI)(AX*1), R12
	LEAQ (R12)(R8*2), R13
	VMOVUPS (R12), Y0
	VMOVUPS 32(R12), Y1
	VMOVUPS (R12)(R8*1), Y2
	VMOVUPS 32(R12)(R8*1), Y3
	VMOVUPS (R13), Y4
	VMOVUPS 32(R13), Y5
	VMOVUPS (R13)(R8*1), Y6
	VMOVUPS 32(R13)(R8*1), Y7
	MOVQ CX, AX
	SHRQ $1, AX
	IMULQ $34, AX
	ADDQ DX, AX // the block in row 0
	MOVQ CX, R14
	ANDQ $1, R14
	SHLQ $4, R14
	ADDQ $2, R14 // the half's quants, from the block's start
	MOVQ n+88(FP), BX
	MOVQ SI, R12
	LEAQ (SI)(R9*2), R13

kvAccQ8_0Q4AVX2row:
	MOVWLZX      (AX), R11
	VMOVD        R11, X8
	VCVTPH2PS    X8, X8
	VBROADCASTSS X8, Y8
	VPMOVSXBD    (AX)(R14*1), Y9
	VPMOVSXBD    8(AX)(R14*1), Y10
	VCVTDQ2PS    Y9, Y9
	VCVTDQ2PS    Y10, Y10
	VMULPS       Y8, Y9, Y9
	VMULPS       Y8, Y10, Y10
	VBROADCASTSS (R12), Y11
	VFMADD231PS  Y9, Y11, Y0
	VFMADD231PS  Y10, Y11, Y1
	VBROADCASTSS (R12)(R9*1), Y11
	VFMADD231PS  Y9, Y11, Y2
	VFMADD231PS  Y10, Y11, Y3
	VBROADCASTSS (R13), Y11
	VFMADD231PS  Y9, Y11, Y4
	VFMADD231PS  Y10, Y11, Y5
	VBROADCASTSS (R13)(R9*1), Y11
	VFMADD231PS  Y9, Y11, Y6
	VFMADD231PS  Y10, Y11, Y7
	ADDQ         R10, AX
	ADDQ         $4, R12
	ADDQ         $4, R13
	DECQ         BX
	JNZ          kvAccQ8_0Q4AVX2row

	MOVQ    CX, AX
	SHLQ    $6, AX
	LEAQ    (DI)(AX*1), R12
	LEAQ    (R12)(R8*2), R13
	VMOVUPS Y0, (R12)
	VMOVUPS Y1, 32(R12)
	VMOVUPS Y2, (R12)(R8*1)
	VMOVUPS Y3, 32(R12)(R8*1)
	VMOVUPS Y4, (R13)
	VMOVUPS Y5, 32(R13)
	VMOVUPS Y6, (R13)(R8*1)
	VMOVUPS Y7, 32(R13)(R8*1)
	INCQ    CX
	JMP     kvAccQ8_0Q4AVX2tile

kvAccQ8_0Q4AVX2done:
	VZEROUPPER
	RET

// func kvAccQ8_0Q1AVX2(out []float32, p []float32, v []byte, n, nb int)
TEXT ·kvAccQ8_0Q1AVX2(SB), NOSPLIT, $0-88
	MOVQ out_base+0(FP), DI
	MOVQ p_base+24(FP), SI
	MOVQ v_base+48(FP), DX
	MOVQ nb+80(FP), R10
	IMULQ $34, R10 // row bytes
	XORQ CX, CX // block

kvAccQ8_0Q1AVX2block:
	MOVQ nb+80(FP), R11
	CMPQ CX, R11
	JAE  kvAccQ8_0Q1AVX2done
	MOVQ CX, AX
	SHLQ $7, AX
	LEAQ (DI)(AX*1), R12
	VMOVUPS (R12), Y0
	VMOVUPS 32(R12), Y1
	VMOVUPS 64(R12), Y2
	VMOVUPS 96(R12), Y3
	MOVQ CX, AX
	IMULQ $34, AX
	ADDQ DX, AX // the block in row 0
	MOVQ n+72(FP), BX
	MOVQ SI, R13

kvAccQ8_0Q1AVX2row:
	MOVWLZX      (AX), R11
	VMOVD        R11, X8
	VCVTPH2PS    X8, X8
	VBROADCASTSS X8, Y8
	VBROADCASTSS (R13), Y9
	VPMOVSXBD    2(AX), Y10
	VPMOVSXBD    10(AX), Y11
	VPMOVSXBD    18(AX), Y12
	VPMOVSXBD    26(AX), Y13
	VCVTDQ2PS    Y10, Y10
	VCVTDQ2PS    Y11, Y11
	VCVTDQ2PS    Y12, Y12
	VCVTDQ2PS    Y13, Y13
	VMULPS       Y8, Y10, Y10
	VMULPS       Y8, Y11, Y11
	VMULPS       Y8, Y12, Y12
	VMULPS       Y8, Y13, Y13
	VFMADD231PS  Y10, Y9, Y0
	VFMADD231PS  Y11, Y9, Y1
	VFMADD231PS  Y12, Y9, Y2
	VFMADD231PS  Y13, Y9, Y3
	ADDQ         R10, AX
	ADDQ         $4, R13
	DECQ         BX
	JNZ          kvAccQ8_0Q1AVX2row

	MOVQ    CX, AX
	SHLQ    $7, AX
	LEAQ    (DI)(AX*1), R12
	VMOVUPS Y0, (R12)
	VMOVUPS Y1, 32(R12)
	VMOVUPS Y2, 64(R12)
	VMOVUPS Y3, 96(R12)
	INCQ    CX
	JMP     kvAccQ8_0Q1AVX2block

kvAccQ8_0Q1AVX2done:
	VZEROUPPER
	RET

// func kvAccQ4_0Q4AVX2(out []float32, ldo int, p []float32, ldp int, v []byte, n, nb int)
TEXT ·kvAccQ4_0Q4AVX2(SB), NOSPLIT, $0-104
	MOVQ out_base+0(FP), DI
	MOVQ ldo+24(FP), R8
	SHLQ $2, R8
	MOVQ p_base+32(FP), SI
	MOVQ ldp+56(FP), R9
	SHLQ $2, R9
	MOVQ v_base+64(FP), DX
	MOVQ nb+96(FP), R10
	IMULQ $18, R10 // row bytes
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X12
	VPBROADCASTD X12, X12 // 0x0f in every byte
	MOVL         $0x08080808, AX
	VMOVD        AX, X13
	VPBROADCASTD X13, X13 // 8 in every byte
	XORQ CX, CX // tile: 16 channels, half of block CX/2

kvAccQ4_0Q4AVX2tile:
	MOVQ nb+96(FP), R11
	SHLQ $1, R11
	CMPQ CX, R11
	JAE  kvAccQ4_0Q4AVX2done
	MOVQ CX, AX
	SHLQ $6, AX
	LEAQ (DI)(AX*1), R12
	LEAQ (R12)(R8*2), R13
	VMOVUPS (R12), Y0
	VMOVUPS 32(R12), Y1
	VMOVUPS (R12)(R8*1), Y2
	VMOVUPS 32(R12)(R8*1), Y3
	VMOVUPS (R13), Y4
	VMOVUPS 32(R13), Y5
	VMOVUPS (R13)(R8*1), Y6
	VMOVUPS 32(R13)(R8*1), Y7
	MOVQ CX, AX
	SHRQ $1, AX
	IMULQ $18, AX
	ADDQ DX, AX // the block in row 0
	MOVQ CX, R14
	ANDQ $1, R14
	SHLQ $2, R14
	VMOVQ R14, X14 // nibble shift: 0 (low, elements 0..15) or 4 (high, 16..31)
	MOVQ n+88(FP), BX
	MOVQ SI, R12
	LEAQ (SI)(R9*2), R13

kvAccQ4_0Q4AVX2row:
	MOVWLZX      (AX), R11
	VMOVD        R11, X8
	VCVTPH2PS    X8, X8
	VBROADCASTSS X8, Y8
	VMOVDQU      2(AX), X9
	VPSRLW       X14, X9, X9
	VPAND        X12, X9, X9
	VPSUBB       X13, X9, X9
	VPSRLDQ      $8, X9, X10
	VPMOVSXBD    X9, Y9
	VPMOVSXBD    X10, Y10
	VCVTDQ2PS    Y9, Y9
	VCVTDQ2PS    Y10, Y10
	VMULPS       Y8, Y9, Y9
	VMULPS       Y8, Y10, Y10
	VBROADCASTSS (R12), Y11
	VFMADD231PS  Y9, Y11, Y0
	VFMADD231PS  Y10, Y11, Y1
	VBROADCASTSS (R12)(R9*1), Y11
	VFMADD231PS  Y9, Y11, Y2
	VFMADD231PS  Y10, Y11, Y3
	VBROADCASTSS (R13), Y11
	VFMADD231PS  Y9, Y11, Y4
	VFMADD231PS  Y10, Y11, Y5
	VBROADCASTSS (R13)(R9*1), Y11
	VFMADD231PS  Y9, Y11, Y6
	VFMADD231PS  Y10, Y11, Y7
	ADDQ         R10, AX
	ADDQ         $4, R12
	ADDQ         $4, R13
	DECQ         BX
	JNZ          kvAccQ4_0Q4AVX2row

	MOVQ    CX, AX
	SHLQ    $6, AX
	LEAQ    (DI)(AX*1), R12
	LEAQ    (R12)(R8*2), R13
	VMOVUPS Y0, (R12)
	VMOVUPS Y1, 32(R12)
	VMOVUPS Y2, (R12)(R8*1)
	VMOVUPS Y3, 32(R12)(R8*1)
	VMOVUPS Y4, (R13)
	VMOVUPS Y5, 32(R13)
	VMOVUPS Y6, (R13)(R8*1)
	VMOVUPS Y7, 32(R13)(R8*1)
	INCQ    CX
	JMP     kvAccQ4_0Q4AVX2tile

kvAccQ4_0Q4AVX2done:
	VZEROUPPER
	RET

// func kvAccQ4_0Q1AVX2(out []float32, p []float32, v []byte, n, nb int)
TEXT ·kvAccQ4_0Q1AVX2(SB), NOSPLIT, $0-88
	MOVQ out_base+0(FP), DI
	MOVQ p_base+24(FP), SI
	MOVQ v_base+48(FP), DX
	MOVQ nb+80(FP), R10
	IMULQ $18, R10 // row bytes
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, X14 // 0x0f in every byte
	MOVL         $0x08080808, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, X15 // 8 in every byte
	XORQ CX, CX // block

kvAccQ4_0Q1AVX2block:
	MOVQ nb+80(FP), R11
	CMPQ CX, R11
	JAE  kvAccQ4_0Q1AVX2done
	MOVQ CX, AX
	SHLQ $7, AX
	LEAQ (DI)(AX*1), R12
	VMOVUPS (R12), Y0
	VMOVUPS 32(R12), Y1
	VMOVUPS 64(R12), Y2
	VMOVUPS 96(R12), Y3
	MOVQ CX, AX
	IMULQ $18, AX
	ADDQ DX, AX // the block in row 0
	MOVQ n+72(FP), BX
	MOVQ SI, R13

kvAccQ4_0Q1AVX2row:
	MOVWLZX      (AX), R11
	VMOVD        R11, X8
	VCVTPH2PS    X8, X8
	VBROADCASTSS X8, Y8
	VBROADCASTSS (R13), Y9
	VMOVDQU      2(AX), X10
	VPSRLW       $4, X10, X11
	VPAND        X14, X10, X10
	VPAND        X14, X11, X11
	VPSUBB       X15, X10, X10
	VPSUBB       X15, X11, X11
	VPSRLDQ      $8, X10, X12
	VPSRLDQ      $8, X11, X13
	VPMOVSXBD    X10, Y10
	VPMOVSXBD    X12, Y12
	VPMOVSXBD    X11, Y11
	VPMOVSXBD    X13, Y13
	VCVTDQ2PS    Y10, Y10
	VCVTDQ2PS    Y12, Y12
	VCVTDQ2PS    Y11, Y11
	VCVTDQ2PS    Y13, Y13
	VMULPS       Y8, Y10, Y10
	VMULPS       Y8, Y12, Y12
	VMULPS       Y8, Y11, Y11
	VMULPS       Y8, Y13, Y13
	VFMADD231PS  Y10, Y9, Y0
	VFMADD231PS  Y12, Y9, Y1
	VFMADD231PS  Y11, Y9, Y2
	VFMADD231PS  Y13, Y9, Y3
	ADDQ         R10, AX
	ADDQ         $4, R13
	DECQ         BX
	JNZ          kvAccQ4_0Q1AVX2row

	MOVQ    CX, AX
	SHLQ    $7, AX
	LEAQ    (DI)(AX*1), R12
	VMOVUPS Y0, (R12)
	VMOVUPS Y1, 32(R12)
	VMOVUPS Y2, 64(R12)
	VMOVUPS Y3, 96(R12)
	INCQ    CX
	JMP     kvAccQ4_0Q1AVX2block

kvAccQ4_0Q1AVX2done:
	VZEROUPPER
	RET
