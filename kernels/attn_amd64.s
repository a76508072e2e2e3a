//go:build !purego

#include "textflag.h"

// AVX2+FMA+F16C attention kernels: see attn.go for what they compute and
// attn_amd64.go for the Go declarations. The F32 kernels are the F16 ones
// with VMOVUPS loads in place of VCVTPH2PS conversions.

// func dotsF16K4Q2AVX2(dst []float32, ldd int, keys []uint16, n, w int, q []float32, scale float32)
//
// Four keys × two queries: eight accumulators, one per pair, each summing
// its channels in eight lanes; then four pairs at a time are reduced by
// VHADDPS, ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7)) for every pair, as in the
// other tiles. Each tile first asks for the bytes 6,144 on (PREFETCHT1,
// into L2; see attn512_amd64.go), as the value kernels do for their rows.
TEXT ·dotsF16K4Q2AVX2(SB), NOSPLIT, $0-100
	MOVQ         dst_base+0(FP), DI
	MOVQ         ldd+24(FP), R8
	SHLQ         $2, R8
	MOVQ         keys_base+32(FP), SI
	MOVQ         n+56(FP), BX
	MOVQ         w+64(FP), R11
	MOVQ         R11, R13
	ANDQ         $-8, R13
	MOVQ         R11, R10
	SHLQ         $2, R10
	SHLQ         $1, R11
	MOVQ         q_base+72(FP), R9
	VBROADCASTSS scale+96(FP), Y15

F16q2keys:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ   R11, CX
	SHLQ   $2, CX

F16q2pf:
	SUBQ       $64, CX
	PREFETCHT1 6144(SI)(CX*1)
	JG         F16q2pf
	MOVQ       SI, AX
	LEAQ       (SI)(R11*2), R12
	MOVQ       R9, DX
	MOVQ       R13, CX

F16q2chan:
	VMOVUPS     (DX), Y8
	VMOVUPS     (DX)(R10*1), Y9
	VCVTPH2PS   (AX), Y10
	VFMADD231PS Y8, Y10, Y0
	VFMADD231PS Y9, Y10, Y1
	VCVTPH2PS   (AX)(R11*1), Y11
	VFMADD231PS Y8, Y11, Y2
	VFMADD231PS Y9, Y11, Y3
	VCVTPH2PS   (R12), Y10
	VFMADD231PS Y8, Y10, Y4
	VFMADD231PS Y9, Y10, Y5
	VCVTPH2PS   (R12)(R11*1), Y11
	VFMADD231PS Y8, Y11, Y6
	VFMADD231PS Y9, Y11, Y7
	ADDQ        $16, AX
	ADDQ        $16, R12
	ADDQ        $32, DX
	SUBQ        $8, CX
	JNZ         F16q2chan

	VHADDPS      Y2, Y0, Y8
	VHADDPS      Y6, Y4, Y9
	VHADDPS      Y9, Y8, Y8
	VEXTRACTF128 $1, Y8, X9
	VADDPS       X9, X8, X8
	VMULPS       X15, X8, X8
	VMOVUPS      X8, (DI)
	VHADDPS      Y3, Y1, Y8
	VHADDPS      Y7, Y5, Y9
	VHADDPS      Y9, Y8, Y8
	VEXTRACTF128 $1, Y8, X9
	VADDPS       X9, X8, X8
	VMULPS       X15, X8, X8
	VMOVUPS      X8, (DI)(R8*1)
	ADDQ         $16, DI
	LEAQ         (SI)(R11*4), SI
	SUBQ         $4, BX
	JNZ          F16q2keys
	VZEROUPPER
	RET

// func dotsF16K4Q1AVX2(dst []float32, keys []uint16, n, w int, q []float32, scale float32)
//
// Four keys × one query, reduced as in dotsF16K4Q2AVX2.
TEXT ·dotsF16K4Q1AVX2(SB), NOSPLIT, $0-92
	MOVQ         dst_base+0(FP), DI
	MOVQ         keys_base+24(FP), SI
	MOVQ         n+48(FP), BX
	MOVQ         w+56(FP), R11
	MOVQ         R11, R13
	ANDQ         $-8, R13
	SHLQ         $1, R11
	MOVQ         q_base+64(FP), R9
	VBROADCASTSS scale+88(FP), Y15

F16q1keys:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ   R11, CX
	SHLQ   $2, CX

F16q1pf:
	SUBQ       $64, CX
	PREFETCHT1 6144(SI)(CX*1)
	JG         F16q1pf
	MOVQ       SI, AX
	LEAQ       (SI)(R11*2), R12
	MOVQ       R9, DX
	MOVQ       R13, CX

F16q1chan:
	VMOVUPS     (DX), Y8
	VCVTPH2PS   (AX), Y10
	VFMADD231PS Y8, Y10, Y0
	VCVTPH2PS   (AX)(R11*1), Y11
	VFMADD231PS Y8, Y11, Y1
	VCVTPH2PS   (R12), Y12
	VFMADD231PS Y8, Y12, Y2
	VCVTPH2PS   (R12)(R11*1), Y13
	VFMADD231PS Y8, Y13, Y3
	ADDQ        $16, AX
	ADDQ        $16, R12
	ADDQ        $32, DX
	SUBQ        $8, CX
	JNZ         F16q1chan

	VHADDPS      Y1, Y0, Y8
	VHADDPS      Y3, Y2, Y9
	VHADDPS      Y9, Y8, Y8
	VEXTRACTF128 $1, Y8, X9
	VADDPS       X9, X8, X8
	VMULPS       X15, X8, X8
	VMOVUPS      X8, (DI)
	ADDQ         $16, DI
	LEAQ         (SI)(R11*4), SI
	SUBQ         $4, BX
	JNZ          F16q1keys
	VZEROUPPER
	RET

