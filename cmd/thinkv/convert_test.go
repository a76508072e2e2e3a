package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/internal/sharedtest"
)

// copyShared copies a file of shared/models into dir and returns the copy's path.
func copyShared(t *testing.T, dir string, elem ...string) string {
	t.Helper()
	b, err := os.ReadFile(sharedtest.Path(t, append([]string{"models"}, elem...)...))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, elem[len(elem)-1])
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConvertRefusesInput checks that convert will not write over its input:
// the same path, the same file through a hard or symbolic link, a file the
// loader reads in an input directory, or the tokenizer; the input is left as
// it was.
func TestConvertRefusesInput(t *testing.T) {
	dir := t.TempDir()
	in := copyShared(t, dir, "stories260K", "stories260K.gguf")
	tok := copyShared(t, dir, "stories260K", "tok512.bin")
	bin := sharedtest.Path(t, "models", "stories260K", "stories260K.bin")
	hard, sym := filepath.Join(dir, "hard.gguf"), filepath.Join(dir, "sym.gguf")
	if err := os.Link(in, hard); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(in, sym); err != nil {
		t.Fatal(err)
	}
	hf := filepath.Join(dir, "hf")
	if err := os.Mkdir(hf, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hf, "config.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(in)
	for _, args := range [][]string{
		{in, in},
		{in, filepath.Join(dir, ".", "x", "..", "stories260K.gguf")},
		{in, hard},
		{in, sym},
		{hard, in},
		{hf, filepath.Join(hf, "config.json")},
		{hf, filepath.Join(hf, "model.safetensors")},
		{bin, tok, "-t", tok},
	} {
		_, errOut, code := thinkv(t, append([]string{"convert"}, args...)...)
		if code == 0 || !strings.Contains(errOut, "input") {
			t.Errorf("convert %v: exit %d, stderr %q; want a refusal naming the input", args, code, errOut)
		}
	}
	if got, _ := os.ReadFile(in); !bytes.Equal(got, want) {
		t.Error("the input changed")
	}
	if b, _ := os.ReadFile(filepath.Join(hf, "config.json")); string(b) != "{}" {
		t.Errorf("the directory's config.json changed: %q", b)
	}
	if st, err := os.Lstat(sym); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symbolic link was replaced: %v", err)
	}
}

// TestConvertParamsAndCtx checks that convert and info report the same
// parameter count for the llama2.c checkpoint, its conversion and llama.cpp's
// conversion (each stores the tied classifier differently), and that --ctx
// is recorded in the output.
func TestConvertParamsAndCtx(t *testing.T) {
	d := sharedtest.Path(t, "models", "stories260K")
	out := filepath.Join(t.TempDir(), "out.gguf")
	stdout, errOut, code := thinkv(t, "convert", d+"/stories260K.bin", out, "-t", d+"/tok512.bin", "--ctx", "512")
	m := regexp.MustCompile(`(\d+) parameters`).FindStringSubmatch(stdout)
	if code != 0 || m == nil {
		t.Fatalf("convert: exit %d, stdout %q, stderr %q", code, stdout, errOut)
	}
	for _, path := range []string{out, d + "/stories260K.bin", d + "/stories260K.gguf"} {
		info, errOut, code := thinkv(t, "info", "-m", path)
		if code != 0 {
			t.Fatalf("info %s: exit %d: %s", path, code, errOut)
		}
		if !regexp.MustCompile(`(?m)^parameters: +` + m[1] + `$`).MatchString(info) {
			t.Errorf("info %s does not report convert's %s parameters:\n%s", path, m[1], info)
		}
		wantCtx := map[bool]string{true: "512", false: "128"}[path != d+"/stories260K.gguf"]
		if !regexp.MustCompile(`(?m)^context: +` + wantCtx + `$`).MatchString(info) {
			t.Errorf("info %s: context is not %s:\n%s", path, wantCtx, info)
		}
	}
}

// TestConvertWriteFailure runs the built binary under a file size limit too
// small for its output: the write fails with a one-line error and exit 1,
// and the output file that was there before is untouched, with no temporary
// file left beside it.
func TestConvertWriteFailure(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	exe := buildThinkv(t)
	work := t.TempDir()
	copyShared(t, work, "stories260K", "stories260K.gguf")
	old := []byte("the previous out.gguf")
	if err := os.WriteFile(filepath.Join(work, "out.gguf"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	// thinkv ignores SIGXFSZ, so the write that crosses the limit fails
	// with EFBIG instead of killing the process.
	cmd := exec.Command("sh", "-c", `ulimit -f 64; exec "$0" convert stories260K.gguf out.gguf`, exe)
	cmd.Dir = work
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	msg := stderr.String()
	if err == nil || code != 1 || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "file too large") {
		t.Errorf("exit %d (%v), stderr %q; want exit 1 and one line saying the file is too large", code, err, msg)
	}
	if b, err := os.ReadFile(filepath.Join(work, "out.gguf")); err != nil || !bytes.Equal(b, old) {
		t.Errorf("out.gguf holds %d bytes (%v), want the previous %d", len(b), err, len(old))
	}
	ents, _ := os.ReadDir(work)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "out.gguf stories260K.gguf" {
		t.Errorf("the directory holds %v, want only the input and the previous output", names)
	}
}
