package model

import (
	"reflect"
	"runtime"
	"runtime/debug"
	"testing"
	"unsafe"

	"github.com/thinkv/thinkv/internal/sharedtest"
	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/kvcache"
)

// raceEnabled is set when the race detector is on (race_test.go).
var raceEnabled bool

// stateBytes sums the bytes of every buffer a State holds.
func stateBytes(s *State) int64 {
	f := func(x ...[]float32) (n int64) {
		for _, v := range x {
			n += 4 * int64(cap(v))
		}
		return n
	}
	n := f(s.x, s.xb, s.q, s.k, s.v, s.att, s.hb, s.hu, s.logits, s.rot) + 8*int64(cap(s.freqs))
	n += int64(cap(s.seqs))*int64(unsafe.Sizeof(seq{})) + int64(cap(s.out))*int64(unsafe.Sizeof([]float32(nil))) +
		int64(cap(s.tasks))*int64(unsafe.Sizeof(span{})) + int64(cap(s.splits))*int64(unsafe.Sizeof(split{})) +
		8*int64(cap(s.lim)) + 8*int64(cap(s.parts))
	if len(s.parts) > 0 { // each NewPartial(group, HeadDim)
		n += int64(len(s.parts)) * kvcache.PartialBytes(len(s.lim), len(s.work[0].row))
	}
	for _, w := range s.work {
		n += f(w.q, w.out, w.lse, w.probs, w.row) + 8*int64(cap(w.lim))
		n += scratchBytes(w.scratch)
	}
	return n
}

// scratchBytes sums the capacities of a Scratch's slices (the buffers it
// owns; its other fields are views of them): what it holds, grown buffers
// included.
func scratchBytes(s *kvcache.Scratch) int64 {
	v := reflect.ValueOf(s).Elem()
	var n int64
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Slice {
			n += int64(f.Cap()) * int64(f.Type().Elem().Size())
		}
	}
	return n
}

// TestStateNotSizedByContext checks that StateBytes gives what NewState
// allocates exactly (its per-token term being the attention weights a worker
// grows to), with nothing sized by the context.
func TestStateNotSizedByContext(t *testing.T) {
	for _, tc := range []struct {
		cfg                    Config
		workers, batch, tokens int
	}{
		{Config{Dim: 64, Hidden: 172, Layers: 5, Heads: 8, KVHeads: 4, HeadDim: 8, Vocab: 512, RopeDim: 8, Context: 1 << 30}, 3, 256, 0},
		{Config{Dim: 512, Hidden: 1024, Layers: 2, Heads: 4, KVHeads: 1, HeadDim: 128, Vocab: 256, RopeDim: 64, Context: 1}, 2, 1, 0},
		{Config{Dim: 256, Hidden: 768, Layers: 4, Heads: 4, KVHeads: 2, HeadDim: 64, Vocab: 512, RopeDim: 64, Context: 1 << 30}, 1, 7, 1000},
	} {
		m := &Model{Config: tc.cfg}
		s := m.NewState(kernels.NewPool(tc.workers), tc.batch)
		for _, w := range s.work {
			w.probs = make([]float32, 2*tc.cfg.Heads/tc.cfg.KVHeads*tc.tokens) // as attendBlock grows it, at worst
		}
		s.rot = make([]float32, 2*tc.tokens*tc.cfg.RopeDim) // as rope grows it, at worst
		if got, want := stateBytes(s), m.StateBytes(tc.workers, tc.batch, tc.tokens, kvcache.F16); got != want {
			t.Errorf("%+v: State holds %d bytes, StateBytes says %d", tc, got, want)
		}
		if got := stateBytes(s); got > 16<<20 {
			t.Errorf("%+v: State holds %d bytes", tc, got)
		}
	}
}