// func dotsF16K1AVX2(dst []float32, keys []uint16, n, w int, q []float32, scale float32)
//
// One key × one query at a time, reduced as in dotsF16K4Q2AVX2 (VHADDPS of
// the accumulator with itself gives the same lanes).
TEXT ·dotsF16K1AVX2(SB), NOSPLIT, $0-92
	MOVQ         dst_base+0(FP), DI
	MOVQ         keys_base+24(FP), SI
	MOVQ         n+48(FP), BX
	MOVQ         w+56(FP), R11
	MOVQ         R11, R13
	ANDQ         $-8, R13
	SHLQ         $1, R11
	MOVQ         q_base+64(FP), R9
	VBROADCASTSS scale+88(FP), X15

F16k1keys:
	VXORPS Y0, Y0, Y0
	MOVQ   SI, AX
	MOVQ   R9, DX
	MOVQ   R13, CX

F16k1chan:
	VCVTPH2PS   (AX), Y10
	VFMADD231PS (DX), Y10, Y0
	ADDQ        $16, AX
	ADDQ        $32, DX
	SUBQ        $8, CX
	JNZ         F16k1chan

	VHADDPS      Y0, Y0, Y8
	VHADDPS      Y8, Y8, Y8
	VEXTRACTF128 $1, Y8, X9
	VADDPS       X9, X8, X8
	VMULSS       X15, X8, X8
	VMOVSS       X8, (DI)
	ADDQ         $4, DI
	ADDQ         R11, SI
	DECQ         BX
	JNZ          F16k1keys
	VZEROUPPER
	RET

// func accF16Q4AVX2(out []float32, ldo int, p []float32, ldp int, v []uint16, n, w int)
//
// Four outputs: per 16 channels (then 8), eight (four) accumulators loaded
// from out, one fused multiply-add per row in row order (two rows per
// iteration for 16 channels), stored back.
TEXT ·accF16Q4AVX2(SB), NOSPLIT, $0-104
	MOVQ out_base+0(FP), DI
	MOVQ ldo+24(FP), R8
	SHLQ $2, R8
	MOVQ p_base+32(FP), SI
	MOVQ ldp+56(FP), R9
	SHLQ $2, R9
	MOVQ v_base+64(FP), DX
	MOVQ w+96(FP), R10
	MOVQ R10, R11
	ANDQ $-8, R11
	SHLQ $1, R10
	XORQ CX, CX

F16a4c16:
	MOVQ    R11, AX
	SUBQ    CX, AX
	CMPQ    AX, $16
	JB      F16a4c8
	LEAQ    (DI)(CX*4), R12
	LEAQ    (R12)(R8*2), R13
	VMOVUPS (R12), Y0
	VMOVUPS 32(R12), Y1
	VMOVUPS (R12)(R8*1), Y2
	VMOVUPS 32(R12)(R8*1), Y3
	VMOVUPS (R13), Y4
	VMOVUPS 32(R13), Y5
	VMOVUPS (R13)(R8*1), Y6
	VMOVUPS 32(R13)(R8*1), Y7
	MOVQ    n+88(FP), BX
	LEAQ    (DX)(CX*2), AX
	MOVQ    SI, R12
	LEAQ    (SI)(R9*2), R13

F16a4r16:
	CMPQ         BX, $2
	JB           F16a4r16one
	PREFETCHT1   6144(AX)
	PREFETCHT1   6144(AX)(R10*1)
	VCVTPH2PS    (AX), Y8
	VCVTPH2PS    16(AX), Y9
	VBROADCASTSS (R12), Y10
	VFMADD231PS  Y8, Y10, Y0
	VFMADD231PS  Y9, Y10, Y1
	VBROADCASTSS (R12)(R9*1), Y11
	VFMADD231PS  Y8, Y11, Y2
	VFMADD231PS  Y9, Y11, Y3
	VBROADCASTSS (R13), Y12
	VFMADD231PS  Y8, Y12, Y4
	VFMADD231PS  Y9, Y12, Y5
	VBROADCASTSS (R13)(R9*1), Y13
	VFMADD231PS  Y8, Y13, Y6
	VFMADD231PS  Y9, Y13, Y7
	VCVTPH2PS    (AX)(R10*1), Y14
	VCVTPH2PS    16(AX)(R10*1), Y15
	VBROADCASTSS 4(R12), Y10
	VFMADD231PS  Y14, Y10, Y0
	VFMADD231PS  Y15, Y10, Y1
	VBROADCASTSS 4(R12)(R9*1), Y11
	VFMADD231PS  Y14, Y11, Y2
	VFMADD231PS  Y15, Y11, Y3
	VBROADCASTSS 4(R13), Y12
	VFMADD231PS  Y14, Y12, Y4
	VFMADD231PS  Y15, Y12, Y5
	VBROADCASTSS 4(R13)(R9*1), Y13
	VFMADD231PS  Y14, Y13, Y6
	VFMADD231PS  Y15, Y13, Y7
	LEAQ         (AX)(R10*2), AX
	ADDQ         $8, R12
	ADDQ         $8, R13
	SUBQ         $2, BX
	JMP          F16a4r16

