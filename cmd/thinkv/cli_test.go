package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/internal/sharedtest"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/press"
)

// stories returns the llama2.c stories260K checkpoint, its tokenizer and GGUF.
func stories(t *testing.T) (bin, tok, gg string) {
	d := sharedtest.Path(t, "models", "stories260K")
	return d + "/stories260K.bin", d + "/tok512.bin", d + "/stories260K.gguf"
}

// withStdin runs f with standard input replaced by text (a pipe, not a terminal).
func withStdin(t *testing.T, text string, f func()) {
	t.Helper()
	oldIn, oldTerm := stdin, stdinIsTerminal
	stdin, stdinIsTerminal = strings.NewReader(text), func() bool { return false }
	defer func() { stdin, stdinIsTerminal = oldIn, oldTerm }()
	f()
}

// generateJSON runs generate --json and decodes its report.
func runJSON(t *testing.T, args ...string) generateReport {
	t.Helper()
	out, errOut, code := thinkv(t, append([]string{"generate", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, errOut)
	}
	var r generateReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %v: %s", args, err, out)
	}
	return r
}

// TestExitCodes checks that a mistake in the command line exits 2 with the
// synopsis, a failure exits 1 without it, and either is printed once with
// one prefix.
func TestExitCodes(t *testing.T) {
	bin, tok, _ := stories(t)
	m := []string{"generate", "-m", bin, "-t", tok, "-p", "x"}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"generate", "-p", "x"}, 2, "no model"},
		{append(m, "--temp", "nan"), 2, `--temp: invalid value "nan"`},
		{append(m, "--temp", "inf"), 2, "not a finite number"},
		{append(m, "--top-p", "NaN"), 2, "--top-p"},
		{append(m, "--top-p", "0"), 2, "--top-p"},
		{append(m, "--ctx", "-5"), 2, "--ctx"},
		{append(m, "-c", "0"), 2, "-c"},
		{append(m, "--ctx", "1e12"), 2, "out of range"},
		{append(m, "--ctx", "12.5"), 2, "not an integer"},
		{append(m, "--threads", "0"), 2, "--threads"},
		{append(m, "-n", "-2"), 2, "-n"},
		{append(m, "--seed", "-2"), 2, "--seed"},
		{append(m, "-n", "5", "--steps", "9"), 2, "not both"},
		{append(m, "--temp", "0.5", "--temp", "0.7"), 2, "given twice"},
		{append(m, "-c", "64", "--ctx", "128"), 2, "given twice"},
		{append(m, "--press", "snapkv:budget=64", "--press", "think:ratio=0.5"), 2, "compose presses with '+'"},
		{append(m, "--press", "snapkv:budget=64+none"), 2, "stands alone"},
		{append(m, "stray"), 2, `unexpected argument "stray"`},
		{[]string{"generate", "--bogus"}, 2, "unknown flag --bogus"},
		{[]string{"generate", "-m", "/nonexistent", "-p", "x"}, 1, "no such file"},
		{[]string{"generate", "-m", bin, "-p", "x"}, 1, "give its tokenizer with -t"},
		{[]string{"nope"}, 2, "unknown command"},
	} {
		out, errOut, code := thinkv(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("%v: exit %d (want %d), stdout %q, stderr %q, want it to mention %q", tc.args, code, tc.code, out, errOut, tc.want)
			continue
		}
		if tc.args[0] == "nope" {
			continue
		}
		if n := strings.Count(errOut, "thinkv generate:"); n != 1 {
			t.Errorf("%v: error printed %d times: %q", tc.args, n, errOut)
		}
		if strings.Contains(errOut, "generate: generate:") {
			t.Errorf("%v: doubled prefix: %q", tc.args, errOut)
		}
		if hasUsage := strings.Contains(errOut, "usage: thinkv generate"); hasUsage != (tc.code == 2) {
			t.Errorf("%v: usage shown %v for exit %d: %q", tc.args, hasUsage, tc.code, errOut)
		}
	}
}

