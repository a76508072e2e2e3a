package press

import (
	"fmt"
	"strings"

	"github.com/thinkv/thinkv/kvcache"
)

// composed applies presses left to right.
type composed []Press

func newComposed(parts []Press) (Press, error) {
	keys, values := 0, 0
	for _, p := range parts {
		if t, ok := p.(*thinK); ok {
			if t.values {
				values++
			} else {
				keys++
			}
		}
	}
	if keys > 1 || values > 1 {
		return nil, fmt.Errorf("think and think-v may each appear once")
	}
	return composed(parts), nil
}

func (c composed) String() string {
	s := make([]string, len(c))
	for i, p := range c {
		s[i] = p.String()
	}
	return strings.Join(s, "+")
}

// Needs merges the parts' needs: the widest window, and column sums if any asks.
func (c composed) Needs() *kvcache.Observation {
	var out *kvcache.Observation
	for _, p := range c {
		n := p.Needs()
		if n == nil {
			continue
		}
		if out == nil {
			out = &kvcache.Observation{}
		}
		out.Window = max(out.Window, n.Window)
		out.WantColSums = out.WantColSums || n.WantColSums
	}
	return out
}

// Compress applies the parts in order. When a part evicts while decoding and
// another prunes channels, evictions may come out of the pruned segments,
// which frees no room for new full-width tokens: the full segments then get
// the cache's headroom for tokens to come (and grow by doubling past it).
func (c composed) Compress(cache *kvcache.Cache, obs *kvcache.Observation, heads int) error {
	evicts, prunes := false, false
	for _, p := range c {
		if err := p.Compress(cache, obs, heads); err != nil {
			return err
		}
		switch p.(type) {
		case *h2o, *streaming:
			evicts = true
		case *thinK:
			prunes = true
		}
	}
	if evicts && prunes {
		cfg := cache.Config()
		for l := 0; l < cfg.Layers; l++ {
			for g := 0; g < cfg.KVHeads; g++ {
				cache.Head(l, g).ReserveFull(cache.Headroom())
			}
		}
	}
	return nil
}

func (c composed) Step(cache *kvcache.Cache) {
	for _, p := range c {
		p.Step(cache)
	}
}
