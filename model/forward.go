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
		return nil, fmt.Errorf("model: %d tokens at position %d exceed the context of %d tokens (cache limit %d)",
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
	// Room for every input token at once: a prompt is allocated exactly, and
	// decoding grows the cache by doubling (amortised: no allocation per step).
	if err := c.Grow(len(tokens)); err != nil {
		return nil, err
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
		addBias(s.q, ly.Bq, n)
		addBias(s.k, ly.Bk, n)
		addBias(s.v, ly.Bv, n)
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
// Each task is one KV head and a block of tokens: all the group's query heads
// for those tokens attend together, so each cached row is read once per task.
func (m *Model) attention(s *State, c *kvcache.Cache, l, n int, obs *kvcache.Observation) {
	var sums []float32
	if obs != nil && obs.WantColSums {
		sums = obs.ColSums[l]
	}
	block := s.qblock
	tasks := m.KVHeads * ((n + block - 1) / block)
	// Attention-weight accumulators are shared by all tokens of a head, so
	// when they are kept a task must own a whole head.
	if sums != nil || c.Head(l, 0).Score != nil {
		block, tasks = n, m.KVHeads
	}
	s.attn = attnTask{m: m, s: s, c: c, l: l, n: n, block: block, perHead: tasks / m.KVHeads, sums: sums}
	s.pool.Run(tasks, 1, &s.attn)
	s.attn = attnTask{}
}

// attnTask is one layer's attention as a pool Task over (KV head, token block) pairs.
type attnTask struct {
	m                    *Model
	s                    *State
	c                    *kvcache.Cache
	l, n, block, perHead int
	sums                 []float32
}

func (t *attnTask) Run(w, lo, hi int) {
	group := t.m.Heads / t.m.KVHeads
	for k := lo; k < hi; k++ {
		g, t0 := k/t.perHead, (k%t.perHead)*t.block
		t.m.attendBlock(t.s, t.s.work[w], t.c.Head(t.l, g), g*group, group, t0, min(t0+t.block, t.n), t.n, t.sums)
	}
}

// attendBlock runs the query heads [h0, h0+group) of tokens [t0, t1) of the
// chunk against head, then adds the attention weights to sums (per query
// head, [Heads][prompt]) and to head.Score when either is kept.
func (m *Model) attendBlock(s *State, wk *worker, head *kvcache.Head, h0, group, t0, t1, n int, sums []float32) {
	hd, dim := m.HeadDim, m.Dim
	before := head.Len() - n
	q, out, lim := wk.q, wk.out, wk.lim[:0]
	for i := t0; i < t1; i++ {
		copy(q[(i-t0)*group*hd:], s.q[i*dim+h0*hd:i*dim+(h0+group)*hd])
		for range group {
			lim = append(lim, before+i+1)
		}
	}
	mq := len(lim)
	head.AttendBlock(out[:mq*hd], q[:mq*hd], lim, s.scale, wk.lse[:mq], wk.scratch)
	for i := t0; i < t1; i++ {
		copy(s.att[i*dim+h0*hd:i*dim+(h0+group)*hd], out[(i-t0)*group*hd:])
	}
	if sums == nil && head.Score == nil {
		return
	}
	for j, k := range lim {
		if len(wk.probs) < k { // grows with the sequence, by doubling
			wk.probs = make([]float32, max(k, 2*len(wk.probs)))
		}
		p := wk.probs[:k]
		head.Logits(p, q[j*hd:(j+1)*hd], k, s.scale, wk.row)
		for i, x := range p {
			p[i] = float32(math.Exp(float64(x - wk.lse[j])))
		}
		if sums != nil {
			h := h0 + j%group
			kernels.Add(sums[h*len(sums)/m.Heads:][:k], p)
		}
		if head.Score != nil {
			kernels.Add(head.Score[:k], p)
		}
	}
}

// logits applies the final norm and output head to n tokens of s.x starting at token first.
func (m *Model) logits(s *State, n, first int) {
	dim := m.Dim
	for i := 0; i < n; i++ {
		kernels.RMSNorm(s.xb[i*dim:(i+1)*dim], s.x[(first+i)*dim:(first+i+1)*dim], m.Norm, m.NormEps)
	}
	m.Output.MulBatch(s.pool, s.logits, s.xb, n)
}

// addBias adds b to each of the n rows of x (nothing when b is nil).
func addBias(x, b []float32, n int) {
	for i := 0; i < n && b != nil; i++ {
		kernels.Add(x[i*len(b):(i+1)*len(b)], b)
	}
}
