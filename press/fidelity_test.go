package press

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/thinkv/thinkv/kvcache"
)

// TestStoriesThinMatchesZeroFilled compresses the real stories260K cache of a
// 450-token prompt with snapkv+think+think-v, checks each step's choices against
// brute force on the model's own keys, values and window queries, then checks
// that attention over the thin cache equals attention over a full-width cache
// holding the same tokens zero-filled in the pruned channels (≤ 1e-5), and
// that decoding through both gives the same logits.
func TestStoriesThinMatchesZeroFilled(t *testing.T) {
	st := loadStories(t)
	m := st.m
	const steps, spec = 8, "snapkv:budget=128+think:ratio=0.5+think-v:ratio=0.25"
	c, s, obs := st.prefill(t, spec, kvcache.F32, promptLen+steps)
	f := snapshot(c, m.Heads, obs)
	if err := mustParse(t, spec).Compress(c, obs, m.Heads); err != nil {
		t.Fatal(err)
	}
	dense, _ := kvcache.New(c.Config())
	for l := range f.layers {
		for g := range f.kvh {
			h := c.Head(l, g)
			what := fmt.Sprintf("layer %d head %d", l, g)
			checkSnap(t, f, l, g, iota(0, f.n), nil, 0, 128, 32, 7, false)
			pos := positions(h)
			keys := rowsAt(f.k[l*f.kvh+g], pos, nil, 0)
			checkTop(t, what+" keys", f.keyScores(l, g, keys, 32), h.KeyKept, 4, 1e-6)
			nk, nv := h.Split()
			keys = rowsAt(f.k[l*f.kvh+g], pos, h.KeyKept, nk)
			vals := rowsAt(f.v[l*f.kvh+g], pos, nil, 0)
			checkTop(t, what+" values", f.valueScores(l, g, keys, vals, pos, 32), h.ValKept, 6, 1e-4)
			vals = rowsAt(f.v[l*f.kvh+g], pos, h.ValKept, nv)
			if nk != 96 || nv != 96 {
				t.Fatalf("%s: Split (%d,%d), want (96,96)", what, nk, nv)
			}
			for i, p := range pos {
				dense.Head(l, g).Append(p, toF32(keys[i]), toF32(vals[i]))
			}
			// Attention of the last prompt position's queries of the group.
			group := m.Heads / m.KVHeads
			for qh := g * group; qh < (g+1)*group; qh++ {
				q, _ := f.queries(l, qh, 1)
				out, probs := make([]float32, 8), make([]float32, len(pos))
				h.Attend(out, toF32(q[0]), len(pos), float32(1/math.Sqrt(8)), probs)
				want := make([]float64, 8)
				p := attn(q, keys, pos, f.n-1)[0]
				for i := range pos {
					for j := range want {
						want[j] += p[i] * vals[i][j]
					}
				}
				for j := range want {
					if math.Abs(float64(out[j])-want[j]) > 1e-5 {
						t.Fatalf("%s query head %d: thin attention[%d] = %v, zero-filled %v", what, qh, j, out[j], want[j])
					}
				}
			}
		}
	}
	dense.Advance(f.n)
	forced := []int{5, 300, 17, 44, 261, 403, 2, 99}
	thin := st.decode(t, s, c, nil, forced)
	full := st.decode(t, st.m.NewState(st.pool, 1), dense, nil, forced)
	var worst float64
	for i := range thin {
		for j := range thin[i] {
			worst = math.Max(worst, math.Abs(float64(thin[i][j]-full[i][j])))
		}
	}
	t.Logf("decode logits, thin vs zero-filled cache: max |diff| %.3g", worst)
	if worst > 1e-4 {
		t.Fatalf("thin and zero-filled caches decode differently: max |logit diff| %g", worst)
	}
}

// TestStoriesSnapThinKBytes: on the ≈450-token prompt, snapkv:budget=128 +
// think:ratio=0.5 holds the closed-form bytes, at most 0.82× those of
// snapkv:budget=128 (per head: keys 96·4 + (32+gen)·8, values (128+gen)·8,
// against 2·(128+gen)·8), and decoding gen tokens allocates nothing. It logs the
// fidelity of both against the full cache (KL, top-1 agreement) over 32
// teacher-forced tokens. ThinK runs with pack=0, the paper's decoding: the
// closed form keeps every decoded token's key full width.
func TestStoriesSnapThinKBytes(t *testing.T) {
	st := loadStories(t)
	const gen = 4
	elems := map[string]int{
		"snapkv:budget=128":                        2 * (128 + gen) * 8,
		"snapkv:budget=128+think:ratio=0.5,pack=0": 96*4 + (32+gen)*8 + (128+gen)*8,
	}
	bytes := map[string]int64{}
	for spec, perHead := range elems {
		p := mustParse(t, spec)
		c, s, obs := st.prefill(t, spec, kvcache.F16, promptLen+gen)
		if err := p.Compress(c, obs, st.m.Heads); err != nil {
			t.Fatal(err)
		}
		want := int64(5*4*perHead) * 2
		st.decode(t, s, c, p, []int{1, 2, 3, 4})
		if c.Bytes() != want {
			t.Fatalf("%s: Bytes %d after decoding, want closed form %d", spec, c.Bytes(), want)
		}
		bytes[spec] = c.Bytes()
	}
	ratio := float64(bytes["snapkv:budget=128+think:ratio=0.5,pack=0"]) / float64(bytes["snapkv:budget=128"])
	t.Logf("bytes: snapkv %d, snapkv+think %d, ratio %.4f", bytes["snapkv:budget=128"], bytes["snapkv:budget=128+think:ratio=0.5,pack=0"], ratio)
	if ratio > 0.82 {
		t.Fatalf("snapkv+think holds %.4f× the bytes of snapkv, want ≤ 0.82", ratio)
	}

	const forced = 32
	cont := st.prompt[promptLen-forced:] // teacher-forced continuation: replay the prompt's tail
	c, s, _ := st.prefill(t, "", kvcache.F16, promptLen+forced)
	ref := st.decode(t, s, c, nil, cont)
	for _, spec := range []string{"snapkv:budget=128", "snapkv:budget=128+think:ratio=0.5,pack=0", "snapkv:budget=128+think:ratio=0.5,pack=8"} {
		p := mustParse(t, spec)
		c, s, obs := st.prefill(t, spec, kvcache.F16, promptLen+forced)
		if err := p.Compress(c, obs, st.m.Heads); err != nil {
			t.Fatal(err)
		}
		var kl float64
		agree := 0
		for i, logits := range st.decode(t, s, c, p, cont) {
			kl += klDiv(ref[i], logits) / forced
			if argmax(ref[i]) == argmax(logits) {
				agree++
			}
		}
		t.Logf("%-36s mean KL %.5f, top-1 agreement %d/%d, %d bytes", spec, kl, agree, forced, c.Bytes())
		if math.IsNaN(kl) || kl < 0 {
			t.Fatalf("%s: KL %v", spec, kl)
		}
	}
}

