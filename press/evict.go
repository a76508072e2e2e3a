package press

import (
	"fmt"

	"github.com/thinkv/thinkv/kvcache"
)

// h2o keeps heavy hitters: the tokens with the most attention accumulated over
// every prompt query, plus the recent most recent; while decoding it keeps the
// budget by evicting the lowest accumulated score among the older tokens.
type h2o struct {
	a              args
	budget, recent int
}

func newH2O(a args) (policy, error) {
	return &h2o{a: a, budget: a.int("budget"), recent: a.int("recent")}, nil
}

// String returns the spec, "h2o:" and every key.
func (p *h2o) String() string { return p.a.spec("h2o") }

// Needs asks for the attention each prompt token received (column sums).
func (p *h2o) Needs() *kvcache.Observation {
	return &kvcache.Observation{WantColSums: true}
}

// EvictsPerStep reports true: H2O evicts a token for each one decoded.
func (p *h2o) EvictsPerStep() bool { return true }

// Prunes reports that H2O prunes no channels.
func (p *h2o) Prunes() (keys, values bool) { return false, false }

// MaxBytes bounds Cache.Bytes() under H2O with budget B: with a prompt of
// P > B tokens, every head holds the prefill's R0 = max(P, min(64, P+N))
// rows, then B + min(1, N) for good (a token is evicted for each one
// decoded), so the transient full cache of prefill is the most:
// TokenBytes·max(R0, B+1). With P ≤ B the heads grow by doubling from R0
// (capped at P+N) until they hold min(P+N, B+1) rows, then stay.
func (p *h2o) MaxBytes(cfg kvcache.Config, prompt, newTokens int) int64 {
	return boundOf(p, cfg, prompt, newTokens)
}

func (p *h2o) reshape(ls *layout) { evictReshape(ls, p.budget, 0) }

// evictReshape is the shape of a Compress that limits the reserve to one
// row and keeps budget tokens of every head holding more, and then evicts
// down to budget after each decoded token, never one of the first pinned.
func evictReshape(ls *layout, budget, pinned int) {
	if !ls.evicts || pinned < ls.pinned {
		ls.pinned = pinned
	}
	ls.pin(pinned)
	ls.limitReserve(budget)
	for l := range ls.layers {
		if ls.layers[l].n > budget {
			ls.keep(l, budget, ls.reserve())
		}
	}
}

// Compress scores every token by its column sums over the group's query
// heads and keeps, per head over budget, the top budget−recent older ones
// and the recent ones, reserving one row (it evicts as it decodes).
//
// On a head it has scored before (chunked compression: Compress runs again
// after each chunk of a prompt), the scores stand as the forward pass has
// accumulated them since, every query's attention added to the tokens it
// saw, and the column sums are not read.
func (p *h2o) Compress(c *kvcache.Cache, obs *kvcache.Observation, heads int) error {
	cfg := c.Config()
	group := heads / cfg.KVHeads
	c.LimitReserve(1)
	for l := 0; l < cfg.Layers; l++ {
		for g := 0; g < cfg.KVHeads; g++ {
			h := c.Head(l, g)
			if h.Score == nil {
				if obs == nil || len(obs.ColSums) <= l {
					return fmt.Errorf("%s: the observation has no column sums for layer %d", p, l)
				}
				sums := obs.ColSums[l]
				n := len(sums) / heads
				h.Score = make([]float32, h.Len())
				for i, pos := range h.Pos {
					for qh := g * group; qh < (g+1)*group; qh++ {
						h.Score[i] += sums[qh*n+int(pos)]
					}
				}
			}
			if h.Len() <= p.budget {
				continue
			}
			old := h.Len() - p.recent
			keep := topKeep(h.Score[:old], p.budget-p.recent)
			for i := old; i < h.Len(); i++ {
				keep = append(keep, i)
			}
			if err := h.Keep(keep, c.Reserve()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Step evicts, from every head over budget, the older token with the lowest
// accumulated attention (ties: the later one goes).
func (p *h2o) Step(c *kvcache.Cache) {
	cfg := c.Config()
	for l := 0; l < cfg.Layers; l++ {
		for g := 0; g < cfg.KVHeads; g++ {
			h := c.Head(l, g)
			for h.Len() > p.budget && h.Score != nil {
				worst := 0
				for i, s := range h.Score[:h.Len()-p.recent] {
					if s <= h.Score[worst] {
						worst = i
					}
				}
				h.Evict(worst)
			}
		}
	}
}

// streaming is StreamingLLM: the first sink tokens and the last recent, at
// prefill and after every decoded token.
type streaming struct {
	a            args
	sink, recent int
}

func newStreaming(a args) (policy, error) {
	return &streaming{a: a, sink: a.int("sink"), recent: a.int("recent")}, nil
}

// String returns the spec, "streaming:" and every key.
func (p *streaming) String() string { return p.a.spec("streaming") }

// Needs returns nil: StreamingLLM needs no observation.
func (p *streaming) Needs() *kvcache.Observation { return nil }

// EvictsPerStep reports true: StreamingLLM evicts a token for each one decoded.
func (p *streaming) EvictsPerStep() bool { return true }

// Prunes reports that StreamingLLM prunes no channels.
func (p *streaming) Prunes() (keys, values bool) { return false, false }

// MaxBytes bounds Cache.Bytes() under StreamingLLM: H2O's bound with the
// budget sink + recent. With a prompt longer than that, the transient full
// cache of prefill is the most the sequence ever holds.
func (p *streaming) MaxBytes(cfg kvcache.Config, prompt, newTokens int) int64 {
	return boundOf(p, cfg, prompt, newTokens)
}

func (p *streaming) reshape(ls *layout) { evictReshape(ls, p.sink+p.recent, p.sink) }

// Compress keeps the first sink and the last recent tokens of every head
// over sink + recent, reserving one row (it evicts as it decodes).
func (p *streaming) Compress(c *kvcache.Cache, _ *kvcache.Observation, _ int) error {
	cfg := c.Config()
	c.LimitReserve(1)
	for l := 0; l < cfg.Layers; l++ {
		for g := 0; g < cfg.KVHeads; g++ {
			h := c.Head(l, g)
			if h.Len() <= p.sink+p.recent {
				continue
			}
			var keep []int
			for i := 0; i < h.Len(); i++ {
				if i < p.sink || i >= h.Len()-p.recent {
					keep = append(keep, i)
				}
			}
			if err := h.Keep(keep, c.Reserve()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Step evicts the oldest token after the sinks from every head over
// sink + recent.
func (p *streaming) Step(c *kvcache.Cache) {
	cfg := c.Config()
	for l := 0; l < cfg.Layers; l++ {
		for g := 0; g < cfg.KVHeads; g++ {
			for h := c.Head(l, g); h.Len() > p.sink+p.recent; {
				h.Evict(p.sink)
			}
		}
	}
}
