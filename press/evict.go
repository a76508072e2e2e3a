package press

import "github.com/thinkv/thinkv/kvcache"

// h2o keeps heavy hitters: the tokens with the most attention accumulated over
// every prompt query, plus the recent most recent; while decoding it keeps the
// budget by evicting the lowest accumulated score among the older tokens.
type h2o struct {
	a              args
	budget, recent int
}

func newH2O(a args) (Press, error) {
	return &h2o{a: a, budget: a.int("budget"), recent: a.int("recent")}, nil
}

func (p *h2o) String() string { return p.a.spec("h2o") }
func (p *h2o) Needs() *kvcache.Observation {
	return &kvcache.Observation{WantColSums: true}
}

func (p *h2o) Compress(c *kvcache.Cache, obs *kvcache.Observation, heads int) error {
	cfg := c.Config()
	group := heads / cfg.KVHeads
	c.LimitReserve(1)
	for l := 0; l < cfg.Layers; l++ {
		sums := obs.ColSums[l]
		n := len(sums) / heads
		for g := 0; g < cfg.KVHeads; g++ {
			h := c.Head(l, g)
			h.Score = make([]float32, h.Len())
			for i, pos := range h.Pos {
				for qh := g * group; qh < (g+1)*group; qh++ {
					h.Score[i] += sums[qh*n+int(pos)]
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

func newStreaming(a args) (Press, error) {
	return &streaming{a: a, sink: a.int("sink"), recent: a.int("recent")}, nil
}

func (p *streaming) String() string              { return p.a.spec("streaming") }
func (p *streaming) Needs() *kvcache.Observation { return nil }

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