// klDiv returns KL(softmax(p) ‖ softmax(q)) in nats.
func klDiv(p, q []float32) float64 {
	lp, lq := logSoftmax(p), logSoftmax(q)
	var kl float64
	for i := range lp {
		kl += math.Exp(lp[i]) * (lp[i] - lq[i])
	}
	return kl
}

func logSoftmax(x []float32) []float64 {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = math.Max(mx, float64(v))
	}
	var sum float64
	for _, v := range x {
		sum += math.Exp(float64(v) - mx)
	}
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v) - mx - math.Log(sum)
	}
	return out
}

func toF32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

// TestStoriesH2O runs H2O through the real model: the column sums prefill
// gathers match brute force over all prompt queries, the selection matches
// brute force on them, each decode step adds one unit of attention per query
// head to the head's scores, and Step evicts the older token with the lowest
// accumulated score (ties: the later) without reallocating.
func TestStoriesH2O(t *testing.T) {
	st := loadStories(t)
	m := st.m
	const n, steps, budget, recent = 200, 6, 64, 8
	c, _ := kvcache.New(kvcache.Config{Layers: m.Config.Layers, KVHeads: m.KVHeads, HeadDim: m.HeadDim, Type: kvcache.F32, Capacity: n + steps})
	s := m.NewState(st.pool, 64)
	obs := &kvcache.Observation{Window: n, WantColSums: true} // every prompt query, for brute force
	st.forward(t, s, c, st.prompt[:n], obs)
	f := snapshot(c, m.Heads, obs)
	group := m.Heads / m.KVHeads
	p := mustParse(t, fmt.Sprintf("h2o:budget=%d,recent=%d", budget, recent))
	older := make([][]float64, f.layers*f.kvh) // brute-force scores of the tokens before the recent ones
	for l := range f.layers {
		for g := range f.kvh {
			score := make([]float64, n)
			for qh := g * group; qh < (g+1)*group; qh++ {
				q, _ := f.queries(l, qh, n)
				want := make([]float64, n)
				for _, row := range attn(q, f.k[l*f.kvh+g], iota(0, n), 0) {
					for i, x := range row {
						want[i] += x
						score[i] += x
					}
				}
				assertNear(t, fmt.Sprintf("layer %d query head %d column sums", l, qh), obs.ColSums[l][qh*n:(qh+1)*n], want, 1e-4)
			}
			older[l*f.kvh+g] = score[:n-recent]
		}
	}
	if err := p.Compress(c, obs, m.Heads); err != nil {
		t.Fatal(err)
	}
	for l := range f.layers {
		for g := range f.kvh {
			got := positions(c.Head(l, g))
			checkTop(t, fmt.Sprintf("layer %d head %d", l, g), older[l*f.kvh+g], got[:budget-recent], budget-recent, 1e-5)
		}
	}
	bytes := c.Bytes()
	for step := range steps {
		before := make([]float64, f.layers*f.kvh)
		for i := range before {
			for _, x := range c.Head(i/f.kvh, i%f.kvh).Score {
				before[i] += float64(x)
			}
		}
		st.forward(t, s, c, []int{st.prompt[n+step]}, nil)
		var want [][]int
		for i := range before {
			h := c.Head(i/f.kvh, i%f.kvh)
			var after float64
			worst := 0
			for j, x := range h.Score {
				after += float64(x)
				if j < h.Len()-recent && x <= h.Score[worst] {
					worst = j
				}
			}
			if math.Abs(after-before[i]-float64(group)) > 1e-4 {
				t.Fatalf("step %d head %d: scores grew by %v, want %d", step, i, after-before[i], group)
			}
			pos := positions(h)
			want = append(want, append(pos[:worst:worst], pos[worst+1:]...))
		}
		p.Step(c)
		for i := range want {
			if got := positions(c.Head(i/f.kvh, i%f.kvh)); !slices.Equal(got, want[i]) {
				t.Fatalf("step %d head %d: positions %v, want %v", step, i, got, want[i])
			}
		}
	}
	if c.Bytes() != bytes || bytes != int64(f.layers*f.kvh*2*(budget+1)*m.HeadDim)*4 {
		t.Fatalf("Bytes %d then %d, want %d throughout", bytes, c.Bytes(), f.layers*f.kvh*2*(budget+1)*m.HeadDim*4)
	}
}

func assertNear(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > tol*math.Max(1, math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}