// TestTokensToGenerate checks -n as llama.cpp counts it, --steps as llama2.c does.
func TestTokensToGenerate(t *testing.T) {
	_, _, gg := stories(t)
	m := []string{"-m", gg, "--ctx", "512", "-p", "Once upon a time", "--temp", "0"}
	if r := runJSON(t, append(m, "-n", "7")...); len(r.Tokens) != 7 || r.PromptTokens != 5 {
		t.Errorf("-n 7: %d tokens after a %d-token prompt, want 7 after 5", len(r.Tokens), r.PromptTokens)
	}
	if r := runJSON(t, append(m, "-n", "0")...); len(r.Tokens) != 0 {
		t.Errorf("-n 0: %d tokens", len(r.Tokens))
	}
	// llama2.c: 12 steps = 4 prompt tokens after BOS + 8 generated.
	if r := runJSON(t, append(m, "--steps", "12")...); len(r.Tokens) != 8 {
		t.Errorf("--steps 12: %d tokens, want 8", len(r.Tokens))
	}
	// -n -1 (the default): until end of generation or the context.
	r := runJSON(t, "-m", gg, "--ctx", "40", "-p", "Once upon a time", "--temp", "0")
	if r.Stop != "context" || r.PromptTokens+len(r.Tokens) != 41 {
		t.Errorf("-n -1 at --ctx 40: stop %q after %d+%d tokens", r.Stop, r.PromptTokens, len(r.Tokens))
	}
	// A long prompt still generates -n tokens (it used to count against them).
	long := strings.Repeat("Lily and Ben went to the park to play. ", 30)
	if r := runJSON(t, "-m", gg, "--ctx", "512", "-p", long, "-n", "4", "--temp", "0"); len(r.Tokens) != 4 || r.PromptTokens < 300 {
		t.Errorf("long prompt: %d tokens after %d", len(r.Tokens), r.PromptTokens)
	}
}

// TestPromptFromStdin checks -f - and a piped standard input.
func TestPromptFromStdin(t *testing.T) {
	_, _, gg := stories(t)
	m := []string{"generate", "-m", gg, "--ctx", "512", "-n", "3", "--temp", "0"}
	want, _, code := thinkv(t, append(m, "-p", "Once upon a time")...)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, extra := range [][]string{{"-f", "-"}, nil} {
		withStdin(t, "Once upon a time", func() {
			got, errOut, code := thinkv(t, append(m, extra...)...)
			if code != 0 || got != want {
				t.Errorf("%v: exit %d %s: got %q, want %q", extra, code, errOut, got, want)
			}
		})
	}
	withStdin(t, "", func() {
		if _, errOut, code := thinkv(t, m...); code != 2 || !strings.Contains(errOut, "no prompt") {
			t.Errorf("empty stdin: exit %d, %q", code, errOut)
		}
	})
}

// TestSeed checks that -1 and no seed are random and reported, and that a
// reported seed reproduces the run.
func TestSeed(t *testing.T) {
	_, _, gg := stories(t)
	m := []string{"-m", gg, "--ctx", "512", "-p", "Once upon a time", "-n", "24", "--temp", "1"}
	a, b := runJSON(t, m...), runJSON(t, append(m, "--seed", "-1")...)
	if a.Seed < 0 || b.Seed < 0 || a.Seed == b.Seed {
		t.Errorf("random seeds %d and %d: want two different non-negative seeds", a.Seed, b.Seed)
	}
	again := runJSON(t, append(m, "--seed", strconv.Itoa(a.Seed))...)
	if again.Seed != a.Seed || !slices.Equal(again.Tokens, a.Tokens) {
		t.Errorf("--seed %d gave %v, the random run %v", a.Seed, again.Tokens, a.Tokens)
	}
	z1, z2 := runJSON(t, append(m, "--seed", "0")...), runJSON(t, append(m, "--seed", "0")...)
	if z1.Seed != 0 || !slices.Equal(z1.Tokens, z2.Tokens) {
		t.Errorf("--seed 0 is not a fixed seed: %v vs %v", z1.Tokens, z2.Tokens)
	}
}

