package mmap

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// residentKB returns the Rss line of /proc/self/smaps for the mapping that
// starts at addr.
func residentKB(t *testing.T, addr uintptr) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		if fields := strings.Fields(line); len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			start, _, _ := strings.Cut(fields[0], "-")
			a, err := strconv.ParseUint(start, 16, 64)
			in = err == nil && uintptr(a) == addr
			continue
		}
		if in && strings.HasPrefix(line, "Rss:") {
			kb, err := strconv.Atoi(strings.Fields(line)[1])
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatalf("no mapping at %#x in /proc/self/smaps", addr)
	return 0
}

// TestRelease maps a file, reads it whole, releases all but a partial first
// and last page, and checks that the mapping's resident memory drops to
// those pages while its contents read back unchanged.
func TestRelease(t *testing.T) {
	const size = 4 << 20
	path := filepath.Join(t.TempDir(), "f")
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i*7 + i>>12)
	}
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	data, unmap, err := Map(path)
	if err != nil {
		t.Fatal(err)
	}
	defer unmap()
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	var sum int
	for i := 0; i < size; i += 512 {
		sum += int(data[i])
	}
	if sum == 0 {
		t.Fatal("the file reads as zeros")
	}
	if kb := residentKB(t, addr); kb < size/1024 {
		t.Fatalf("after reading the file: %d KiB resident, want %d", kb, size/1024)
	}
	Release(data[100 : size-100]) // the first and last pages are partly outside: kept
	page := os.Getpagesize()
	if kb := residentKB(t, addr); kb > 2*page/1024 {
		t.Fatalf("after Release: %d KiB resident, want at most the 2 partial pages (%d KiB)", kb, 2*page/1024)
	}
	for i := range want {
		if data[i] != want[i] {
			t.Fatalf("byte %d reads %d after Release, want %d", i, data[i], want[i])
		}
	}
}
