//go:build !amd64 || purego

package kernels

func detectVNNI() bool { return false }

// q8KernelsFor returns nil: builds without assembly use the plain-Go
// products.
func q8KernelsFor(DType) *q8Kernels { return nil }
