// Package press owns KV-cache compression policies ("presses"): token eviction
// (SnapKV, H2O, StreamingLLM, PyramidKV) and channel pruning (ThinK for keys,
// its value variant), applied to a kvcache.Cache at the end of prefill and,
// for policies that need it, after each decoded token. Presses compose left to
// right: "snapkv:budget=128+think:ratio=0.5".
package press

import "github.com/thinkv/thinkv/kvcache"

// Press is a cache compression policy.
type Press interface {
	// String returns the press's spec, with every parameter.
	String() string
	// Needs returns what prefill must gather for Compress (nil: nothing).
	Needs() *kvcache.Observation
	// Compress reshapes the cache after prefill. heads is the number of query heads.
	Compress(c *kvcache.Cache, obs *kvcache.Observation, heads int) error
	// Step runs after each decoded token.
	Step(c *kvcache.Cache)
}