F16a4r16one:
	TESTQ        BX, BX
	JZ           F16a4s16
	VCVTPH2PS    (AX), Y8
	VCVTPH2PS    16(AX), Y9
	VBROADCASTSS (R12), Y10
	VFMADD231PS  Y8, Y10, Y0
	VFMADD231PS  Y9, Y10, Y1
	VBROADCASTSS (R12)(R9*1), Y11
	VFMADD231PS  Y8, Y11, Y2
	VFMADD231PS  Y9, Y11, Y3
	VBROADCASTSS (R13), Y12
	VFMADD231PS  Y8, Y12, Y4
	VFMADD231PS  Y9, Y12, Y5
	VBROADCASTSS (R13)(R9*1), Y13
	VFMADD231PS  Y8, Y13, Y6
	VFMADD231PS  Y9, Y13, Y7

F16a4s16:
	LEAQ    (DI)(CX*4), R12
	LEAQ    (R12)(R8*2), R13
	VMOVUPS Y0, (R12)
	VMOVUPS Y1, 32(R12)
	VMOVUPS Y2, (R12)(R8*1)
	VMOVUPS Y3, 32(R12)(R8*1)
	VMOVUPS Y4, (R13)
	VMOVUPS Y5, 32(R13)
	VMOVUPS Y6, (R13)(R8*1)
	VMOVUPS Y7, 32(R13)(R8*1)
	ADDQ    $16, CX
	JMP     F16a4c16

F16a4c8:
	CMPQ    AX, $8
	JB      F16a4done
	LEAQ    (DI)(CX*4), R12
	LEAQ    (R12)(R8*2), R13
	VMOVUPS (R12), Y0
	VMOVUPS (R12)(R8*1), Y2
	VMOVUPS (R13), Y4
	VMOVUPS (R13)(R8*1), Y6
	MOVQ    n+88(FP), BX
	LEAQ    (DX)(CX*2), AX
	MOVQ    SI, R12
	LEAQ    (SI)(R9*2), R13

F16a4r8:
	VCVTPH2PS    (AX), Y8
	VBROADCASTSS (R12), Y10
	VFMADD231PS  Y8, Y10, Y0
	VBROADCASTSS (R12)(R9*1), Y11
	VFMADD231PS  Y8, Y11, Y2
	VBROADCASTSS (R13), Y12
	VFMADD231PS  Y8, Y12, Y4
	VBROADCASTSS (R13)(R9*1), Y13
	VFMADD231PS  Y8, Y13, Y6
	ADDQ         R10, AX
	ADDQ         $4, R12
	ADDQ         $4, R13
	DECQ         BX
	JNZ          F16a4r8

	LEAQ    (DI)(CX*4), R12
	LEAQ    (R12)(R8*2), R13
	VMOVUPS Y0, (R12)
	VMOVUPS Y2, (R12)(R8*1)
	VMOVUPS Y4, (R13)
	VMOVUPS Y6, (R13)(R8*1)

F16a4done:
	VZEROUPPER
	RET

// func accF16Q1AVX2(out []float32, p []float32, v []uint16, n, w int)
//
// One output: per 32 channels (then 8), accumulated as in accF16Q4AVX2.
TEXT ·accF16Q1AVX2(SB), NOSPLIT, $0-88
	MOVQ out_base+0(FP), DI
	MOVQ p_base+24(FP), SI
	MOVQ v_base+48(FP), DX
	MOVQ w+80(FP), R10
	MOVQ R10, R11
	ANDQ $-8, R11
	SHLQ $1, R10
	XORQ CX, CX

F16a1c32:
	MOVQ    R11, AX
	SUBQ    CX, AX
	CMPQ    AX, $32
	JB      F16a1c8
	LEAQ    (DI)(CX*4), R12
	VMOVUPS (R12), Y0
	VMOVUPS 32(R12), Y1
	VMOVUPS 64(R12), Y2
	VMOVUPS 96(R12), Y3
	MOVQ    n+72(FP), BX
	LEAQ    (DX)(CX*2), AX
	MOVQ    SI, R13

F16a1r32:
	PREFETCHT1   6144(AX)
	VBROADCASTSS (R13), Y10
	VCVTPH2PS    (AX), Y8
	VFMADD231PS  Y8, Y10, Y0
	VCVTPH2PS    16(AX), Y9
	VFMADD231PS  Y9, Y10, Y1
	VCVTPH2PS    32(AX), Y8
	VFMADD231PS  Y8, Y10, Y2
	VCVTPH2PS    48(AX), Y9
	VFMADD231PS  Y9, Y10, Y3
	ADDQ         R10, AX
	ADDQ         $4, R13
	DECQ         BX
	JNZ          F16a1r32

	VMOVUPS Y0, (R12)
	VMOVUPS Y1, 32(R12)
	VMOVUPS Y2, 64(R12)
	VMOVUPS Y3, 96(R12)
	ADDQ    $32, CX
	JMP     F16a1c32

F16a1c8:
	MOVQ    R11, AX
	SUBQ    CX, AX
	CMPQ    AX, $8
	JB      F16a1done
	LEAQ    (DI)(CX*4), R12
	VMOVUPS (R12), Y0
	MOVQ    n+72(FP), BX
	LEAQ    (DX)(CX*2), AX
	MOVQ    SI, R13

F16a1r8:
	VBROADCASTSS (R13), Y10
	VCVTPH2PS    (AX), Y8
	VFMADD231PS  Y8, Y10, Y0
	ADDQ         R10, AX
	ADDQ         $4, R13
	DECQ         BX
	JNZ          F16a1r8

	VMOVUPS Y0, (R12)
	ADDQ    $8, CX
	JMP     F16a1c8

F16a1done:
	VZEROUPPER
	RET

