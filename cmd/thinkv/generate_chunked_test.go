package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/press"
)

// TestGenerateChunked: --chunked-compress with a chunk holding the whole
// prompt generates what whole-prompt compression does, with the same bytes;
// in small chunks it still runs and reports the chunk size; the flags that
// do not go with it are refused as usage errors.
func TestGenerateChunked(t *testing.T) {
	bin, tok, _ := stories(t)
	prompt := strings.Repeat("Once upon a time, there was a little girl named Lily. ", 8)
	m := []string{"-m", bin, "-t", tok, "-p", prompt, "-n", "24", "--temp", "0", "--press", "snapkv:budget=48+think:ratio=0.5,pack=8"}
	whole := runJSON(t, m...)
	one := runJSON(t, append(m, "--chunked-compress", "--chunk", "1000")...)
	if !slices.Equal(one.Tokens, whole.Tokens) || one.KV.Bytes != whole.KV.Bytes || one.Chunk != 1000 || whole.Chunk != 0 {
		t.Errorf("one chunk: tokens %v, %d bytes, chunk %d; whole prompt: %v, %d bytes", one.Tokens, one.KV.Bytes, one.Chunk, whole.Tokens, whole.KV.Bytes)
	}
	small := runJSON(t, append(m, "--chunked-compress", "--chunk", "16")...)
	if len(small.Tokens) != 24 || small.Chunk != 16 || small.PromptTokens != whole.PromptTokens {
		t.Errorf("chunks of 16: %+v", small)
	}
	g := []string{"generate", "-m", bin, "-t", tok, "-p", "x"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{append(g, "--chunked-compress"), "needs a compressing --press"},
		{append(g, "--chunked-compress", "--press", "none"), "needs a compressing --press"},
		{append(g, "--chunk", "8", "--press", "snapkv:budget=8"), "give both"},
		{append(g, "--chunked-compress", "--press", "snapkv:budget=8", "--chunk", "0"), "--chunk"},
		{append(g, "--chunked-compress", "--press", "snapkv:budget=8", "--save-cache", "/tmp/x.kv"), "does not go with"},
		{[]string{"eval", "fidelity", "-m", bin, "-t", tok, "-f", "x", "--chunk", "8"}, "give both"},
		{[]string{"eval", "fidelity", "-m", bin, "-t", tok, "-f", "x", "--reference", "bogus"}, "--reference"},
	} {
		if out, errOut, code := thinkv(t, tc.args...); code != 2 || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want a usage error mentioning %q", tc.args, code, out, errOut, tc.want)
		}
	}
}

// TestFidelityChunkedRows runs eval fidelity with a reference press,
// chunked compression and the packing simulation, and checks the rows the
// table shows.
func TestFidelityChunkedRows(t *testing.T) {
	bin, tok, _ := stories(t)
	text := filepath.Join(t.TempDir(), "story.txt")
	if err := os.WriteFile(text, []byte(strings.Repeat("Once upon a time, there was a little girl named Lily. She loved to play outside. ", 20)), 0o644); err != nil {
		t.Fatal(err)
	}
	const spec = "snapkv:budget=64+think:ratio=0.5,recent=8,pack=8"
	out, errOut, code := thinkv(t, "eval", "fidelity", "-m", bin, "-t", tok, "-f", text, "--prefix", "200", "--forced", "40",
		"--reference", spec, "--press", spec, "--chunked-compress", "--chunk", "50", "--repack-sim")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	p, _ := press.Parse(spec)
	for _, want := range []string{"fidelity to " + p.String() + " (the whole prefix compressed at once)", "[chunks of 50]",
		"[simulated, prefill channels]", "[simulated, re-scored channels]"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"+p.String()); n != 5 {
		t.Errorf("%d rows of the press, want 5 (reference, itself, chunked, two simulations):\n%s", n, out)
	}
}
