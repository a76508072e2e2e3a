package main

import (
	"path/filepath"
	"regexp"
	"testing"

	"github.com/thinkv/thinkv/internal/sharedtest"
)

// TestConvertQ4KMInfo converts the needle model with --type q4_k_m and checks
// that info lists the mix (4 layers: attn_v and ffn_down Q6_K on layers 2
// and 3, the other 24 layer matrices Q4_K, the tied embedding Q6_K) and that
// the file generates text.
func TestConvertQ4KMInfo(t *testing.T) {
	d := sharedtest.Path(t, "models", "needle")
	out := filepath.Join(t.TempDir(), "needle-q4_k_m.gguf")
	stdout, errOut, code := thinkv(t, "convert", d+"/needle.bin", out, "--type", "q4_k_m", "-t", d+"/tok512.bin")
	if code != 0 || !regexp.MustCompile(`\(q4_k_m weights, 3279104 parameters\)`).MatchString(stdout) {
		t.Fatalf("convert: exit %d, stdout %q, stderr %q", code, stdout, errOut)
	}
	info, errOut, code := thinkv(t, "info", "-m", out)
	if code != 0 {
		t.Fatalf("info: exit %d: %s", code, errOut)
	}
	if !regexp.MustCompile(`(?m)^weight types: +embed q6_k×1, q4_k×24, q6_k×4$`).MatchString(info) {
		t.Errorf("info does not list the q4_k_m mix:\n%s", info)
	}
	if !regexp.MustCompile(`(?m)^tied output: +true$`).MatchString(info) {
		t.Errorf("info: the head is not tied:\n%s", info)
	}
	gen, errOut, code := thinkv(t, "generate", "-m", out, "-p", "The best thing about the city is", "-n", "8", "--temp", "0")
	if code != 0 || len(gen) == 0 {
		t.Errorf("generate: exit %d, stdout %q, stderr %q", code, gen, errOut)
	}
	_, errOut, code = thinkv(t, "convert", d+"/needle.bin", out+"2", "--type", "q3_k", "-t", d+"/tok512.bin")
	if code != 2 || !regexp.MustCompile(`q4_k_m`).MatchString(errOut) {
		t.Errorf("--type q3_k: exit %d, stderr %q; want a usage error listing the valid types", code, errOut)
	}
}
