package press

import (
	"fmt"
	"strings"

	"github.com/thinkv/thinkv/kvcache"
)

// composed applies presses left to right.
type composed []policy

// newComposed composes parts, refusing two parts that prune the same kind
// of channel (think and think-v may each appear once).
func newComposed(parts []policy) (policy, error) {
	keys, values := 0, 0
	for _, p := range parts {
		k, v := p.Prunes()
		if k {
			keys++
		}
		if v {
			values++
		}
	}
	if keys > 1 || values > 1 {
		return nil, fmt.Errorf("think and think-v may each appear once")
	}
	return composed(parts), nil
}

// String joins the parts' specs with "+".
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

// EvictsPerStep reports whether any part evicts while decoding.
func (c composed) EvictsPerStep() bool {
	for _, p := range c {
		if p.EvictsPerStep() {
			return true
		}
	}
	return false
}

// Prunes reports the channels any part prunes.
func (c composed) Prunes() (keys, values bool) {
	for _, p := range c {
		k, v := p.Prunes()
		keys, values = keys || k, values || v
	}
	return keys, values
}

// reserveFull reports whether Compress reserves the cache's headroom in the
// full segments: when a part evicts while decoding and another prunes
// channels, evictions may come out of the pruned segments, which frees no
// room for new full-width tokens.
func (c composed) reserveFull() bool {
	k, v := c.Prunes()
	return c.EvictsPerStep() && (k || v)
}

// Compress applies the parts in order. When a part evicts while decoding and
// another prunes channels, evictions may come out of the pruned segments,
// which frees no room for new full-width tokens: the full segments then get
// the cache's headroom for tokens to come (and grow by doubling past it).
func (c composed) Compress(cache *kvcache.Cache, obs *kvcache.Observation, heads int) error {
	return c.compress(cache, obs, heads, func() {})
}

// compress is Compress, calling after when each part is done (tests read
// the cache's bytes between parts).
func (c composed) compress(cache *kvcache.Cache, obs *kvcache.Observation, heads int, after func()) error {
	for _, p := range c {
		if err := p.Compress(cache, obs, heads); err != nil {
			return err
		}
		after()
	}
	if c.reserveFull() {
		cfg := cache.Config()
		for l := 0; l < cfg.Layers; l++ {
			for g := 0; g < cfg.KVHeads; g++ {
				cache.Head(l, g).ReserveFull(cache.Headroom())
			}
		}
	}
	return nil
}

// Step runs every part's Step, in order.
func (c composed) Step(cache *kvcache.Cache) {
	for _, p := range c {
		p.Step(cache)
	}
}

// MaxBytes bounds Cache.Bytes() under the composition: the parts' shapes
// applied in order (each as its own MaxBytes describes), every state between
// parts included, with the headroom reserved in the full segments when a
// part evicts while decoding and another prunes channels, then decoding,
// where evictions are assumed to take pruned tokens first. For
// snapkv+think with a prompt of P > S tokens and H = min(N, max(P, 64)),
// the most per head is the largest of the prefill's 2·R0·D (usually), the
// state between the parts, 2·(S+H)·D, and the end of decoding: keys
// max(0, S−R)·T + (min(S, R) + N)·D and values (S+N)·D.
func (c composed) MaxBytes(cfg kvcache.Config, prompt, newTokens int) int64 {
	return boundOf(c, cfg, prompt, newTokens)
}

func (c composed) reshape(ls *layout) {
	for _, p := range c {
		p.reshape(ls)
	}
	if c.reserveFull() {
		ls.reserveFull()
	}
}
