//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

// detectAVX512 reports whether the CPU and OS support the AVX-512
// attention kernels: AVX512F and AVX512VL besides AVX2, FMA and F16C.
func detectAVX512() bool {
	return detectAVX2() && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL
}

// The AVX-512 attention kernels in attn512_amd64.s. Callers check the
// lengths as for the AVX2 ones (attn_amd64.go); dotsF16K4Q4AVX512 takes n a
// multiple of 4, w a multiple of 16 and 1 ≤ mq ≤ 4.
//
// Like the AVX2 ones, they ask for the key and value rows 6,144 bytes on
// (PREFETCHT1, into L2) as they go: a head's rows are contiguous, so that
// is a later tile of the same block or the next block's. On a
// TinyLlama-shaped cache of 4,096 tokens (90 MB, out of the CPU's caches,
// two threads) a decode step's attention took 15-17% less time than with
// none; 2,048 bytes on 5%, 8,192 9% (one process, alternating).

//go:noescape
func accF16Q4AVX512(out []float32, ldo int, p []float32, ldp int, v []uint16, n, w int)

//go:noescape
func accF16Q1AVX512(out []float32, ldo int, p []float32, ldp int, v []uint16, n, w int)

//go:noescape
func dotsF16K4Q4AVX512(dst []float32, ldd int, keys []uint16, n, w int, q []float32, mq int, scale float32)

//go:noescape
func expShiftAVX512(x []float32, shift float32) float32