// func dotsF32K4Q2AVX2(dst []float32, ldd int, keys []float32, n, w int, q []float32, scale float32)
//
// Four keys × two queries: eight accumulators, one per pair, each summing
// its channels in eight lanes; then four pairs at a time are reduced by
// VHADDPS, ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7)) for every pair, as in the
// other tiles.
TEXT ·dotsF32K4Q2AVX2(SB), NOSPLIT, $0-100
	MOVQ         dst_base+0(FP), DI
	MOVQ         ldd+24(FP), R8
	SHLQ         $2, R8
	MOVQ         keys_base+32(FP), SI
	MOVQ         n+56(FP), BX
	MOVQ         w+64(FP), R11
	MOVQ         R11, R13
	ANDQ         $-8, R13
	MOVQ         R11, R10
	SHLQ         $2, R10
	SHLQ         $2, R11
	MOVQ         q_base+72(FP), R9
	VBROADCASTSS scale+96(FP), Y15

F32q2keys:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ   SI, AX
	LEAQ   (SI)(R11*2), R12
	MOVQ   R9, DX
	MOVQ   R13, CX

F32q2chan:
	VMOVUPS     (DX), Y8
	VMOVUPS     (DX)(R10*1), Y9
	VMOVUPS     (AX), Y10
	VFMADD231PS Y8, Y10, Y0
	VFMADD231PS Y9, Y10, Y1
	VMOVUPS     (AX)(R11*1), Y11
	VFMADD231PS Y8, Y11, Y2
	VFMADD231PS Y9, Y11, Y3
	VMOVUPS     (R12), Y10
	VFMADD231PS Y8, Y10, Y4
	VFMADD231PS Y9, Y10, Y5
	VMOVUPS     (R12)(R11*1), Y11
	VFMADD231PS Y8, Y11, Y6
	VFMADD231PS Y9, Y11, Y7
	ADDQ        $32, AX
	ADDQ        $32, R12
	ADDQ        $32, DX
	SUBQ        $8, CX
	JNZ         F32q2chan

	VHADDPS      Y2, Y0, Y8
	VHADDPS      Y6, Y4, Y9
	VHADDPS      Y9, Y8, Y8
	VEXTRACTF128 $1, Y8, X9
	VADDPS       X9, X8, X8
	VMULPS       X15, X8, X8
	VMOVUPS      X8, (DI)
	VHADDPS      Y3, Y1, Y8
	VHADDPS      Y7, Y5, Y9
	VHADDPS      Y9, Y8, Y8
	VEXTRACTF128 $1, Y8, X9
	VADDPS       X9, X8, X8
	VMULPS       X15, X8, X8
	VMOVUPS      X8, (DI)(R8*1)
	ADDQ         $16, DI
	LEAQ         (SI)(R11*4), SI
	SUBQ         $4, BX
	JNZ          F32q2keys
	VZEROUPPER
	RET

// func dotsF32K4Q1AVX2(dst []float32, keys []float32, n, w int, q []float32, scale float32)
//
// Four keys × one query, reduced as in dotsF32K4Q2AVX2.
TEXT ·dotsF32K4Q1AVX2(SB), NOSPLIT, $0-92
	MOVQ         dst_base+0(FP), DI
	MOVQ         keys_base+24(FP), SI
	MOVQ         n+48(FP), BX
	MOVQ         w+56(FP), R11
	MOVQ         R11, R13
	ANDQ         $-8, R13
	SHLQ         $2, R11
	MOVQ         q_base+64(FP), R9
	VBROADCASTSS scale+88(FP), Y15

F32q1keys:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ   SI, AX
	LEAQ   (SI)(R11*2), R12
	MOVQ   R9, DX
	MOVQ   R13, CX

F32q1chan:
	VMOVUPS     (DX), Y8
	VMOVUPS     (AX), Y10
	VFMADD231PS Y8, Y10, Y0
	VMOVUPS     (AX)(R11*1), Y11
	VFMADD231PS Y8, Y11, Y1
	VMOVUPS     (R12), Y12
	VFMADD231PS Y8, Y12, Y2
	VMOVUPS     (R12)(R11*1), Y13
	VFMADD231PS Y8, Y13, Y3
	ADDQ        $32, AX
	ADDQ        $32, R12
	ADDQ        $32, DX
	SUBQ        $8, CX
	JNZ         F32q1chan

	VHADDPS      Y1, Y0, Y8
	VHADDPS      Y3, Y2, Y9
	VHADDPS      Y9, Y8, Y8
	VEXTRACTF128 $1, Y8, X9
	VADDPS       X9, X8, X8
	VMULPS       X15, X8, X8
	VMOVUPS      X8, (DI)
	ADDQ         $16, DI
	LEAQ         (SI)(R11*4), SI
	SUBQ         $4, BX
	JNZ          F32q1keys
	VZEROUPPER
	RET

// func dotsF32K1AVX2(dst []float32, keys []float32, n, w int, q []float32, scale float32)
//
// One key × one query at a time, reduced as in dotsF32K4Q2AVX2 (VHADDPS of
// the accumulator with itself gives the same lanes).
TEXT ·dotsF32K1AVX2(SB), NOSPLIT, $0-92
	MOVQ         dst_base+0(FP), DI
	MOVQ         keys_base+24(FP), SI
	MOVQ         n+48(FP), BX
	MOVQ         w+56(FP), R11
	MOVQ         R11, R13
	ANDQ         $-8, R13
	SHLQ         $2, R11
	MOVQ         q_base+64(FP), R9
	VBROADCASTSS scale+88(FP), X15

