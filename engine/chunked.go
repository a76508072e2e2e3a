package engine

import (
	"fmt"
	"runtime"

	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/model"
	"github.com/thinkv/thinkv/press"
)

// Chunked compression (Request.ChunkedCompress, PrefillChunked) reads a
// prompt longer than memory: it is prefilled in chunks, and after each one
// the press compresses what is cached so far, with the queries of the
// chunk's last positions as the observation (press.Press's Compress runs
// again on the same cache). The cache then holds about the press's budget
// plus one chunk at most, whatever the prompt's length (an eviction press
// keeps its budget; ThinK packs the tokens that have left its recent window
// to the channels it chose after the first chunk). It approximates
// compressing the whole prompt at once, and is that exactly when the prompt
// is one chunk.

// chunker drives the chunked compression of one prompt.
type chunker struct {
	p    press.Press
	size int                  // prompt tokens per chunk
	n    int                  // the prompt's length
	obs  *kvcache.Observation // observes the prompt up to the current chunk's end
}

// newChunker readies an empty cache c for a prompt of n tokens compressed
// by p every size tokens: room for the first chunk, and the observation of
// its end.
func newChunker(c *kvcache.Cache, p press.Press, n, size int) (*chunker, error) {
	if c.Next() != 0 {
		return nil, fmt.Errorf("engine: chunked compression starts at an empty cache, not at position %d", c.Next())
	}
	obs := p.Needs()
	if obs == nil {
		obs = &kvcache.Observation{} // it still says where the chunk ends
	}
	obs.Prompt = min(size, n)
	if err := c.Grow(obs.Prompt); err != nil {
		return nil, err
	}
	return &chunker{p: p, size: size, n: n, obs: obs}, nil
}

// end returns the position the current chunk ends at.
func (k *chunker) end() int { return k.obs.Prompt }

// last reports whether the current chunk is the prompt's last.
func (k *chunker) last() bool { return k.obs.Prompt == k.n }

// compress compresses c once the current chunk is prefilled. After the
// last chunk it compresses as a whole prompt's compression does, with the
// room it reserves for decoding. After another it limits that room to the
// next chunk, makes exactly that room in every head (a press that evicts
// while decoding reserves one row), and moves the observation on to the
// next chunk's end.
func (k *chunker) compress(m *model.Model, c *kvcache.Cache) error {
	if k.last() {
		c.LimitReserve(-1)
		return k.p.Compress(c, k.obs, m.Heads)
	}
	next := min(k.n, k.obs.Prompt+k.size)
	room := next - k.obs.Prompt
	c.LimitReserve(room)
	if err := k.p.Compress(c, k.obs, m.Heads); err != nil {
		return err
	}
	cfg := c.Config()
	for l := 0; l < cfg.Layers; l++ {
		for g := 0; g < cfg.KVHeads; g++ {
			c.Head(l, g).ReserveFull(room)
		}
	}
	// A press may have reallocated every head (ThinK re-applied compacts
	// each one): collect the rows it dropped now, so that the next chunk
	// grows into them instead of beside them. One collection per chunk
	// costs little next to the chunk's prefill, and keeps the peak at
	// about the compressed cache plus one chunk's reshaping, never the sum
	// of every chunk's garbage.
	runtime.GC()
	return m.ExtendObservation(k.obs, next)
}

// PrefillChunked is Prefill with chunked compression: the prompt runs into
// the empty cache c in chunks of size tokens, p compressing the cache after
// each. It returns the last prompt token's logits. With no press, or a
// size of 0, it is Prefill.
func (e *Engine) PrefillChunked(s *model.State, c *kvcache.Cache, prompt []int, p press.Press, size int) ([]float32, error) {
	if p == nil || size <= 0 {
		return e.Prefill(s, c, prompt, p)
	}
	k, err := newChunker(c, p, len(prompt), size)
	if err != nil {
		return nil, err
	}
	for {
		logits, err := e.Model.Forward(s, c, prompt[c.Next():k.end()], false, k.obs)
		if err != nil {
			return nil, err
		}
		last := k.last()
		if err := k.compress(e.Model, c); err != nil || last {
			return logits, err
		}
	}
}

// startPrompt makes room in c for the request's prompt (its first chunk,
// with chunked compression) and returns the observation its press needs
// and, with chunked compression, the chunker.
func startPrompt(c *kvcache.Cache, req *Request) (*kvcache.Observation, *chunker, error) {
	n := len(req.Prompt)
	if req.ChunkedCompress > 0 && req.Press != nil {
		k, err := newChunker(c, req.Press, n, req.ChunkedCompress)
		if err != nil {
			return nil, nil, err
		}
		return k.obs, k, nil
	}
	// Room for the whole prompt now, as a single Forward would make: the
	// chunks then append without reallocating, so the cache holds exactly
	// what an unchunked prefill holds.
	if err := c.Grow(n); err != nil {
		return nil, nil, err
	}
	var obs *kvcache.Observation
	if req.Press != nil {
		obs = req.Press.Needs()
	}
	if obs != nil {
		obs.Prompt = n // it accumulates across the chunks
	}
	return obs, nil, nil
}