// TestLongPromptNotEchoed checks that a prompt the context cannot hold is
// refused before any of it is printed.
func TestLongPromptNotEchoed(t *testing.T) {
	_, _, gg := stories(t)
	path := filepath.Join(t.TempDir(), "big.txt")
	if err := os.WriteFile(path, []byte(strings.Repeat("Once upon a time there was a dog. ", 150_000)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := thinkv(t, "generate", "-m", gg, "--ctx", "64", "-f", path)
	if code != 1 || out != "" || !strings.Contains(errOut, "longer than the context") {
		t.Errorf("exit %d, %d bytes on stdout, stderr %q", code, len(out), errOut)
	}
}

// TestModelFlagsEverywhere checks that the commands taking a model share
// its flags, and that flags may follow positional arguments.
func TestModelFlagsEverywhere(t *testing.T) {
	bin, tok, gg := stories(t)
	for _, args := range [][]string{
		{"tokenize", "-m", bin, "-t", tok, "-p", "Once upon a time"},
		{"tokenize", "-m", bin, "--tokenizer", tok, "-p", "Once upon a time", "--threads", "1"},
		{"tokenize", "-t", tok, "-p", "Once upon a time"},
		{"tokenize", "-m", gg, "-c", "256", "-p", "Once upon a time"},
		{"generate", "-p", "Once upon a time", "-n", "0", "-m", gg, "--threads", "1"},
	} {
		out, errOut, code := thinkv(t, args...)
		if code != 0 || !strings.HasPrefix(strings.TrimSpace(out), "1 403 407 261 378") && args[0] == "tokenize" {
			t.Errorf("%v: exit %d, %q %q", args, code, out, errOut)
		}
	}
	// A tokenizer.json through -t: the Mistral vocabulary in shared/.
	out, errOut, code := thinkv(t, "tokenize", "-t", sharedtest.Path(t, "tokenizers", "llama2-spm", "tokenizer.json"), "-p", "Hello world", "--json")
	if code != 0 || !strings.HasPrefix(out, `{"ids":[1,`) {
		t.Errorf("tokenize -t tokenizer.json: exit %d, %q %q", code, out, errOut)
	}
}

func TestVersionAndHelp(t *testing.T) {
	out, _, code := thinkv(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "thinkv ") || !strings.Contains(out, "kernels: ") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
	out, _, code = thinkv(t, "generate", "--help")
	for _, want := range []string{"usage: thinkv generate", "-c, --ctx", "-t, --tokenizer", "--threads", "-n int", "--steps"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("generate --help: exit %d, lacks %q:\n%s", code, want, out)
		}
	}
}

// TestErrorsPrintedOnce checks failing command lines of every command for
// a doubled prefix ("eval: eval:", "niah: niah:").
func TestErrorsPrintedOnce(t *testing.T) {
	bin, tok, gg := stories(t)
	t.Setenv("THINKV_SHARED", t.TempDir()) // the tasks' default data is missing
	doubled := regexp.MustCompile(`\b([\w-]+): ([\w-]+: )?\b([\w-]+): `)
	for _, args := range [][]string{
		{"eval", "-m", bin, "-t", tok, "--task", "nope"},
		{"eval", "-m", bin, "-t", tok, "--task", "niah", "--lengths", "160", "--out", filepath.Join(t.TempDir(), "o")},
		{"eval", "-m", bin, "-t", tok, "--task", "niah", "--lengths", "160", "--haystack", "/nonexistent", "--out", filepath.Join(t.TempDir(), "o")},
		{"eval", "-m", bin, "-t", tok, "--task", "ruler:niah_single_1", "--lengths", "160", "--out", filepath.Join(t.TempDir(), "o")},
		{"eval", "fidelity", "-m", gg, "-f", "/nonexistent"},
		{"analyze", "-m", gg, "-f", "/nonexistent"},
		{"generate", "-m", gg, "-p", "x", "--press", "snapkv:budget=8"},
		{"info", "-m", "/nonexistent"},
		{"tokenize", "-t", "/nonexistent", "-p", "x"},
	} {
		_, errOut, code := thinkv(t, args...)
		first, _, _ := strings.Cut(errOut, "\n")
		if code == 0 {
			t.Errorf("%v: exit 0", args)
		}
		if m := doubled.FindStringSubmatch(first); m != nil && m[1] == m[3] {
			t.Errorf("%v: doubled prefix %q in %q", args, m[1], first)
		}
	}
}

// TestInfoTokenizer checks that info takes the model flags and describes
// the tokenizer when there is one.
func TestInfoTokenizer(t *testing.T) {
	bin, tok, gg := stories(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"info", "-m", bin, "-t", tok}, "512 tokens"},
		{[]string{"info", "-m", bin}, "none (a llama2.c checkpoint"},
		{[]string{"info", "-m", gg, "-c", "512"}, "the model's own, 512 tokens"},
	} {
		out, errOut, code := thinkv(t, tc.args...)
		if code != 0 || !strings.Contains(out, "tokenizer:") || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, %s; stdout lacks %q:\n%s", tc.args, code, errOut, tc.want, out)
		}
	}
}