F32k1keys:
	VXORPS Y0, Y0, Y0
	MOVQ   SI, AX
	MOVQ   R9, DX
	MOVQ   R13, CX

F32k1chan:
	VMOVUPS     (AX), Y10
	VFMADD231PS (DX), Y10, Y0
	ADDQ        $32, AX
	ADDQ        $32, DX
	SUBQ        $8, CX
	JNZ         F32k1chan

	VHADDPS      Y0, Y0, Y8
	VHADDPS      Y8, Y8, Y8
	VEXTRACTF128 $1, Y8, X9
	VADDPS       X9, X8, X8
	VMULSS       X15, X8, X8
	VMOVSS       X8, (DI)
	ADDQ         $4, DI
	ADDQ         R11, SI
	DECQ         BX
	JNZ          F32k1keys
	VZEROUPPER
	RET

// func accF32Q4AVX2(out []float32, ldo int, p []float32, ldp int, v []float32, n, w int)
//
// Four outputs: per 16 channels (then 8), eight (four) accumulators loaded
// from out, one fused multiply-add per row in row order (two rows per
// iteration for 16 channels), stored back.
TEXT ·accF32Q4AVX2(SB), NOSPLIT, $0-104
	MOVQ out_base+0(FP), DI
	MOVQ ldo+24(FP), R8
	SHLQ $2, R8
	MOVQ p_base+32(FP), SI
	MOVQ ldp+56(FP), R9
	SHLQ $2, R9
	MOVQ v_base+64(FP), DX
	MOVQ w+96(FP), R10
	MOVQ R10, R11
	ANDQ $-8, R11
	SHLQ $2, R10
	XORQ CX, CX

F32a4c16:
	MOVQ    R11, AX
	SUBQ    CX, AX
	CMPQ    AX, $16
	JB      F32a4c8
	LEAQ    (DI)(CX*4), R12
	LEAQ    (R12)(R8*2), R13
	VMOVUPS (R12), Y0
	VMOVUPS 32(R12), Y1
	VMOVUPS (R12)(R8*1), Y2
	VMOVUPS 32(R12)(R8*1), Y3
	VMOVUPS (R13), Y4
	VMOVUPS 32(R13), Y5
	VMOVUPS (R13)(R8*1), Y6
	VMOVUPS 32(R13)(R8*1), Y7
	MOVQ    n+88(FP), BX
	LEAQ    (DX)(CX*4), AX
	MOVQ    SI, R12
	LEAQ    (SI)(R9*2), R13

F32a4r16:
	CMPQ         BX, $2
	JB           F32a4r16one
	VMOVUPS      (AX), Y8
	VMOVUPS      32(AX), Y9
	VBROADCASTSS (R12), Y10
	VFMADD231PS  Y8, Y10, Y0
	VFMADD231PS  Y9, Y10, Y1
	VBROADCASTSS (R12)(R9*1), Y11
	VFMADD231PS  Y8, Y11, Y2
	VFMADD231PS  Y9, Y11, Y3
	VBROADCASTSS (R13), Y12
	VFMADD231PS  Y8, Y12, Y4
	VFMADD231PS  Y9, Y12, Y5
	VBROADCASTSS (R13)(R9*1), Y13
	VFMADD231PS  Y8, Y13, Y6
	VFMADD231PS  Y9, Y13, Y7
	VMOVUPS      (AX)(R10*1), Y14
	VMOVUPS      32(AX)(R10*1), Y15
	VBROADCASTSS 4(R12), Y10
	VFMADD231PS  Y14, Y10, Y0
	VFMADD231PS  Y15, Y10, Y1
	VBROADCASTSS 4(R12)(R9*1), Y11
	VFMADD231PS  Y14, Y11, Y2
	VFMADD231PS  Y15, Y11, Y3
	VBROADCASTSS 4(R13), Y12
	VFMADD231PS  Y14, Y12, Y4
	VFMADD231PS  Y15, Y12, Y5
	VBROADCASTSS 4(R13)(R9*1), Y13
	VFMADD231PS  Y14, Y13, Y6
	VFMADD231PS  Y15, Y13, Y7
	LEAQ         (AX)(R10*2), AX
	ADDQ         $8, R12
	ADDQ         $8, R13
	SUBQ         $2, BX
	JMP          F32a4r16

F32a4r16one:
	TESTQ        BX, BX
	JZ           F32a4s16
	VMOVUPS      (AX), Y8
	VMOVUPS      32(AX), Y9
	VBROADCASTSS (R12), Y10
	VFMADD231PS  Y8, Y10, Y0
	VFMADD231PS  Y9, Y10, Y1
	VBROADCASTSS (R12)(R9*1), Y11
	VFMADD231PS  Y8, Y11, Y2
	VFMADD231PS  Y9, Y11, Y3
	VBROADCASTSS (R13), Y12
	VFMADD231PS  Y8, Y12, Y4
	VFMADD231PS  Y9, Y12, Y5
	VBROADCASTSS (R13)(R9*1), Y13
	VFMADD231PS  Y8, Y13, Y6
	VFMADD231PS  Y9, Y13, Y7

F32a4s16:
	LEAQ    (DI)(CX*4), R12
	LEAQ    (R12)(R8*2), R13
	VMOVUPS Y0, (R12)
	VMOVUPS Y1, 32(R12)
	VMOVUPS Y2, (R12)(R8*1)
	VMOVUPS Y3, 32(R12)(R8*1)
	VMOVUPS Y4, (R13)
	VMOVUPS Y5, 32(R13)
	VMOVUPS Y6, (R13)(R8*1)
	VMOVUPS Y7, 32(R13)(R8*1)
	ADDQ    $16, CX
	JMP     F32a4c16

