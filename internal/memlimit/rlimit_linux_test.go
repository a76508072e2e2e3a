package memlimit

import (
	"os"
	"syscall"
	"testing"
)

// TestAddressSpace sets a real RLIMIT_AS on this process for a moment: the
// bound read is that limit less VmSize, which the process then maps.
func TestAddressSpace(t *testing.T) {
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &old); err != nil {
		t.Fatal(err)
	}
	vm := func() int64 {
		f, err := os.Open("/proc/self/status")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		n, _ := parseVmSize(f)
		return n
	}
	lim := uint64(vm()) + 64<<30
	if old.Cur < lim {
		t.Skipf("soft RLIMIT_AS %d already below the test's", old.Cur)
	}
	set := old
	set.Cur = lim
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &set); err != nil {
		t.Skip(err)
	}
	before := vm()
	l, ok := addressSpace()
	after := vm()
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &old); err != nil {
		t.Fatal(err)
	}
	if !ok || !l.AddressSpace || l.Max != int64(lim) || l.Used < before || l.Used > after || l.Bytes != l.Max-l.Used {
		t.Fatalf("limit %+v (ok %v), want Max %d and Used in [%d, %d]", l, ok, lim, before, after)
	}
	if old.Cur >= 1<<62 {
		if _, ok := addressSpace(); ok {
			t.Fatal("no limit, yet one was read")
		}
	}
	found := false
	for _, r := range Read() {
		found = found || r.Source == "MemAvailable" && r.Bytes > 0
	}
	if !found {
		t.Fatal("Read found no MemAvailable on Linux")
	}
}
