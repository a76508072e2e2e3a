package engine

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/internal/memlimit"
	"github.com/thinkv/thinkv/internal/sharedtest"
	"github.com/thinkv/thinkv/kvcache"
)

// childEnv marks the re-executed test binary as the child of
// TestGenerateUnderAddressSpaceLimit.
const childEnv = "THINKV_ENGINE_RLIMIT_CHILD"

// TestGenerateUnderAddressSpaceLimit runs this test binary again under a real
// limit, `ulimit -v 2000000` (about 2 GB of address space), loads the needle
// model with a context of a billion tokens and asks for ten million new
// tokens: an f16 cache for them needs 4·2·2·64·2 = 2048 bytes a token, about
// 20.5 GB. The child must get CheckMemory's clear refusal, with both numbers
// and RLIMIT_AS named, and exit normally — not die with the runtime's
// "fatal error: out of memory" — advising the smallest KV type, q4_0, with
// what it would still need — and a short generation under the same limit
// must still work, the cache growing only as far as it is used.
func TestGenerateUnderAddressSpaceLimit(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		generateChild()
		return
	}
	dir := sharedtest.Path(t, "models", "needle")
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh to set the limit with")
	}
	cmd := exec.Command("sh", "-c", `ulimit -v 2000000 && exec "$0" -test.run='^TestGenerateUnderAddressSpaceLimit$' -test.v`, os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=1", "THINKV_NEEDLE_DIR="+dir)
	out, err := cmd.CombinedOutput()
	text := string(out)
	if err != nil || strings.Contains(text, "fatal error") {
		t.Fatalf("child failed (%v):\n%s", err, text)
	}
	re := regexp.MustCompile(`REFUSED: this sequence needs about (2[0-9]\.[0-9]) GB \(weights ([0-9.]+) MB \+ KV cache for (\d+) tokens (20\.5) GB \+ scratch [0-9.]+ [kMG]?B\) ` +
		`but ([0-9.]+) (MB|GB) is available \(RLIMIT_AS 2\.0 GB, [0-9.]+ [MG]B mapped, the weights among it\); lower --ctx or -n, or use a compressing --press ` +
		`\(--kv-type q4_0 alone would still need about ([0-9.]+ GB)\)\n`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("child output has no refusal naming both numbers and RLIMIT_AS:\n%s", text)
	}
	// q4_0, the smallest type at head_dim 64 (two 18-byte blocks a row:
	// 4·2·2·36 = 576 bytes a token, against f16's 2048), does not fit either.
	e, err := Load(dir+"/needle.bin", dir+"/tok512.bin", 1_000_000_000)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	q4 := e.MemoryNeed(promptLenNeedle, 10_000_000, kvcache.Q4_0)
	if q4.KV != 576*int64(10_000_000+promptLenNeedle-1) || m[7] != memlimit.FormatBytes(q4.Total()) {
		t.Errorf("advice: q4_0 would need %s, want %s (KV %d)", m[7], memlimit.FormatBytes(q4.Total()), q4.KV)
	}
	if m[3] != fmt.Sprint(10_000_000+promptLenNeedle-1) {
		t.Errorf("KV cache for %s tokens, want %d", m[3], 10_000_000+promptLenNeedle-1)
	}
	// 7 prompt tokens and 8 new ones: a limit of 14 tokens, 2048 bytes each.
	if !strings.Contains(text, "GENERATED: 8 tokens, KV 28672 bytes") {
		t.Errorf("short generation under the limit did not report 8 tokens in 14 rows:\n%s", text)
	}
	t.Logf("child: %s", m[0])
}

// promptLenNeedle is the length of the child's prompt, BOS included.
var promptLenNeedle = len(needlePrompt) + 1

// needlePrompt is the prompt as token ids (stories260K's tok512 pieces are
// not needed: any ids in the vocabulary do).
var needlePrompt = []int{300, 400, 30, 50, 60, 70}

// generateChild is the child's body: it prints what Generate answered.
func generateChild() {
	dir := os.Getenv("THINKV_NEEDLE_DIR")
	e, err := Load(dir+"/needle.bin", dir+"/tok512.bin", 1_000_000_000)
	if err != nil {
		fmt.Println("LOAD:", err)
		return
	}
	defer e.Close()
	prompt := append([]int{e.Tok.BOS()}, needlePrompt...)
	if _, err := e.Generate(Request{Prompt: prompt, MaxNew: 10_000_000, KVType: kvcache.F16}); err != nil {
		fmt.Println("REFUSED:", err)
	} else {
		fmt.Println("GENERATED ten million tokens?")
	}
	res, err := e.Generate(Request{Prompt: prompt, MaxNew: 8, Sampling: Sampling{Temp: 0}, KVType: kvcache.F16})
	if err != nil {
		fmt.Println("SHORT:", err)
		return
	}
	fmt.Printf("GENERATED: %d tokens, KV %d bytes\n", len(res.Tokens), res.KVBytes)
}