F32a4c8:
	CMPQ    AX, $8
	JB      F32a4done
	LEAQ    (DI)(CX*4), R12
	LEAQ    (R12)(R8*2), R13
	VMOVUPS (R12), Y0
	VMOVUPS (R12)(R8*1), Y2
	VMOVUPS (R13), Y4
	VMOVUPS (R13)(R8*1), Y6
	MOVQ    n+88(FP), BX
	LEAQ    (DX)(CX*4), AX
	MOVQ    SI, R12
	LEAQ    (SI)(R9*2), R13

F32a4r8:
	VMOVUPS      (AX), Y8
	VBROADCASTSS (R12), Y10
	VFMADD231PS  Y8, Y10, Y0
	VBROADCASTSS (R12)(R9*1), Y11
	VFMADD231PS  Y8, Y11, Y2
	VBROADCASTSS (R13), Y12
	VFMADD231PS  Y8, Y12, Y4
	VBROADCASTSS (R13)(R9*1), Y13
	VFMADD231PS  Y8, Y13, Y6
	ADDQ         R10, AX
	ADDQ         $4, R12
	ADDQ         $4, R13
	DECQ         BX
	JNZ          F32a4r8

	LEAQ    (DI)(CX*4), R12
	LEAQ    (R12)(R8*2), R13
	VMOVUPS Y0, (R12)
	VMOVUPS Y2, (R12)(R8*1)
	VMOVUPS Y4, (R13)
	VMOVUPS Y6, (R13)(R8*1)

F32a4done:
	VZEROUPPER
	RET

// func accF32Q1AVX2(out []float32, p []float32, v []float32, n, w int)
//
// One output: per 32 channels (then 8), accumulated as in accF32Q4AVX2.
TEXT ·accF32Q1AVX2(SB), NOSPLIT, $0-88
	MOVQ out_base+0(FP), DI
	MOVQ p_base+24(FP), SI
	MOVQ v_base+48(FP), DX
	MOVQ w+80(FP), R10
	MOVQ R10, R11
	ANDQ $-8, R11
	SHLQ $2, R10
	XORQ CX, CX

F32a1c32:
	MOVQ    R11, AX
	SUBQ    CX, AX
	CMPQ    AX, $32
	JB      F32a1c8
	LEAQ    (DI)(CX*4), R12
	VMOVUPS (R12), Y0
	VMOVUPS 32(R12), Y1
	VMOVUPS 64(R12), Y2
	VMOVUPS 96(R12), Y3
	MOVQ    n+72(FP), BX
	LEAQ    (DX)(CX*4), AX
	MOVQ    SI, R13

F32a1r32:
	VBROADCASTSS (R13), Y10
	VMOVUPS      (AX), Y8
	VFMADD231PS  Y8, Y10, Y0
	VMOVUPS      32(AX), Y9
	VFMADD231PS  Y9, Y10, Y1
	VMOVUPS      64(AX), Y8
	VFMADD231PS  Y8, Y10, Y2
	VMOVUPS      96(AX), Y9
	VFMADD231PS  Y9, Y10, Y3
	ADDQ         R10, AX
	ADDQ         $4, R13
	DECQ         BX
	JNZ          F32a1r32

	VMOVUPS Y0, (R12)
	VMOVUPS Y1, 32(R12)
	VMOVUPS Y2, 64(R12)
	VMOVUPS Y3, 96(R12)
	ADDQ    $32, CX
	JMP     F32a1c32

F32a1c8:
	MOVQ    R11, AX
	SUBQ    CX, AX
	CMPQ    AX, $8
	JB      F32a1done
	LEAQ    (DI)(CX*4), R12
	VMOVUPS (R12), Y0
	MOVQ    n+72(FP), BX
	LEAQ    (DX)(CX*4), AX
	MOVQ    SI, R13

F32a1r8:
	VBROADCASTSS (R13), Y10
	VMOVUPS      (AX), Y8
	VFMADD231PS  Y8, Y10, Y0
	ADDQ         R10, AX
	ADDQ         $4, R13
	DECQ         BX
	JNZ          F32a1r8

	VMOVUPS Y0, (R12)
	ADDQ    $8, CX
	JMP     F32a1c8

F32a1done:
	VZEROUPPER
	RET