// TestSaveLoadCache checks --save-cache and --load-cache: a document
// compressed once, then a question answered from the file with the tokens
// of asking it on one sequence (query-agnostic), and the mistakes refused.
func TestSaveLoadCache(t *testing.T) {
	bin, tok, gg := stories(t)
	dir := t.TempDir()
	kv := filepath.Join(dir, "doc.kv")
	doc := strings.Repeat("Lily and Ben went to the park to play with a big red ball. ", 6)
	m := []string{"generate", "-m", gg, "--ctx", "512"}
	out, errOut, code := thinkv(t, append(m, "-p", doc, "--press", "snapkv:budget=48", "--save-cache", kv, "--json")...)
	if code != 0 {
		t.Fatalf("save: exit %d: %s", code, errOut)
	}
	var saved savedReport
	if err := json.Unmarshal([]byte(out), &saved); err != nil || saved.Tokens < 100 || saved.KVBytes*2 > saved.KVFull || saved.FileBytes < saved.KVBytes {
		t.Fatalf("save report %+v (%v): %s", saved, err, out)
	}
	r := runJSON(t, "-m", gg, "--ctx", "512", "--load-cache", kv, "-p", " Then they", "-n", "12", "--temp", "0")
	if r.PrefixTokens != saved.Tokens || len(r.Tokens) != 12 || !strings.HasPrefix(r.Press, "cache file") {
		t.Errorf("load: %+v", r)
	}
	// The same question on one sequence: the document compressed, the
	// question run through it uncompressed.
	ref := referenceAgnostic(t, gg, doc, " Then they", "snapkv:budget=48", 12)
	if !slices.Equal(r.Tokens, ref) {
		t.Errorf("from the file %v, on one sequence %v", r.Tokens, ref)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{append(m, "-p", "x", "--save-cache", kv, "--load-cache", kv), 2, "not both"},
		{append(m, "-p", "x", "--save-cache", kv, "-n", "3"), 2, "generates nothing"},
		{append(m, "-p", "x", "--load-cache", kv, "--press", "think:ratio=0.5"), 2, "takes no --press"},
		// stories260K.bin is the GGUF's model (one identity); needle is another.
		{[]string{"generate", "-m", bin, "-t", tok, "-p", "x", "-n", "1", "--load-cache", kv}, 0, ""},
		{[]string{"generate", "-m", sharedtest.Path(t, "models", "needle", "needle.gguf"), "-p", "x", "--load-cache", kv}, 1, "different model"},
		{append(m, "-p", "x", "--load-cache", filepath.Join(dir, "none.kv")), 1, "no such file"},
	} {
		_, errOut, code := thinkv(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d (want %d), %q, want it to mention %q", tc.args, code, tc.code, errOut, tc.want)
		}
	}
}

// referenceAgnostic compresses doc under spec and greedily answers question
// on the same sequence, through the engine's single-sequence calls.
func referenceAgnostic(t *testing.T, model, doc, question, spec string, n int) []int {
	t.Helper()
	e, err := engine.Load(model, "", 512)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	p, err := press.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	ids, q := e.Tok.Encode(doc, true), e.Tok.Encode(question, false)
	c, s, err := e.NewSequence(len(ids), len(ids)+len(q)+n, kvcache.F16)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Prefill(s, c, ids, p); err != nil {
		t.Fatal(err)
	}
	logits, err := e.Model.Forward(s, c, q, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for len(out) < n {
		out = append(out, engine.Argmax(logits))
		if len(out) < n {
			if logits, err = e.Decode(s, c, out[len(out)-1], nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}