// TestStateBlockScratch runs prompts into q8_0 and q4_0 caches whose keys
// are channel-pruned, so that attention prepares both the queries and the
// queries gathered to the kept channels as Q8 blocks, and checks what each
// worker's scratch holds afterwards against StateBytes: on stories260K
// (head_dim 8, group 2) with steps of 16 tokens, one attention call takes
// the scratch's 32 queries and its rows are not whole blocks (values are
// dequantized a block of 64 rows at a time), so the scratch holds exactly
// ScratchBytes + BlockScratchBytes and the State exactly StateBytes less
// the attention weights and RoPE rows it has not grown to; on needle
// (head_dim 64, rows of whole blocks) and with two workers it holds at most
// that. Over f16 nothing grows, and StateBytes differs from the blocked
// types' by the workers' BlockScratchBytes only.
func TestStateBlockScratch(t *testing.T) {
	for _, tc := range []struct {
		model          []string
		workers, batch int
		exact          bool
	}{
		{[]string{"stories260K", "stories260K.bin"}, 1, 16, true},
		{[]string{"stories260K", "stories260K.bin"}, 2, 64, false},
		{[]string{"needle", "needle.gguf"}, 1, 16, false},
		{[]string{"needle", "needle.gguf"}, 2, 256, false},
	} {
		m, _, err := Load(sharedtest.Path(t, "models", tc.model[0], tc.model[1]), 512)
		if err != nil {
			t.Fatal(err)
		}
		pool := kernels.NewPool(tc.workers)
		queries := m.Heads / m.KVHeads * tc.batch
		const tokens = 300
		prompt := make([]int, tokens)
		for i := range prompt {
			prompt[i] = (i*37 + 3) % m.Vocab
		}
		for _, typ := range []kvcache.DType{kvcache.F16, kvcache.Q8_0, kvcache.Q4_0} {
			c, _ := kvcache.New(kvcache.Config{Layers: m.Config.Layers, KVHeads: m.KVHeads, HeadDim: m.HeadDim, Type: typ, Capacity: 512})
			s := m.NewState(pool, tc.batch)
			if _, err := m.Forward(s, c, prompt[:200], false, nil); err != nil {
				t.Fatal(err)
			}
			for l := range m.Config.Layers {
				for g := range m.KVHeads {
					if err := c.Head(l, g).PruneKeys([]int{0, 3, 5}, 8, tokens-200); err != nil {
						t.Fatal(err)
					}
				}
			}
			if _, err := m.Forward(s, c, prompt[200:], false, nil); err != nil {
				t.Fatal(err)
			}
			est := m.StateBytes(tc.workers, tc.batch, tokens, typ)
			base := kvcache.ScratchBytes(queries, m.HeadDim)
			grow := kvcache.BlockScratchBytes(queries, m.HeadDim)
			if typ == kvcache.F16 {
				grow = 0
			} else if diff := est - m.StateBytes(tc.workers, tc.batch, tokens, kvcache.F16); diff != int64(tc.workers)*grow {
				t.Errorf("%s %s: StateBytes exceeds f16's by %d, want %d workers × %d", tc.model[0], typ, diff, tc.workers, grow)
			}
			held := stateBytes(s)
			// What the State has not grown to: attention weights (none
			// accumulated), RoPE rows, and scratch below the most.
			unused := 4*(2*int64(m.Heads/m.KVHeads)*tokens*int64(tc.workers)+2*tokens*int64(m.RopeDim)) - 4*int64(cap(s.rot))
			for w, wk := range s.work {
				unused -= 4 * int64(cap(wk.probs))
				got := scratchBytes(wk.scratch)
				if got > base+grow || typ == kvcache.F16 && got != base || tc.exact && got != base+grow {
					t.Errorf("%s %s, %d workers of %d tokens: worker %d's scratch holds %d bytes, want %d + at most %d (exactly: %v)",
						tc.model[0], typ, tc.workers, tc.batch, w, got, base, grow, tc.exact)
				}
				unused += base + grow - got
			}
			if held+unused != est {
				t.Errorf("%s %s: the State holds %d bytes (+ %d not grown to), StateBytes says %d", tc.model[0], typ, held, unused, est)
			}
			t.Logf("%s %s, %d workers × %d tokens: State %d bytes, StateBytes %d (block scratch %d a worker)", tc.model[0], typ, tc.workers, tc.batch, held, est, grow)
		}
		pool.Close()
		m.Close()
	}
}

