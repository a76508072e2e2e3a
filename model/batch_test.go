package model_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/model"
	"github.com/thinkv/thinkv/press"
)

// newCache makes an f16 cache for m holding up to capacity tokens.
func newCache(t testing.TB, m *model.Model, capacity int) *kvcache.Cache {
	t.Helper()
	c, err := kvcache.New(kvcache.Config{Layers: m.Config.Layers, KVHeads: m.KVHeads, HeadDim: m.HeadDim, Type: kvcache.F16, Capacity: capacity})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// parsePress parses a press spec (nil for none).
func parsePress(t testing.TB, spec string) press.Press {
	t.Helper()
	p, err := press.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// observation returns what p needs while prefilling a prompt of n tokens:
// at least the prompt's length, so that the cache is allocated exactly
// however the prompt is chunked.
func observation(p press.Press, n int) *kvcache.Observation {
	var obs *kvcache.Observation
	if p != nil {
		obs = p.Needs()
	}
	if obs == nil {
		obs = &kvcache.Observation{}
	}
	obs.Prompt = n
	return obs
}

// prefill runs prompt into a new cache with Forward in chunks of chunk
// tokens, then compresses it with p; it returns the cache and the last prompt
// token's logits.
func prefill(t testing.TB, m *model.Model, s *model.State, p press.Press, prompt []int, chunk, capacity int) (*kvcache.Cache, []float32) {
	t.Helper()
	c := newCache(t, m, capacity)
	obs := observation(p, len(prompt))
	var logits []float32
	for lo := 0; lo < len(prompt); lo += chunk {
		out, err := m.Forward(s, c, prompt[lo:min(lo+chunk, len(prompt))], false, obs)
		if err != nil {
			t.Fatal(err)
		}
		logits = append(logits[:0], out...)
	}
	if obs.Done != len(prompt) || obs.Prompt != len(prompt) {
		t.Fatalf("observation saw %d of %d prompt tokens, want %d", obs.Done, obs.Prompt, len(prompt))
	}
	if p != nil {
		if err := p.Compress(c, obs, m.Heads); err != nil {
			t.Fatal(err)
		}
	}
	return c, logits
}

// decode runs the forced tokens one at a time through c under p and returns
// the logits after each.
func decode(t testing.TB, m *model.Model, s *model.State, c *kvcache.Cache, p press.Press, forced []int) [][]float32 {
	t.Helper()
	var out [][]float32
	for _, tok := range forced {
		logits, err := m.Forward(s, c, []int{tok}, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if p != nil {
			p.Step(c)
		}
		out = append(out, append([]float32(nil), logits...))
	}
	return out
}

// sameBits reports where two float32 slices first differ bit for bit (-1: nowhere).
func sameBits(a, b []float32) int {
	if len(a) != len(b) {
		return 0
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// sameCache fails t unless a and b hold the same tokens, channels, bytes and
// values, bit for bit.
func sameCache(t *testing.T, what string, a, b *kvcache.Cache) {
	t.Helper()
	if a.Next() != b.Next() || a.Bytes() != b.Bytes() || a.HeldBytes() != b.HeldBytes() {
		t.Fatalf("%s: next %d/%d, bytes %d/%d, held %d/%d", what, a.Next(), b.Next(), a.Bytes(), b.Bytes(), a.HeldBytes(), b.HeldBytes())
	}
	cfg := a.Config()
	ra, rb := make([]float32, cfg.HeadDim), make([]float32, cfg.HeadDim)
	for l := range cfg.Layers {
		for g := range cfg.KVHeads {
			ha, hb := a.Head(l, g), b.Head(l, g)
			where := fmt.Sprintf("%s: layer %d head %d", what, l, g)
			if fmt.Sprint(ha.Pos, ha.KeyKept, ha.ValKept) != fmt.Sprint(hb.Pos, hb.KeyKept, hb.ValKept) {
				t.Fatalf("%s: positions or kept channels differ:\n%v %v %v\n%v %v %v", where, ha.Pos, ha.KeyKept, ha.ValKept, hb.Pos, hb.KeyKept, hb.ValKept)
			}
			ka, va := ha.Split()
			kb, vb := hb.Split()
			if ka != kb || va != vb || ha.Bytes() != hb.Bytes() {
				t.Fatalf("%s: split %d,%d/%d,%d bytes %d/%d", where, ka, va, kb, vb, ha.Bytes(), hb.Bytes())
			}
			if i := sameBits(ha.Score, hb.Score); i >= 0 {
				t.Fatalf("%s: accumulated attention differs at %d", where, i)
			}
			for i := range ha.Len() {
				ha.Key(ra, i)
				hb.Key(rb, i)
				if sameBits(ra, rb) >= 0 {
					t.Fatalf("%s: key %d differs", where, i)
				}
				ha.Value(ra, i)
				hb.Value(rb, i)
				if sameBits(ra, rb) >= 0 {
					t.Fatalf("%s: value %d differs", where, i)
				}
			}
		}
	}
}

// textTokens returns n token ids that are not all alike.
func textTokens(n, vocab, seed int) []int {
	t := make([]int, n)
	for i := range t {
		t[i] = 1 + (i*7919+seed*104729+(i*i)%97)%(vocab-1)
	}
	return t
}

// chunkPresses are the presses the chunked-prefill test runs: every kind and
// the compositions of eviction with ThinK, with budgets under its prompt.
var chunkPresses = []string{
	"none",
	"snapkv:budget=64,window=16",
	"pyramidkv:budget=64,window=16",
	"h2o:budget=64,recent=16",
	"streaming:sink=4,recent=60",
	"think:ratio=0.5,window=16",
	"think-v:ratio=0.5,window=16",
	"snapkv:budget=64,window=16+think:ratio=0.5,window=16",
	"h2o:budget=64,recent=16+think:ratio=0.5",
}

// TestChunkedPrefillPresses prefills a 203-token prompt in chunks of 1, 7, 64
// and the whole prompt under every press, and checks that each chunking
// leaves the same compressed cache, bit for bit, and the same logits after
// the prompt and for 8 tokens decoded afterwards.
func TestChunkedPrefillPresses(t *testing.T) {
	m := loadStories(t, false)
	pool := kernels.NewPool(0)
	prompt, forced := textTokens(203, m.Vocab, 1), textTokens(8, m.Vocab, 2)
	s, s1 := m.NewState(pool, 256), m.NewState(pool, 1)
	for _, spec := range chunkPresses {
		want, wantLast := prefill(t, m, s, parsePress(t, spec), prompt, len(prompt), 256)
		decoded, _ := prefill(t, m, s, parsePress(t, spec), prompt, len(prompt), 256)
		wantDec := decode(t, m, s1, decoded, parsePress(t, spec), forced)
		if spec != "none" && want.HeldBytes() >= newCache(t, m, 1).Config().TokenBytes()*int64(len(prompt)) {
			t.Fatalf("%s compressed nothing", spec)
		}
		for _, chunk := range []int{1, 7, 64} {
			what := fmt.Sprintf("%s in chunks of %d", spec, chunk)
			p := parsePress(t, spec)
			c, last := prefill(t, m, s, p, prompt, chunk, 256)
			if i := sameBits(last, wantLast); i >= 0 {
				t.Errorf("%s: prompt logits differ at %d: %v, want %v", what, i, last[i], wantLast[i])
			}
			sameCache(t, what, c, want)
			for i, got := range decode(t, m, s1, c, p, forced) {
				if j := sameBits(got, wantDec[i]); j >= 0 {
					t.Errorf("%s: logits of decoded token %d differ at %d: %v, want %v", what, i, j, got[j], wantDec[i][j])
				}
			}
			sameCache(t, what+" after decoding", c, decoded)
		}
	}
}

// stepSeq is one sequence of a batched run: a prompt prefilled in chunks
// under a press, then forced tokens decoded one per step.
type stepSeq struct {
	press         string
	prompt, chunk int // prompt length, tokens per prefill step
	start         int // the step it joins at
}

// TestStepMatchesAlone steps sequences of mixed prompt lengths, chunk sizes
// and presses together (in most steps some rows prefill several tokens
// while others decode one) and checks that every sequence's logits and cache
// are bit-identical to running it alone with Forward: the whole prompt at
// once, then one token at a time.
func TestStepMatchesAlone(t *testing.T) {
	seqs := []stepSeq{
		{"none", 37, 37, 0},
		{"snapkv:budget=48,window=8", 150, 16, 0},
		{"h2o:budget=40,recent=8", 120, 7, 2},
		{"streaming:sink=4,recent=24", 9, 3, 5},
		{"think:ratio=0.5,window=8", 90, 64, 3},
		{"snapkv:budget=48,window=8+think:ratio=0.5,window=8", 200, 50, 1},
		{"h2o:budget=40,recent=8+think-v:ratio=0.25", 64, 1, 0},
		{"none", 1, 1, 9},
	}
	for _, name := range []string{"stories260K", "needle"} {
		t.Run(name, func(t *testing.T) {
			var m *model.Model
			if name == "needle" {
				m = benchModel(t, "models", "needle", "needle.gguf")
			} else {
				m = loadStories(t, false)
			}
			stepMatchesAlone(t, m, seqs, 12)
		})
	}
}

// stepMatchesAlone runs seqs, each decoding n forced tokens after its prompt.
func stepMatchesAlone(t *testing.T, m *model.Model, seqs []stepSeq, n int) {
	pool := kernels.NewPool(0)
	const capacity = 256
	type run struct {
		stepSeq
		p       press.Press
		c       *kvcache.Cache
		obs     *kvcache.Observation
		tokens  []int // prompt, then forced
		done    int   // tokens run
		logits  [][]float32
		started bool
	}
	runs := make([]*run, len(seqs))
	batch := 0
	for i, q := range seqs {
		r := &run{stepSeq: q, p: parsePress(t, q.press), c: newCache(t, m, capacity)}
		r.tokens = textTokens(q.prompt+n, m.Vocab, i)
		r.obs = observation(r.p, q.prompt)
		runs[i] = r
		batch += q.chunk
	}
	s := m.NewState(pool, batch)
	rows := make([]model.Row, 0, len(runs))
	var active []*run
	mixed := 0 // steps where a row prefills several tokens beside a decoding row
	for step := 0; ; step++ {
		rows, active = rows[:0], active[:0]
		for _, r := range runs {
			if r.start > step || r.done == len(r.tokens) {
				continue
			}
			k := 1
			if r.done < r.prompt {
				k = min(r.chunk, r.prompt-r.done)
			}
			row := model.Row{Cache: r.c, Tokens: r.tokens[r.done : r.done+k], Logits: r.done+k >= r.prompt}
			if r.done < r.prompt {
				row.Obs = r.obs
			}
			rows, active = append(rows, row), append(active, r)
		}
		if len(rows) == 0 {
			break
		}
		long, one := false, false
		for i, r := range active {
			long = long || len(rows[i].Tokens) > 1
			one = one || r.done >= r.prompt
		}
		if long && one {
			mixed++
		}
		out, err := m.Step(s, rows)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range active {
			prefilling := r.done < r.prompt
			r.done += len(rows[i].Tokens)
			if (out[i] != nil) != rows[i].Logits {
				t.Fatalf("step %d row %d: logits %v, asked %v", step, i, out[i] != nil, rows[i].Logits)
			}
			if out[i] != nil {
				r.logits = append(r.logits, append([]float32(nil), out[i]...))
			}
			switch {
			case r.p == nil:
			case !prefilling:
				r.p.Step(r.c)
			case r.done == r.prompt:
				if err := r.p.Compress(r.c, r.obs, m.Heads); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if mixed < 3 {
		t.Fatalf("only %d steps mixed prefill and decode rows", mixed)
	}
	t.Logf("%d sequences, %d steps mixing prefill and decode rows", len(runs), mixed)
	s1 := m.NewState(pool, 1)
	for i, r := range runs {
		p := parsePress(t, r.press)
		c, last := prefill(t, m, m.NewState(pool, 256), p, r.tokens[:r.prompt], r.prompt, capacity)
		want := append([][]float32{last}, decode(t, m, s1, c, p, r.tokens[r.prompt:])...)
		if len(r.logits) != len(want) {
			t.Fatalf("sequence %d (%s): %d logits, want %d", i, r.press, len(r.logits), len(want))
		}
		for j := range want {
			if k := sameBits(r.logits[j], want[j]); k >= 0 {
				t.Errorf("sequence %d (%s): logits %d differ at %d: %v, want %v", i, r.press, j, k, r.logits[j][k], want[j][k])
			}
		}
		sameCache(t, fmt.Sprintf("sequence %d (%s)", i, r.press), r.c, c)
	}
}

// TestStepErrors checks that bad steps are clear errors that change nothing.
func TestStepErrors(t *testing.T) {
	m := loadStories(t, false)
	s := m.NewState(nil, 8)
	a, b := newCache(t, m, 64), newCache(t, m, 64)
	if _, err := m.Forward(s, b, []int{1, 2, 3}, false, nil); err != nil {
		t.Fatal(err)
	}
	started := &kvcache.Observation{Window: 2, Prompt: 10}
	if _, err := m.Forward(s, a, []int{1, 2, 3}, false, started); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rows []model.Row
		want string
	}{
		{nil, "at least one row"},
		{[]model.Row{{Cache: a}}, "row 0: model: no tokens"},
		{[]model.Row{{Tokens: []int{1}}}, "row 0: model: no cache"},
		{[]model.Row{{Cache: a, Tokens: []int{1}}, {Cache: b, Tokens: []int{m.Vocab}}}, "row 1: model: token id 512 outside"},
		{[]model.Row{{Cache: a, Tokens: []int{1}}, {Cache: a, Tokens: []int{2}}}, "rows 0 and 1 are the same sequence"},
		{[]model.Row{{Cache: a, Tokens: make([]int, 5)}, {Cache: b, Tokens: make([]int, 4)}}, "step of 9 tokens exceeds the state's batch of 8"},
		{[]model.Row{{Cache: b, Tokens: make([]int, 62)}}, "exceed the context"},
		{[]model.Row{{Cache: b, Tokens: []int{1}, Obs: &kvcache.Observation{Window: 4}}}, "observation follows a prompt from position 0"},
		{[]model.Row{{Cache: a, Tokens: make([]int, 8), Obs: started}}, "run past the observed prompt of 10"},
		{[]model.Row{{Cache: newCache(t, m, 64), Tokens: []int{1}, Obs: &kvcache.Observation{Prompt: 65}}}, "observed prompt of 65 tokens"},
		{[]model.Row{{Cache: newCache(t, m, 64), Tokens: []int{1}, Obs: &kvcache.Observation{Window: -1}}}, "window -1"},
	} {
		_, err := m.Step(s, tc.rows)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%d rows: got %v, want an error with %q", len(tc.rows), err, tc.want)
		}
		if a.Next() != 3 || b.Next() != 3 || started.Done != 3 {
			t.Fatalf("a failed step changed the caches or observation: %d %d %d", a.Next(), b.Next(), started.Done)
		}
	}
	// The rest of the prompt in the right place is fine, and the observation is then complete.
	if _, err := m.Step(s, []model.Row{{Cache: a, Tokens: make([]int, 7), Obs: started}, {Cache: b, Tokens: []int{4}}}); err != nil {
		t.Fatal(err)
	}
	if started.Done != 10 || len(started.Queries[0]) != 2*m.Dim {
		t.Fatalf("observation saw %d tokens with %d query floats", started.Done, len(started.Queries[0]))
	}
}
