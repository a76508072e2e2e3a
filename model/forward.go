package model

import (
	"fmt"
	"math"

	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/kvcache"
)

// Forward runs tokens through the model at positions c.Next(), c.Next()+1, …,
// appending their keys and values to c. It returns the logits of the last token
// ([Vocab]), or of every token ([len(tokens)×Vocab]) when all is set; the slice
// is valid until the next call. Inputs longer than s.Batch are processed in
// chunks. If obs is non-nil (allowed only on an empty cache) it is filled with
// what compression policies need: see kvcache.Observation.
func (m *Model) Forward(s *State, c *kvcache.Cache, tokens []int, all bool, obs *kvcache.Observation) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, fmt.Errorf("model: no tokens to run")
	}
	if end := c.Next() + len(tokens); end > m.Context || end > c.Config().Capacity {
		return nil, fmt.Errorf("model: %d tokens at position %d exceed the context of %d tokens (cache room %d)",
			len(tokens), c.Next(), m.Context, c.Config().Capacity)
	}
	for _, t := range tokens {
		if t < 0 || t >= m.Vocab {
			return nil, fmt.Errorf("model: token id %d outside the vocabulary of %d", t, m.Vocab)
		}
	}
	if obs != nil {
		if c.Next() != 0 {
			return nil, fmt.Errorf("model: observations need an empty cache")
		}
		m.startObservation(obs, len(tokens))
	}
	var out []float32
	if all {
		out = make([]float32, len(tokens)*m.Vocab)
	}
	total := len(tokens)
	for lo := 0; lo < total; lo += s.Batch {
		chunk := tokens[lo:min(lo+s.Batch, total)]
		last := lo+len(chunk) == total
		m.forwardChunk(s, c, chunk, obs, total)
		if all {
			m.logits(s, len(chunk), 0)
			copy(out[lo*m.Vocab:], s.logits[:len(chunk)*m.Vocab])
		} else if last {
			m.logits(s, 1, len(chunk)-1)
			out = s.logits[:m.Vocab]
		}
	}
	return out, nil
}

func (m *Model) startObservation(obs *kvcache.Observation, n int) {
	w := min(obs.Window, n)
	obs.Queries = make([][]float32, m.Config.Layers)
	for l := range obs.Queries {
		obs.Queries[l] = make([]float32, w*m.Dim)
	}
	if obs.WantColSums {
		obs.ColSums = make([][]float32, m.Config.Layers)
		for l := range obs.ColSums {
			obs.ColSums[l] = make([]float32, m.Heads*n)
		}
	}
}

// forwardChunk runs one chunk of at most s.Batch tokens through every layer,
// leaving the final residual stream in s.x.
func (m *Model) forwardChunk(s *State, c *kvcache.Cache, tokens []int, obs *kvcache.Observation, total int) {
	n, dim, kvDim, hd := len(tokens), m.Dim, m.KVHeads*m.HeadDim, m.HeadDim
	start := c.Next()
	for i, t := range tokens {
		m.Embed.Row(s.x[i*dim:(i+1)*dim], t)
	}
	for l := range m.Layers {
		ly := &m.Layers[l]
		for i := 0; i < n; i++ {
			kernels.RMSNorm(s.xb[i*dim:(i+1)*dim], s.x[i*dim:(i+1)*dim], ly.AttnNorm, m.NormEps)
		}
		ly.Wq.MulBatch(s.pool, s.q, s.xb, n)
		ly.Wk.MulBatch(s.pool, s.k, s.xb, n)
		ly.Wv.MulBatch(s.pool, s.v, s.xb, n)
		for i := 0; i < n; i++ {
			s.rope(s.q[i*dim:(i+1)*dim], m.Heads, hd, start+i)
			s.rope(s.k[i*kvDim:(i+1)*kvDim], m.KVHeads, hd, start+i)
			for g := 0; g < m.KVHeads; g++ {
				o := i*kvDim + g*hd
				c.Head(l, g).Append(start+i, s.k[o:o+hd], s.v[o:o+hd])
			}
		}
		if obs != nil {
			m.observe(obs, s, l, n, start, total)
		}
		m.attention(s, c, l, n, obs)
		ly.Wo.MulBatch(s.pool, s.xb, s.att, n)
		kernels.Add(s.x[:n*dim], s.xb[:n*dim])

		for i := 0; i < n; i++ {
			kernels.RMSNorm(s.xb[i*dim:(i+1)*dim], s.x[i*dim:(i+1)*dim], ly.FFNNorm, m.NormEps)
		}
		ly.Gate.MulBatch(s.pool, s.hb, s.xb, n)
		ly.Up.MulBatch(s.pool, s.hu, s.xb, n)
		kernels.SwiGLU(s.hb[:n*m.Hidden], s.hu[:n*m.Hidden])
		ly.Down.MulBatch(s.pool, s.xb, s.hb, n)
		kernels.Add(s.x[:n*dim], s.xb[:n*dim])
	}
	c.Advance(n)
}

// observe copies the queries of this chunk that fall in the observation window.
func (m *Model) observe(obs *kvcache.Observation, s *State, l, n, start, total int) {
	w := len(obs.Queries[l]) / m.Dim
	for i := 0; i < n; i++ {
		if j := start + i - (total - w); j >= 0 {
			copy(obs.Queries[l][j*m.Dim:(j+1)*m.Dim], s.q[i*m.Dim:(i+1)*m.Dim])
		}
	}
}

// attention computes causal grouped-query attention for the chunk's n tokens,
// whose keys and values are already the last n entries of every head of layer l.
func (m *Model) attention(s *State, c *kvcache.Cache, l, n int, obs *kvcache.Observation) {
	hd, dim := m.HeadDim, m.Dim
	group := m.Heads / m.KVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	var sums []float32
	if obs != nil && obs.WantColSums {
		sums = obs.ColSums[l]
	}
	// Work is split by KV head, so the query heads that share a cache head (and
	// its attention-score accumulator) run on one worker.
	s.pool.For(m.KVHeads, 1, func(w, lo, hi int) {
		probs, tmp := s.probs[w], s.tmp[w]
		for g := lo; g < hi; g++ {
			head := c.Head(l, g)
			before := head.Len() - n
			for h := g * group; h < (g+1)*group; h++ {
				for i := 0; i < n; i++ {
					q := s.q[i*dim+h*hd : i*dim+(h+1)*hd]
					k := before + i + 1
					head.Attend(s.att[i*dim+h*hd:i*dim+(h+1)*hd], q, k, scale, probs, tmp)
					if sums != nil {
						kernels.Add(sums[h*len(sums)/m.Heads:][:k], probs[:k])
					}
					if head.Score != nil {
						kernels.Add(head.Score[:k], probs[:k])
					}
				}
			}
		}
	})
}

// logits applies the final norm and output head to n tokens of s.x starting at token first.
func (m *Model) logits(s *State, n, first int) {
	dim := m.Dim
	for i := 0; i < n; i++ {
		kernels.RMSNorm(s.xb[i*dim:(i+1)*dim], s.x[(first+i)*dim:(first+i+1)*dim], m.Norm, m.NormEps)
	}
	m.Output.MulBatch(s.pool, s.logits, s.xb, n)
}