// TestDecodeSteadyState decodes on stories260K with attention weights
// accumulated (as H2O does, so every step fills the per-worker weights buffer)
// against a cache whose limit is a billion tokens: the cache grows by doubling
// (prompt 100 → 200 → 400 → 800 rows) and so does the weights buffer (101 →
// 202 → 404 → 808), and between growths a decode step allocates nothing.
func TestDecodeSteadyState(t *testing.T) {
	m, _, err := Load(sharedtest.Path(t, "models", "stories260K", "stories260K.bin"), 1_000_000_000)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cfg := kvcache.Config{Layers: m.Config.Layers, KVHeads: m.KVHeads, HeadDim: m.HeadDim, Type: kvcache.F16, Capacity: 1_000_000_000}
	c, _ := kvcache.New(cfg)
	prompt := make([]int, 100)
	for i := range prompt {
		prompt[i] = (i*37 + 3) % m.Vocab
	}
	if _, err := m.Forward(m.NewState(nil, 64), c, prompt, false, nil); err != nil {
		t.Fatal(err)
	}
	if want := cfg.TokenBytes() * 100; c.Bytes() != want {
		t.Fatalf("after the prompt Bytes %d, want %d", c.Bytes(), want)
	}
	for l := range cfg.Layers {
		for g := range cfg.KVHeads {
			h := c.Head(l, g)
			h.Score = make([]float32, h.Len(), 2*h.Len())
		}
	}
	s := m.NewState(nil, 1)
	step := func() {
		s.Token[0] = c.Next() % m.Vocab
		if _, err := m.Forward(s, c, s.Token[:], false, nil); err != nil {
			t.Fatal(err)
		}
	}
	var ms runtime.MemStats
	for c.Next() < 406 {
		step()
	}
	if want := cfg.TokenBytes() * 800; c.Bytes() != want {
		t.Fatalf("after %d tokens Bytes %d, want %d", c.Next(), c.Bytes(), want)
	}
	// As testing.AllocsPerRun: one P, so that the matrix kernels' sync.Pool
	// does not grow a per-P chain when the goroutine moves, and no collection
	// in the window (a cycle allocates for its workers and empties the pools).
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	step() // refill the pools the collection emptied
	step()
	runtime.ReadMemStats(&ms)
	before := ms.Mallocs
	for c.Next() < 800 {
		step()
	}
	runtime.ReadMemStats(&ms)
	if n := ms.Mallocs - before; n != 0 && !raceEnabled {
		t.Errorf("%d allocations over 392 decode steps that needed no growth", n)
	}
	if want := cfg.TokenBytes() * 800; c.Bytes() != want {
		t.Fatalf("after %d tokens Bytes %d, want %d", c.Next(), c.Bytes(), want)
	}
}

// TestStepSteadyState checks that a batched decode step over several
// sequences allocates nothing once their caches have room, H2O-style
// attention weights included.
func TestStepSteadyState(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under the race detector")
	}
	m, _, err := Load(sharedtest.Path(t, "models", "stories260K", "stories260K.bin"), 512)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	pool := kernels.NewPool(2)
	defer pool.Close()
	cfg := kvcache.Config{Layers: m.Config.Layers, KVHeads: m.KVHeads, HeadDim: m.HeadDim, Type: kvcache.F16, Capacity: 512}
	rows := make([]Row, 4)
	prompt := make([]int, 100)
	for i := range rows {
		c, _ := kvcache.New(cfg)
		if _, err := m.Forward(m.NewState(pool, 64), c, prompt[:10+20*i], false, nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Grow(100); err != nil { // room for the steps below
			t.Fatal(err)
		}
		if i%2 == 1 {
			for l := range cfg.Layers {
				for g := range cfg.KVHeads {
					h := c.Head(l, g)
					h.Score = make([]float32, h.Len(), 256)
				}
			}
		}
		rows[i] = Row{Cache: c, Tokens: []int{i + 1}, Logits: true}
	}
	s := m.NewState(pool, len(rows))
	step := func() {
		if _, err := m.Step(s, rows); err != nil {
			t.Fatal(err)
		}
	}
	step()
	if n := testing.AllocsPerRun(40, step); n != 0 {
		t.Errorf("%v allocations per batched decode step", n)
	}
}
