package kernels

import "syscall"

// hugeBytes returns n zero bytes in an anonymous mapping that starts at a
// multiple of 2 MiB and is advised for transparent huge pages, so that
// streaming packed weights walks few pages (and the hardware prefetchers,
// which stop at page boundaries, run on), and the function that unmaps it;
// nil when the mapping fails.
func hugeBytes(n int) ([]byte, func()) {
	const huge = 2 << 20
	b, err := syscall.Mmap(-1, 0, n+huge, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, nil
	}
	off := int(-uintptrOf(b) & (huge - 1))
	syscall.Madvise(b[off:off+n], syscall.MADV_HUGEPAGE) // advice only: a refusal leaves small pages
	return b[off : off+n : off+n], func() { syscall.Munmap(b) }
}
