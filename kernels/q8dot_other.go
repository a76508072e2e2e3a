//go:build !amd64 || purego

package kernels

func detectVNNI() bool { return false }

// q8KernelsFor returns nil: builds without assembly use the plain-Go
// products.
func q8KernelsFor(DType) *q8Kernels { return nil }

// packedKernelsFor returns nil: builds without assembly multiply the
// unpacked rows in plain Go.
func packedKernelsFor(DType) *packedKernels { return nil }

// quantizeQ8Blocks is never called where there is no assembly (useAVX2 is
// false).
func quantizeQ8Blocks([]int8, []float32, []actBlock, []float32, int) int {
	panic(noAsm)
}
