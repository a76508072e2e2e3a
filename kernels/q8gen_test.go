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

// TestQ8GenUpToDate checks that q8dot_amd64.s is what q8gen.go writes, so the
// generator and the assembly it produced cannot drift apart.
func TestQ8GenUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goTool, "run", "q8gen.go").Output()
	if err != nil {
		t.Fatalf("go run q8gen.go: %v", err)
	}
	have, err := os.ReadFile("q8dot_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, have) {
		t.Fatalf("q8dot_amd64.s differs from what q8gen.go writes (%d vs %d bytes): run go run q8gen.go > q8dot_amd64.s", len(have), len(out))
	}
}