// Constants of expShiftAVX2, eight lanes each (see Exp in attn.go).
DATA expLog2e<>+0(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA expLog2e<>+8(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA expLog2e<>+16(SB)/8, $0x3fb8aa3b3fb8aa3b
DATA expLog2e<>+24(SB)/8, $0x3fb8aa3b3fb8aa3b
GLOBL expLog2e<>(SB), RODATA|NOPTR, $32
DATA expC1<>+0(SB)/8, $0x3f3180003f318000
DATA expC1<>+8(SB)/8, $0x3f3180003f318000
DATA expC1<>+16(SB)/8, $0x3f3180003f318000
DATA expC1<>+24(SB)/8, $0x3f3180003f318000
GLOBL expC1<>(SB), RODATA|NOPTR, $32
DATA expC2<>+0(SB)/8, $0xb95e8083b95e8083
DATA expC2<>+8(SB)/8, $0xb95e8083b95e8083
DATA expC2<>+16(SB)/8, $0xb95e8083b95e8083
DATA expC2<>+24(SB)/8, $0xb95e8083b95e8083
GLOBL expC2<>(SB), RODATA|NOPTR, $32
DATA expP0<>+0(SB)/8, $0x3950696739506967
DATA expP0<>+8(SB)/8, $0x3950696739506967
DATA expP0<>+16(SB)/8, $0x3950696739506967
DATA expP0<>+24(SB)/8, $0x3950696739506967
GLOBL expP0<>(SB), RODATA|NOPTR, $32
DATA expP1<>+0(SB)/8, $0x3ab743ce3ab743ce
DATA expP1<>+8(SB)/8, $0x3ab743ce3ab743ce
DATA expP1<>+16(SB)/8, $0x3ab743ce3ab743ce
DATA expP1<>+24(SB)/8, $0x3ab743ce3ab743ce
GLOBL expP1<>(SB), RODATA|NOPTR, $32
DATA expP2<>+0(SB)/8, $0x3c0889083c088908
DATA expP2<>+8(SB)/8, $0x3c0889083c088908
DATA expP2<>+16(SB)/8, $0x3c0889083c088908
DATA expP2<>+24(SB)/8, $0x3c0889083c088908
GLOBL expP2<>(SB), RODATA|NOPTR, $32
DATA expP3<>+0(SB)/8, $0x3d2aa9c13d2aa9c1
DATA expP3<>+8(SB)/8, $0x3d2aa9c13d2aa9c1
DATA expP3<>+16(SB)/8, $0x3d2aa9c13d2aa9c1
DATA expP3<>+24(SB)/8, $0x3d2aa9c13d2aa9c1
GLOBL expP3<>(SB), RODATA|NOPTR, $32
DATA expP4<>+0(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA expP4<>+8(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA expP4<>+16(SB)/8, $0x3e2aaaaa3e2aaaaa
DATA expP4<>+24(SB)/8, $0x3e2aaaaa3e2aaaaa
GLOBL expP4<>(SB), RODATA|NOPTR, $32
DATA expP5<>+0(SB)/8, $0x3f0000003f000000
DATA expP5<>+8(SB)/8, $0x3f0000003f000000
DATA expP5<>+16(SB)/8, $0x3f0000003f000000
DATA expP5<>+24(SB)/8, $0x3f0000003f000000
GLOBL expP5<>(SB), RODATA|NOPTR, $32
DATA expOne<>+0(SB)/8, $0x3f8000003f800000
DATA expOne<>+8(SB)/8, $0x3f8000003f800000
DATA expOne<>+16(SB)/8, $0x3f8000003f800000
DATA expOne<>+24(SB)/8, $0x3f8000003f800000
GLOBL expOne<>(SB), RODATA|NOPTR, $32
DATA expLo<>+0(SB)/8, $0xc2aeac4fc2aeac4f
DATA expLo<>+8(SB)/8, $0xc2aeac4fc2aeac4f
DATA expLo<>+16(SB)/8, $0xc2aeac4fc2aeac4f
DATA expLo<>+24(SB)/8, $0xc2aeac4fc2aeac4f
GLOBL expLo<>(SB), RODATA|NOPTR, $32
DATA expHi<>+0(SB)/8, $0x42b0c09d42b0c09d
DATA expHi<>+8(SB)/8, $0x42b0c09d42b0c09d
DATA expHi<>+16(SB)/8, $0x42b0c09d42b0c09d
DATA expHi<>+24(SB)/8, $0x42b0c09d42b0c09d
GLOBL expHi<>(SB), RODATA|NOPTR, $32
DATA expInf<>+0(SB)/8, $0x7f8000007f800000
DATA expInf<>+8(SB)/8, $0x7f8000007f800000
DATA expInf<>+16(SB)/8, $0x7f8000007f800000
DATA expInf<>+24(SB)/8, $0x7f8000007f800000
GLOBL expInf<>(SB), RODATA|NOPTR, $32
DATA expBias<>+0(SB)/8, $0x0000007f0000007f
DATA expBias<>+8(SB)/8, $0x0000007f0000007f
DATA expBias<>+16(SB)/8, $0x0000007f0000007f
DATA expBias<>+24(SB)/8, $0x0000007f0000007f
GLOBL expBias<>(SB), RODATA|NOPTR, $32

// func expShiftAVX2(x []float32, shift float32) float32
//
// x[i] = e^(x[i]−shift), eight at a time (len(x) is a multiple of 8), as
// Exp computes it with fused multiply-adds, two vectors in flight while 16
// or more remain; the sum is kept in eight lanes, added in order, and
// reduced pairwise.
TEXT ·expShiftAVX2(SB), NOSPLIT, $0-36
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	VBROADCASTSS shift+24(FP), Y15
	VMOVUPS      expLo<>(SB), Y14
	VMOVUPS      expHi<>(SB), Y13
	VXORPS       Y12, Y12, Y12
exp16:
	CMPQ         CX, $16
	JB           exp8
	VMOVUPS      0(SI), Y0
	VMOVUPS      32(SI), Y6
	VSUBPS       Y15, Y0, Y0
	VSUBPS       Y15, Y6, Y6
	VMAXPS       Y0, Y14, Y1
	VMAXPS       Y6, Y14, Y7
	VMINPS       Y1, Y13, Y1
	VMINPS       Y7, Y13, Y7
	VMULPS       expLog2e<>(SB), Y1, Y2
	VMULPS       expLog2e<>(SB), Y7, Y8
	VROUNDPS     $0, Y2, Y2
	VROUNDPS     $0, Y8, Y8
	VFNMADD231PS expC1<>(SB), Y2, Y1
	VFNMADD231PS expC1<>(SB), Y8, Y7
	VFNMADD231PS expC2<>(SB), Y2, Y1
	VFNMADD231PS expC2<>(SB), Y8, Y7
	VMOVUPS      expP0<>(SB), Y3
	VMOVUPS      expP0<>(SB), Y9
	VFMADD213PS  expP1<>(SB), Y1, Y3
	VFMADD213PS  expP1<>(SB), Y7, Y9
	VFMADD213PS  expP2<>(SB), Y1, Y3
	VFMADD213PS  expP2<>(SB), Y7, Y9
	VFMADD213PS  expP3<>(SB), Y1, Y3
	VFMADD213PS  expP3<>(SB), Y7, Y9
	VFMADD213PS  expP4<>(SB), Y1, Y3
	VFMADD213PS  expP4<>(SB), Y7, Y9
	VFMADD213PS  expP5<>(SB), Y1, Y3
	VFMADD213PS  expP5<>(SB), Y7, Y9
	VMULPS       Y1, Y1, Y4
	VMULPS       Y7, Y7, Y10
	VFMADD213PS  Y1, Y4, Y3
	VFMADD213PS  Y7, Y10, Y9
	VADDPS       expOne<>(SB), Y3, Y3
	VADDPS       expOne<>(SB), Y9, Y9
	VCVTPS2DQ    Y2, Y5
	VCVTPS2DQ    Y8, Y11
	VPADDD       expBias<>(SB), Y5, Y5
	VPADDD       expBias<>(SB), Y11, Y11
	VPSLLD       $23, Y5, Y5
	VPSLLD       $23, Y11, Y11
	VMULPS       Y5, Y3, Y3
	VMULPS       Y11, Y9, Y9
	VCMPPS       $1, Y14, Y0, Y1
	VCMPPS       $1, Y14, Y6, Y7
	VANDNPS      Y3, Y1, Y3
	VANDNPS      Y9, Y7, Y9
	VCMPPS       $0x1e, Y13, Y0, Y1
	VCMPPS       $0x1e, Y13, Y6, Y7
	VBLENDVPS    Y1, expInf<>(SB), Y3, Y3
	VBLENDVPS    Y7, expInf<>(SB), Y9, Y9
	VMOVUPS      Y3, 0(SI)
	VMOVUPS      Y9, 32(SI)
	VADDPS       Y3, Y12, Y12
	VADDPS       Y9, Y12, Y12
	ADDQ         $64, SI
	SUBQ         $16, CX
	JMP          exp16

exp8:
	TESTQ        CX, CX
	JZ           expsum
	VMOVUPS      0(SI), Y0
	VSUBPS       Y15, Y0, Y0
	VMAXPS       Y0, Y14, Y1
	VMINPS       Y1, Y13, Y1
	VMULPS       expLog2e<>(SB), Y1, Y2
	VROUNDPS     $0, Y2, Y2
	VFNMADD231PS expC1<>(SB), Y2, Y1
	VFNMADD231PS expC2<>(SB), Y2, Y1
	VMOVUPS      expP0<>(SB), Y3
	VFMADD213PS  expP1<>(SB), Y1, Y3
	VFMADD213PS  expP2<>(SB), Y1, Y3
	VFMADD213PS  expP3<>(SB), Y1, Y3
	VFMADD213PS  expP4<>(SB), Y1, Y3
	VFMADD213PS  expP5<>(SB), Y1, Y3
	VMULPS       Y1, Y1, Y4
	VFMADD213PS  Y1, Y4, Y3
	VADDPS       expOne<>(SB), Y3, Y3
	VCVTPS2DQ    Y2, Y5
	VPADDD       expBias<>(SB), Y5, Y5
	VPSLLD       $23, Y5, Y5
	VMULPS       Y5, Y3, Y3
	VCMPPS       $1, Y14, Y0, Y1
	VANDNPS      Y3, Y1, Y3
	VCMPPS       $0x1e, Y13, Y0, Y1
	VBLENDVPS    Y1, expInf<>(SB), Y3, Y3
	VMOVUPS      Y3, 0(SI)
	VADDPS       Y3, Y12, Y12

expsum:
	VHADDPS      Y12, Y12, Y0
	VHADDPS      Y0, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVSS       X0, ret+32(FP)
	VZEROUPPER
	RET


// func maxAVX2(x []float32) float32
//
// The largest element, eight lanes at a time (len(x) is a multiple of 8).
TEXT ·maxAVX2(SB), NOSPLIT, $0-28
	MOVQ    x_base+0(FP), SI
	MOVQ    x_len+8(FP), CX
	VMOVUPS (SI), Y0
	ADDQ    $32, SI
	SUBQ    $8, CX
	JZ      maxdone

maxloop:
	VMAXPS (SI), Y0, Y0
	ADDQ   $32, SI
	SUBQ   $8, CX
	JNZ    maxloop

maxdone:
	VEXTRACTF128 $1, Y0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0x4e, X0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0xb1, X0, X1
	VMAXSS       X1, X0, X0
	VMOVSS       X0, ret+24(FP)
	VZEROUPPER
	RET

// func scaleAVX2(x []float32, a float32)
//
// x *= a, eight at a time (len(x) is a multiple of 8).
TEXT ·scaleAVX2(SB), NOSPLIT, $0-28
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	VBROADCASTSS a+24(FP), Y1

scaleloop:
	VMULPS  (SI), Y1, Y0
	VMOVUPS Y0, (SI)
	ADDQ    $32, SI
	SUBQ    $8, CX
	JNZ     scaleloop
	VZEROUPPER
	RET
