// Package press owns KV-cache compression policies ("presses"): token eviction
// (SnapKV, H2O, StreamingLLM, PyramidKV) and channel pruning (ThinK for keys,
// its value variant), applied to a kvcache.Cache at the end of prefill and,
// for policies that need it, after each decoded token. Presses compose left to
// right: "snapkv:budget=128+think:ratio=0.5".
package press

import "github.com/thinkv/thinkv/kvcache"

// Press is a cache compression policy.
//
// Besides compressing, a press describes itself: whether it evicts while
// decoding, which channels it prunes, and the most bytes a sequence under it
// can hold. Composition (Parse with "+") relies on these descriptions, not on
// the concrete type of each part.
type Press interface {
	// String returns the press's spec, with every parameter.
	String() string
	// Needs returns what prefill must gather for Compress (nil: nothing).
	Needs() *kvcache.Observation
	// Compress reshapes the cache after prefill. heads is the number of query heads.
	//
	// It may run again on the same cache after more prompt tokens were
	// appended (chunked compression: a prompt prefilled in chunks,
	// compressed after each, obs observing the chunk's last queries):
	// evictions keep their budget over every token cached, and channel
	// pruning keeps the channels it chose the first time.
	Compress(c *kvcache.Cache, obs *kvcache.Observation, heads int) error
	// Step runs after each decoded token.
	Step(c *kvcache.Cache)
	// EvictsPerStep reports whether Step evicts tokens while decoding, to
	// keep a token budget (H2O, StreamingLLM). A press that only compresses
	// once, after prefill, reports false.
	EvictsPerStep() bool
	// Prunes reports which channels Compress prunes: key channels (ThinK)
	// and value channels (ThinK-V). A press that prunes a kind of channel
	// reports it even when its ratio is too small to prune any channel of
	// a head of some model.
	Prunes() (keys, values bool)
	// MaxBytes returns an upper bound, in closed form, on Cache.Bytes() at
	// any moment of a sequence under this press with a prompt of prompt
	// tokens prefilled at once and up to newTokens tokens decoded one at a
	// time, in a cache configured as cfg whose limit (Capacity) is prompt +
	// newTokens: see the package-level MaxBytes.
	MaxBytes(cfg kvcache.Config, prompt, newTokens int) int64
}

// policy is what every press of this package is: a Press that can also
// apply its Compress to a layout, the shape model MaxBytes bounds bytes
// with, so that a composition can chain its parts' shapes.
type policy interface {
	Press
	// reshape applies what Compress does to the shape of every head of
	// every layer, in the worst case over which tokens scores keep.
	reshape(ls *layout)
}
