//go:build !linux

package kernels

// hugeBytes returns nil where this package has no huge-page allocation:
// packed weights then live in the Go heap.
func hugeBytes(int) ([]byte, func()) { return nil, nil }
