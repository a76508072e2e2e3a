// Package memlimit reads how much more memory this process may use: the
// kernel's estimate of memory available without swapping (MemAvailable in
// /proc/meminfo), its control group's limit less its usage (cgroup v2
// memory.max − memory.current, or v1 memory.limit_in_bytes −
// memory.usage_in_bytes, at every level up to the hierarchy's root), and
// its address-space limit (RLIMIT_AS) less what it has mapped (VmSize in
// /proc/self/status). It reads Linux's files; elsewhere it finds nothing.
package memlimit

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// Limit is one bound on the memory this process may still use.
type Limit struct {
	// Source says where the bound was read: "MemAvailable", "cgroup v2
	// memory.max", "cgroup v1 memory.limit_in_bytes" or "RLIMIT_AS".
	Source string
	// Bytes is how many more bytes may be used under the bound (never negative).
	Bytes int64
	// Max and Used are the limit and what counts against it now, where the
	// bound is a limit less a usage (zero for MemAvailable).
	Max, Used int64
	// AddressSpace is set when the bound is on virtual memory: everything the
	// process has mapped (model weights included, paged in or not) is
	// already in Used.
	AddressSpace bool
}

// unlimited is the value at or above which a cgroup v1 limit means none
// (the kernel reports 2⁶³ − 4096 rounded to pages).
const unlimited = 1 << 60

// Read returns every bound it can read; none where none can be read.
func Read() []Limit {
	var out []Limit
	if f, err := os.Open("/proc/meminfo"); err == nil {
		if b, ok := parseMeminfo(f); ok {
			out = append(out, Limit{Source: "MemAvailable", Bytes: b})
		}
		f.Close()
	}
	if cg, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		out = append(out, cgroupLimits(string(cg), "/sys/fs/cgroup")...)
	}
	if l, ok := addressSpace(); ok {
		out = append(out, l)
	}
	return out
}

// parseMeminfo returns the MemAvailable line of /proc/meminfo in bytes.
func parseMeminfo(r io.Reader) (int64, bool) {
	return kbField(r, "MemAvailable:")
}

// parseVmSize returns the VmSize line of /proc/self/status in bytes.
func parseVmSize(r io.Reader) (int64, bool) {
	return kbField(r, "VmSize:")
}

// kbField finds the line "name N kB" and returns N·1024.
func kbField(r io.Reader, name string) (int64, bool) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == name && f[2] == "kB" {
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || n < 0 || n > 1<<53 {
				return 0, false
			}
			return n * 1024, true
		}
	}
	return 0, false
}

// cgroupLimits reads the memory limits of the cgroup that procCgroup (the
// text of /proc/self/cgroup) names, under the cgroup file systems mounted at
// root: for v2 root itself, for v1 root/memory. Where the named directory is
// absent (a cgroup namespace shows the group as the mount's root), the
// mount's root is read. Each level from the group up to the root that has a
// limit gives one, and the tightest is returned for each version.
func cgroupLimits(procCgroup, root string) []Limit {
	var out []Limit
	for _, line := range strings.Split(procCgroup, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			if l, ok := tightest(root, parts[2], "memory.max", "memory.current", "cgroup v2 memory.max"); ok {
				out = append(out, l)
			}
		case hasController(parts[1], "memory"):
			if l, ok := tightest(filepath.Join(root, "memory"), parts[2], "memory.limit_in_bytes", "memory.usage_in_bytes", "cgroup v1 memory.limit_in_bytes"); ok {
				out = append(out, l)
			}
		}
	}
	return out
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// tightest walks from mount/group up to mount and returns the limit that
// leaves the least room.
func tightest(mount, group, maxFile, usedFile, source string) (Limit, bool) {
	group = path.Clean("/" + group)
	if _, err := os.Stat(filepath.Join(mount, filepath.FromSlash(group))); err != nil {
		group = "/"
	}
	var best Limit
	found := false
	for {
		dir := filepath.Join(mount, filepath.FromSlash(group))
		if lim, ok := readNumber(filepath.Join(dir, maxFile)); ok && lim < unlimited {
			used, _ := readNumber(filepath.Join(dir, usedFile))
			l := Limit{Source: source, Bytes: max(0, lim-used), Max: lim, Used: used}
			if !found || l.Bytes < best.Bytes {
				best, found = l, true
			}
		}
		if group == "/" {
			return best, found
		}
		group = path.Dir(group)
	}
}

// readNumber reads a file holding one non-negative integer ("max" is not one).
func readNumber(name string) (int64, bool) {
	b, err := os.ReadFile(name)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// String describes the bound, e.g. "MemAvailable" or "RLIMIT_AS 2.0 GB, 1.1 GB mapped".
func (l Limit) String() string {
	switch {
	case l.Max == 0:
		return l.Source
	case l.AddressSpace:
		return fmt.Sprintf("%s %s, %s mapped", l.Source, FormatBytes(l.Max), FormatBytes(l.Used))
	}
	return fmt.Sprintf("%s %s, %s in use", l.Source, FormatBytes(l.Max), FormatBytes(l.Used))
}

// FormatBytes writes n in decimal units with one decimal: "205.3 GB",
// "3.6 MB", "12.0 kB", "512 B".
func FormatBytes(n int64) string {
	const unit = 1000
	if n < unit && n > -unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), 0
	units := []string{"kB", "MB", "GB", "TB", "PB", "EB"}
	for v /= unit; (v >= unit-0.05 || v <= -(unit-0.05)) && i < len(units)-1; i++ {
		v /= unit
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
