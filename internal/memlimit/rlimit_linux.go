package memlimit

import (
	"os"
	"syscall"
)

// addressSpace returns RLIMIT_AS less VmSize, if a limit is set.
func addressSpace() (Limit, bool) {
	var r syscall.Rlimit
	// RLIM_INFINITY is all ones; anything near it is no limit either.
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &r); err != nil || r.Cur >= 1<<62 {
		return Limit{}, false
	}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return Limit{}, false
	}
	defer f.Close()
	used, ok := parseVmSize(f)
	if !ok {
		return Limit{}, false
	}
	limit := int64(r.Cur)
	return Limit{Source: "RLIMIT_AS", Bytes: max(0, limit-used), Max: limit, Used: used, AddressSpace: true}, true
}
