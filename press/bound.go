package press

import "github.com/thinkv/thinkv/kvcache"

// MaxBytes returns an upper bound, in closed form, on the KV-cache bytes a
// sequence holds at any moment under press p (nil: the full cache) with a
// prompt of prompt tokens and up to newTokens generated ones, in a cache
// configured as cfg (cfg.Capacity is ignored: the sequence's own limit is
// prompt + newTokens). It includes the transient full cache during prefill,
// before compression, and the rows the cache grows by while decoding.
//
// This first version bounds every press by the full cache of prompt +
// newTokens tokens grown by doubling; presses will give tighter bounds.
func MaxBytes(p Press, cfg kvcache.Config, prompt, newTokens int) int64 {
	return cfg.TokenBytes() * int64(fullRows(prompt+newTokens))
}

// fullRows is the most rows an uncompressed cache that holds n tokens may
// have allocated: it grows by doubling from 64 (or from the prompt length)
// but never beyond its limit n.
func fullRows(n int) int { return n }
