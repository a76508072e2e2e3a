package memlimit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseMeminfo(t *testing.T) {
	text := "MemTotal:       24684084 kB\nMemFree:         1000 kB\nMemAvailable:   24195608 kB\nBuffers: 1 kB\n"
	if got, ok := parseMeminfo(strings.NewReader(text)); !ok || got != 24195608*1024 {
		t.Fatalf("MemAvailable %d %v, want %d", got, ok, 24195608*1024)
	}
	for _, bad := range []string{"", "MemTotal: 5 kB\n", "MemAvailable: x kB\n", "MemAvailable: 5 MB\n", "MemAvailable: -5 kB\n"} {
		if got, ok := parseMeminfo(strings.NewReader(bad)); ok {
			t.Errorf("%q: read %d", bad, got)
		}
	}
	if got, ok := parseVmSize(strings.NewReader("Name:\tx\nVmPeak:\t  9000 kB\nVmSize:\t    3892 kB\n")); !ok || got != 3892*1024 {
		t.Fatalf("VmSize %d %v", got, ok)
	}
}

// write creates root/rel with the given content.
func write(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCgroupLimits reads fabricated cgroup trees: the tightest level wins,
// "max" and v1's near-2⁶³ value are no limit, and a group missing under the
// mount (a cgroup namespace) falls back to the mount's root.
func TestCgroupLimits(t *testing.T) {
	root := t.TempDir()
	// v2: the group allows 8 GB with 3 GB used, its parent 4 GB with 3.5 GB used.
	write(t, root, "a/b/memory.max", "8000000000\n")
	write(t, root, "a/b/memory.current", "3000000000\n")
	write(t, root, "a/memory.max", "4000000000\n")
	write(t, root, "a/memory.current", "3500000000\n")
	write(t, root, "memory.max", "max\n")
	// v1: the mount's root is the group (namespaced), limited to 2 GB with 0.5 GB used.
	write(t, root, "memory/memory.limit_in_bytes", "2000000000\n")
	write(t, root, "memory/memory.usage_in_bytes", "500000000\n")
	got := cgroupLimits("12:pids:/x\n4:cpu,memory:/process_api/abc\n0::/a/b\n", root)
	want := []Limit{
		{Source: "cgroup v1 memory.limit_in_bytes", Bytes: 1500000000, Max: 2000000000, Used: 500000000},
		{Source: "cgroup v2 memory.max", Bytes: 500000000, Max: 4000000000, Used: 3500000000},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("limits %+v, want %+v", got, want)
	}
	if s := want[1].String(); s != "cgroup v2 memory.max 4.0 GB, 3.5 GB in use" {
		t.Fatalf("String %q", s)
	}

	none := t.TempDir()
	write(t, none, "memory.max", "max\n")
	write(t, none, "memory/memory.limit_in_bytes", "9223372036854771712\n")
	write(t, none, "memory/memory.usage_in_bytes", "641015808\n")
	if got := cgroupLimits("4:memory:/p\n0::/\n", none); len(got) != 0 {
		t.Fatalf("unlimited groups gave %+v", got)
	}
	// Usage above the limit leaves nothing, not a negative figure.
	over := t.TempDir()
	write(t, over, "memory.max", "100\n")
	write(t, over, "memory.current", "200\n")
	if got := cgroupLimits("0::/\n", over); len(got) != 1 || got[0].Bytes != 0 {
		t.Fatalf("over the limit: %+v", got)
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 999: "999 B", 1000: "1.0 kB", 3_600_000: "3.6 MB", 205_300_000_000: "205.3 GB",
		999_960: "1.0 MB", 2_048_000_018_432: "2.0 TB", -5_000_000: "-5.0 MB",
	} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
