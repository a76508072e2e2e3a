//go:build amd64 && !purego

package kernels

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// TestGeneratorsUpToDate checks that each generated assembly file is what
// its generator writes (q8dot_amd64.s from q8gen.go, attn512_amd64.s from
// attngen.go), so a generator and its output cannot drift apart.
func TestGeneratorsUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generators")
	}
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	for gen, asm := range map[string]string{"q8gen.go": "q8dot_amd64.s", "attngen.go": "attn512_amd64.s"} {
		out, err := exec.Command(goTool, "run", gen).Output()
		if err != nil {
			t.Fatalf("go run %s: %v", gen, err)
		}
		have, err := os.ReadFile(asm)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, have) {
			t.Errorf("%s differs from what %s writes (%d vs %d bytes): run go run %s > %s", asm, gen, len(have), len(out), gen, asm)
		}
	}
}
