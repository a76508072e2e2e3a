package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/internal/sharedtest"
)

func thinkv(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return o.String(), e.String(), code
}

// TestGreedyGolden checks the acceptance commands: greedy generation
// prints exactly what llama2.c printed, from both model formats.
func TestGreedyGolden(t *testing.T) {
	dir := sharedtest.Dir(t)
	bin, tok, gg := dir+"/models/stories260K/stories260K.bin", dir+"/models/stories260K/tok512.bin", dir+"/models/stories260K/stories260K.gguf"
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"once_upon_a_time", []string{"-m", bin, "-t", tok, "-p", "Once upon a time"}},
		{"empty_prompt", []string{"-m", bin, "-t", tok, "-p", ""}},
		{"once_upon_a_time", []string{"-m", gg, "--ctx", "512", "-p", "Once upon a time"}},
		{"empty_prompt", []string{"-m", gg, "--ctx", "512", "-p", ""}},
	} {
		want, err := os.ReadFile(dir + "/golden/stories260K/" + tc.golden + ".greedy256.txt")
		if err != nil {
			t.Fatal(err)
		}
		out, errOut, code := thinkv(t, append([]string{"generate", "--steps", "256", "--temp", "0"}, tc.args...)...)
		if code != 0 || out != string(want) {
			t.Errorf("%v: exit %d, stderr %q\ngot:\n%s\nwant:\n%s", tc.args, code, errOut, out, want)
		}
	}
}

func TestGenerateJSON(t *testing.T) {
	dir := sharedtest.Dir(t)
	out, errOut, code := thinkv(t, "generate", "-m", dir+"/models/stories260K/stories260K.gguf", "--ctx", "512",
		"-p", "Once upon a time", "-n", "20", "--temp", "0.7", "--top-k", "40", "--seed", "5", "--json", "--kv-type", "f32")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r generateReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// -n 20: 20 generated tokens after the 5 of the prompt; the cache holds all but the last.
	if r.PromptTokens != 5 || len(r.Tokens) != 20 || r.Text == "" || r.Seed != 5 {
		t.Errorf("got %+v", r)
	}
	if want := int64(5+20-1) * 5 * 4 * 2 * 8 * 4; r.KV.Bytes != want || r.KV.BytesFull != want {
		t.Errorf("kv bytes %d / %d, want %d", r.KV.Bytes, r.KV.BytesFull, want)
	}
	if r.Timings.DecodePerSec <= 0 || r.Timings.PrefillPerSec <= 0 || r.PeakRSS <= 0 {
		t.Errorf("timings %+v, peak RSS %d", r.Timings, r.PeakRSS)
	}
}

func TestTokenize(t *testing.T) {
	dir := sharedtest.Dir(t)
	out, _, code := thinkv(t, "tokenize", "-t", dir+"/models/stories260K/tok512.bin", "-p", "Once upon a time", "--bos", "--json")
	if code != 0 || strings.TrimSpace(out) != `{"ids":[1,403,407,261,378]}` {
		t.Errorf("exit %d, got %s", code, out)
	}
	// BOS as generate adds it, unless --bos=false.
	out, _, code = thinkv(t, "tokenize", "-m", dir+"/models/stories260K/stories260K.gguf", "-p", "Once upon a time")
	if code != 0 || strings.TrimSpace(out) != "1 403 407 261 378" {
		t.Errorf("exit %d, got %s", code, out)
	}
	out, _, code = thinkv(t, "tokenize", "-m", dir+"/models/stories260K/stories260K.gguf", "-p", "Once upon a time", "--bos=false")
	if code != 0 || strings.TrimSpace(out) != "403 407 261 378" {
		t.Errorf("exit %d, got %s", code, out)
	}
}

// TestErrors checks that bad input is a clear error with a non-zero exit, never a panic.
func TestErrors(t *testing.T) {
	dir := sharedtest.Dir(t)
	bin, tok := dir+"/models/stories260K/stories260K.bin", dir+"/models/stories260K/tok512.bin"
	long := strings.Repeat("Once upon a time there was a dog. ", 200)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"nope"}, "unknown command"},
		{[]string{"generate", "-p", "x"}, "no model"},
		{[]string{"generate", "-m", bin, "-p", "x"}, "give its tokenizer with -t"},
		{[]string{"generate", "-m", "/nonexistent", "-p", "x"}, "no such file"},
		{[]string{"generate", "-m", tok, "-t", tok, "-p", "x"}, "llama2.c checkpoint"},
		{[]string{"generate", "-m", bin, "-t", tok}, "no prompt"},
		{[]string{"generate", "-m", bin, "-t", tok, "-p", "x", "--temp", "-1"}, "--temp"},
		{[]string{"generate", "-m", bin, "-t", tok, "-p", "x", "--kv-type", "q4"}, "f16, f32"},
		{[]string{"generate", "-m", bin, "-t", tok, "-p", "x", "--press", "snapkv:budget=0"}, "budget"},
		{[]string{"generate", "-m", bin, "-t", tok, "-p", "x", "--press", "magic"}, "valid: none, snapkv"},
		{[]string{"generate", "-m", bin, "-t", tok, "-p", long}, "longer than the context"},
		{[]string{"generate", "--bogus"}, "unknown flag --bogus"},
		{[]string{"info"}, "no model"},
		{[]string{"tokenize", "-p", "x"}, "no tokenizer"},
	} {
		_, errOut, code := thinkv(t, tc.args...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want it to mention %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, c := range commands {
		args := []string{c.name, "--help"}
		if c.name == "eval" {
			args = []string{"eval", "fidelity", "--help"}
		}
		if _, _, code := thinkv(t, args...); code != 0 {
			t.Errorf("%v: exit %d", args, code)
		}
	}
}
