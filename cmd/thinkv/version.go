package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/thinkv/thinkv/kernels"
)

// version describes the build: module version, VCS revision (with
// "+modified" for a dirty tree), Go version, platform and kernel tier.
func version() string {
	v, rev := "(unknown)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		v = bi.Main.Version
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" && modified {
			rev += "+modified"
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "thinkv %s", v)
	if rev != "" {
		fmt.Fprintf(&b, " (revision %s)", rev)
	}
	fmt.Fprintf(&b, "\n%s %s/%s, kernels: %s", runtime.Version(), runtime.GOOS, runtime.GOARCH, kernels.Tier())
	return b.String()
}
