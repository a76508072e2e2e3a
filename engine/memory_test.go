package engine

import (
	"fmt"
	"math"
	"math/bits"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/internal/memlimit"
	"github.com/thinkv/thinkv/internal/sharedtest"
	"github.com/thinkv/thinkv/kvcache"
)

// loadStories loads stories260K (llama2.c, F32 weights) with its context
// overridden to ctx.
func loadStories(t *testing.T, ctx int) *Engine {
	t.Helper()
	dir := sharedtest.Path(t, "models", "stories260K")
	e, err := Load(dir+"/stories260K.bin", dir+"/tok512.bin", ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func limits(l ...memlimit.Limit) func() []memlimit.Limit {
	return func() []memlimit.Limit { return l }
}

// TestCheckMemory checks the estimate against closed forms on stories260K
// with a context of a billion tokens (5 layers, 4 KV heads of 8 channels: an
// f16 cache takes 5·4·2·8·2 = 640 bytes a token) and the refusal against
// injected bounds: both numbers in the message, the tightest bound named,
// the weights counted as available under RLIMIT_AS, nothing refused at the
// exact boundary or without a bound.
func TestCheckMemory(t *testing.T) {
	e := loadStories(t, 1_000_000_000)
	m := e.Model
	if m.Config.Layers != 5 || m.KVHeads != 4 || m.HeadDim != 8 || m.Context != 1_000_000_000 {
		t.Fatalf("unexpected shape %+v", m.Config)
	}
	if got, want := e.WeightBytes(), 4*m.ParamCount(); got != want {
		t.Fatalf("WeightBytes %d, want 4·ParamCount = %d", got, want)
	}
	const prompt, maxNew = 10, 10_000_000
	need := e.MemoryNeed(prompt, maxNew, kvcache.F16)
	if need.Tokens != prompt+maxNew-1 || need.KV != 640*int64(prompt+maxNew-1) || need.Weights != 4*m.ParamCount() ||
		need.Scratch != m.StateBytes(e.Pool.Workers(), prompt, prompt+maxNew-1, kvcache.F16) {
		t.Fatalf("need %+v", need)
	}
	if total := need.Weights + need.KV + need.Scratch; need.Total() != total {
		t.Fatalf("Total %d, want %d", need.Total(), total)
	}
	if f32 := e.MemoryNeed(prompt, maxNew, kvcache.F32); f32.KV != 2*need.KV || f32.Scratch != need.Scratch {
		t.Fatalf("f32 KV %d, want twice %d; scratch %d, want %d", f32.KV, need.KV, f32.Scratch, need.Scratch)
	}
	// Attention's scratch grows over a blocked cache: the queries of a
	// prompt step (2 a token) as Q8 blocks, twice, and 64 value rows.
	for _, typ := range []kvcache.DType{kvcache.Q8_0, kvcache.Q4_0} {
		grow := int64(e.Pool.Workers()) * kvcache.BlockScratchBytes(2*prompt, 8)
		if n := e.MemoryNeed(prompt, maxNew, typ); n.Scratch != need.Scratch+grow || grow <= 0 {
			t.Fatalf("%s scratch %d, want f16's %d + %d", typ, n.Scratch, need.Scratch, grow)
		}
	}

	mem := memlimit.Limit{Source: "MemAvailable", Bytes: 1_000_000_000}
	e.Limits = limits(mem)
	err := e.CheckMemory(prompt, maxNew, kvcache.F16)
	want := fmt.Sprintf("this sequence needs about %s (weights %s + KV cache for 10000009 tokens 6.4 GB + scratch %s) "+
		"but 1.0 GB is available (MemAvailable); lower --ctx or -n, or use a compressing --press",
		memlimit.FormatBytes(need.Total()), memlimit.FormatBytes(need.Weights), memlimit.FormatBytes(need.Scratch))
	if err == nil || err.Error() != want {
		t.Fatalf("CheckMemory: %v\nwant %s", err, want)
	}
	if err := e.CheckMemory(prompt, maxNew, kvcache.F32); err == nil || !strings.HasSuffix(err.Error(),
		fmt.Sprintf("--press (--kv-type f16 alone would still need about %s)", memlimit.FormatBytes(need.Total()))) {
		t.Fatalf("f32: %v", err)
	}
	for _, tc := range []struct {
		l      []memlimit.Limit
		refuse string // "" : accepted
	}{
		{nil, ""},
		{[]memlimit.Limit{{Source: "MemAvailable", Bytes: need.Total()}}, ""},
		{[]memlimit.Limit{{Source: "MemAvailable", Bytes: need.Total() - 1}}, "is available (MemAvailable)"},
		{[]memlimit.Limit{{Source: "MemAvailable", Bytes: math.MaxInt64}, {Source: "cgroup v2 memory.max", Bytes: 1000, Max: 8e9, Used: 8e9 - 1000}},
			"but 1.0 kB is available (cgroup v2 memory.max 8.0 GB, 8.0 GB in use)"},
		// Under RLIMIT_AS the loaded weights are already mapped: only the
		// cache and scratch must still fit.
		{[]memlimit.Limit{{Source: "RLIMIT_AS", Bytes: need.KV + need.Scratch, Max: 2e10, Used: 1e9, AddressSpace: true}}, ""},
		{[]memlimit.Limit{{Source: "RLIMIT_AS", Bytes: need.KV + need.Scratch - 1, Max: 2e10, Used: 1e9, AddressSpace: true}},
			"is available (RLIMIT_AS 20.0 GB, 1.0 GB mapped, the weights among it)"},
	} {
		e.Limits = limits(tc.l...)
		err := e.CheckMemory(prompt, maxNew, kvcache.F16)
		if tc.refuse == "" && err != nil || tc.refuse != "" && (err == nil || !strings.Contains(err.Error(), tc.refuse)) {
			t.Errorf("limits %+v: %v, want refusal %q", tc.l, err, tc.refuse)
		}
	}

	// MaxNew is a most: a huge one is the rest of the context, without overflow.
	for _, tc := range []struct{ prompt, maxNew, want int }{
		{10, math.MaxInt, 1_000_000_000}, {10, 0, 10}, {10, 1, 10}, {10, 2, 11},
		{1_000_000_000, 5, 1_000_000_000}, {1_000_000_001, 5, 1_000_000_001},
	} {
		if got := e.SequenceLimit(tc.prompt, tc.maxNew); got != tc.want {
			t.Errorf("SequenceLimit(%d, %d) = %d, want %d", tc.prompt, tc.maxNew, got, tc.want)
		}
	}
	if n := e.MemoryNeed(10, math.MaxInt, kvcache.F16); n.KV != 640*1_000_000_000 {
		t.Fatalf("KV for the whole context %d", n.KV)
	}
}

// TestCheckMemoryTypeAdvice checks the --kv-type CheckMemory advises
// against the needs it computes, on stories260K (head_dim 8: rows of 16
// bytes in f16, 32 in f32, 34 in q8_0 and 18 in q4_0, one whole block) and
// the needle model (head_dim 64: 128, 256, 68 and 36 bytes): the most
// precise type with smaller rows whose need fits, else the smallest with
// what it would still need alone, nothing when no type has smaller rows.
func TestCheckMemoryTypeAdvice(t *testing.T) {
	const prompt, maxNew = 10, 100_000
	const tokens = prompt + maxNew - 1
	stories := loadStories(t, 1_000_000_000)
	needle, err := Load(sharedtest.Path(t, "models", "needle", "needle.gguf"), "", 1_000_000_000)
	if err != nil {
		t.Fatal(err)
	}
	defer needle.Close()
	for _, tc := range []struct {
		e        *Engine
		typ      kvcache.DType // the requested type
		availFor kvcache.DType // available: this type's need…
		less     int64         // …less this
		advice   string        // after "or use a compressing --press"; %s: availFor's need
	}{
		{stories, kvcache.F16, kvcache.F16, 1, ""},
		{stories, kvcache.F32, kvcache.F16, 0, " or --kv-type f16 (about %s)"},
		{stories, kvcache.F32, kvcache.F16, 1, " (--kv-type f16 alone would still need about %s)"},
		{stories, kvcache.Q8_0, kvcache.F32, 0, " or --kv-type f32 (about %s)"},
		{stories, kvcache.Q8_0, kvcache.Q4_0, 0, " or --kv-type f16 (about %s)"}, // f16's rows are smaller than q4_0's
		{stories, kvcache.Q4_0, kvcache.F16, 0, " or --kv-type f16 (about %s)"},
		{needle, kvcache.F16, kvcache.Q8_0, 0, " or --kv-type q8_0 (about %s)"},
		{needle, kvcache.F16, kvcache.Q8_0, 1, " or --kv-type q4_0 (about %s)"},
		{needle, kvcache.F32, kvcache.F16, 0, " or --kv-type f16 (about %s)"},
		{needle, kvcache.F16, kvcache.Q4_0, 1, " (--kv-type q4_0 alone would still need about %s)"},
		{needle, kvcache.Q4_0, kvcache.Q4_0, 1, ""},
	} {
		e, m := tc.e, tc.e.Model
		rows := map[kvcache.DType]int64{kvcache.F16: 16, kvcache.F32: 32, kvcache.Q8_0: 34, kvcache.Q4_0: 18}
		if m.HeadDim == 64 {
			rows = map[kvcache.DType]int64{kvcache.F16: 128, kvcache.F32: 256, kvcache.Q8_0: 68, kvcache.Q4_0: 36}
		}
		needs := map[kvcache.DType]MemoryNeed{}
		for typ, row := range rows {
			needs[typ] = e.MemoryNeed(prompt, maxNew, typ)
			if want := int64(m.Config.Layers*m.KVHeads*2) * row * tokens; needs[typ].KV != want {
				t.Fatalf("%s KV %d, want %d", typ, needs[typ].KV, want)
			}
		}
		avail := needs[tc.availFor].Total() - tc.less
		if tc.availFor == kvcache.Q8_0 && tc.less == 1 && needs[kvcache.Q4_0].Total() > avail {
			t.Fatalf("q4_0 needs %d, more than q8_0's %d", needs[kvcache.Q4_0].Total(), avail)
		}
		e.Limits = limits(memlimit.Limit{Source: "MemAvailable", Bytes: avail})
		err := e.CheckMemory(prompt, maxNew, tc.typ)
		advice := tc.advice
		if strings.Contains(advice, "%s") {
			named := kvcache.DType(-1)
			for typ := range rows {
				if strings.Contains(advice, "--kv-type "+typ.String()+" ") {
					named = typ
				}
			}
			advice = fmt.Sprintf(advice, memlimit.FormatBytes(needs[named].Total()))
		}
		want := fmt.Sprintf("this sequence needs about %s but %s is available (MemAvailable); lower --ctx or -n, or use a compressing --press%s",
			needs[tc.typ], memlimit.FormatBytes(avail), advice)
		if err == nil || err.Error() != want {
			t.Errorf("head_dim %d, %s with %s's need less %d available:\n got %v\nwant %s", m.HeadDim, tc.typ, tc.availFor, tc.less, err, want)
		}
	}
}

// TestGenerateRefuses: Generate checks memory before it allocates anything.
func TestGenerateRefuses(t *testing.T) {
	e := loadStories(t, 1_000_000_000)
	e.Limits = limits(memlimit.Limit{Source: "MemAvailable", Bytes: 100_000_000})
	_, err := e.Generate(Request{Prompt: []int{1, 2, 3}, MaxNew: 10_000_000})
	if err == nil || !strings.Contains(err.Error(), "KV cache for 10000002 tokens 6.4 GB") || !strings.Contains(err.Error(), "but 100.0 MB is available (MemAvailable)") {
		t.Fatalf("Generate: %v", err)
	}
}

// TestGenerateAllocatesWhatItUses generates greedily on stories260K with a
// context of a billion tokens and MaxNew ten million: the story ends (BOS)
// after a few hundred tokens, and the cache holds what doubling from the
// prompt gave those tokens (640 bytes a token), not the ten million allowed.
func TestGenerateAllocatesWhatItUses(t *testing.T) {
	e := loadStories(t, 1_000_000_000)
	e.Limits = limits() // no bound: the test must not depend on this machine's memory
	prompt := e.Tok.Encode("Once upon a time", e.Tok.AddBOS())
	const maxNew = 10_000_000
	res, err := e.Generate(Request{Prompt: prompt, MaxNew: maxNew, Sampling: Sampling{Temp: 0}, KVType: kvcache.F16})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stop != "eos" || len(res.Tokens) > 1000 {
		t.Fatalf("stop %q after %d tokens, want an end of story", res.Stop, len(res.Tokens))
	}
	run := len(prompt) + len(res.Tokens) - 1 // tokens through the model
	rows := max(len(prompt), 64) << bits.Len(uint((run-1)/max(len(prompt), 64)))
	if want := 640 * int64(rows); res.KVBytes != want {
		t.Fatalf("KVBytes %d after %d tokens, want %d (%d rows)", res.KVBytes, run, want, rows)
	}
	if want := 640 * int64(len(prompt)+maxNew-1); res.KVBytesFull != want {
		t.Fatalf("KVBytesFull %d, want %d", res.KVBytesFull, want)
	}
	t.Logf("%d prompt + %d generated tokens: KV %d bytes (an up-front cache: %d)", len(prompt), len(res.Tokens), res.KVBytes, res.KVBytesFull)
}
