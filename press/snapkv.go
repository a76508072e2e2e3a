package press

import (
	"fmt"
	"math"

	"github.com/thinkv/thinkv/kvcache"
)

// snapKV keeps, per KV head, the earlier tokens the last window queries attend
// to most, plus the window itself. With pyramid set, the budget falls linearly
// with depth (PyramidKV) and averages budget over the layers.
type snapKV struct {
	a                      args
	name                   string
	budget, window, kernel int
	avg, pyramid           bool
	beta                   float64
}

func newSnapKV(a args, pyramid bool) (policy, error) {
	p := &snapKV{a: a, name: "snapkv", budget: a.int("budget"), window: a.int("window"), kernel: a.int("kernel"),
		avg: a.str("pool") == "avg", pyramid: pyramid}
	if pyramid {
		p.name, p.beta = "pyramidkv", a.float("beta")
	}
	if p.kernel%2 == 0 {
		return nil, fmt.Errorf("kernel must be odd (same padding), got %d", p.kernel)
	}
	return p, nil
}

// String returns the spec, "snapkv:" or "pyramidkv:" and every key.
func (p *snapKV) String() string { return p.a.spec(p.name) }

// Step does nothing: SnapKV compresses once, after prefill.
func (p *snapKV) Step(*kvcache.Cache) {}

// Needs asks for the last window queries of the prompt.
func (p *snapKV) Needs() *kvcache.Observation { return &kvcache.Observation{Window: p.window} }

// EvictsPerStep reports false: SnapKV and PyramidKV evict once, after prefill.
func (p *snapKV) EvictsPerStep() bool { return false }

// Prunes reports that SnapKV and PyramidKV prune no channels.
func (p *snapKV) Prunes() (keys, values bool) { return false, false }

// MaxBytes bounds Cache.Bytes() under SnapKV (PyramidKV): per head of layer
// l with budget S_l (S for SnapKV) and a prompt of P > S_l tokens, the
// prefill's R0 = max(P, min(64, P+N)) rows, then S_l + min(N, max(P, 64))
// after compression, growing to S_l + N by the last decoded token (growth
// never passes what the head may still hold); a layer whose budget holds
// the prompt stays a full cache of P+N rows. The most is the larger of the
// prefill and the end, Σ_l max(R0, min(P, S_l) + N) rows of keys and values:
// the transient full cache of prefill dominates while N < R0 − S_l.
func (p *snapKV) MaxBytes(cfg kvcache.Config, prompt, newTokens int) int64 {
	return boundOf(p, cfg, prompt, newTokens)
}

func (p *snapKV) reshape(ls *layout) {
	for l := range ls.layers {
		if b := p.layerBudget(l, len(ls.layers)); ls.layers[l].n > b {
			ls.keep(l, b, ls.reserve())
		}
	}
}

// layerBudget returns the token budget of layer l of L.
func (p *snapKV) layerBudget(l, layers int) int {
	if !p.pyramid || layers == 1 {
		return p.budget
	}
	span := float64(p.budget - p.window)
	lo := span / p.beta
	hi := 2*span - lo
	return p.window + int(math.Round(hi-float64(l)*(hi-lo)/float64(layers-1)))
}

// Compress keeps, per head over its layer's budget, the window and the
// earlier tokens the window attends to most, with room for the tokens to come.
func (p *snapKV) Compress(c *kvcache.Cache, obs *kvcache.Observation, heads int) error {
	cfg := c.Config()
	group := heads / cfg.KVHeads
	var sc scratch
	for l := 0; l < cfg.Layers; l++ {
		budget := p.layerBudget(l, cfg.Layers)
		for g := 0; g < cfg.KVHeads; g++ {
			h := c.Head(l, g)
			if h.Len() <= budget {
				continue
			}
			score := p.scores(&sc, h, obs, l, g, group, heads, cfg.HeadDim, c.Next())
			keep := topKeep(score, budget-(h.Len()-len(score)))
			for i := len(score); i < h.Len(); i++ {
				keep = append(keep, i)
			}
			if err := h.Keep(keep, c.Reserve()); err != nil {
				return err
			}
		}
	}
	return nil
}

// scores returns the pooled, group-averaged window attention of every cached
// token before the window (the window tokens are the rest of the cache).
func (p *snapKV) scores(sc *scratch, h *kvcache.Head, obs *kvcache.Observation, l, g, group, heads, d, promptLen int) []float32 {
	k := sc.keys(h, d)
	var score []float32
	for qh := g * group; qh < (g+1)*group; qh++ {
		q, first := window(obs, l, qh, heads, d, p.window, promptLen)
		probs := sc.windowProbs(q, first, k, h.Pos, d)
		m := 0
		for m < h.Len() && int(h.Pos[m]) < first {
			m++
		}
		v := make([]float32, m)
		w := len(q) / d
		for t := 0; t < w; t++ {
			for s := range v {
				v[s] += probs[t*h.Len()+s]
			}
		}
		v = pool1d(v, p.kernel, p.avg)
		if score == nil {
			score = make([]float32, m)
		}
		for s := range score {
			score[s] += v[s] / float32(group)
		}
	}
	return score
}
