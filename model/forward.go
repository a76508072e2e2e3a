package model

import (
	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/kvcache"
)

// Forward runs tokens of one sequence through the model at positions
// c.Next(), c.Next()+1, …, appending their keys and values to c. It returns
// the logits of the last token ([Vocab]), or of every token
// ([len(tokens)×Vocab]) when all is set; the slice is valid until the next
// call. Inputs longer than s.Batch are processed in chunks of s.Batch tokens,
// each one Step. If obs is non-nil it is filled with what compression
// policies need (see kvcache.Observation): a prompt starts at an empty cache,
// and may come in several calls when obs.Prompt says its length.
func (m *Model) Forward(s *State, c *kvcache.Cache, tokens []int, all bool, obs *kvcache.Observation) ([]float32, error) {
	if err := m.check(c, tokens, obs); err != nil {
		return nil, err
	}
	// Room for every input token at once: a prompt is allocated exactly, and
	// decoding grows the cache by doubling (amortised: no allocation per step).
	if err := c.Grow(m.growth(c, len(tokens), obs)); err != nil {
		return nil, err
	}
	if obs != nil && c.Next() == 0 && obs.Prompt == 0 {
		obs.Prompt = len(tokens)
	}
	var out []float32
	if all {
		out = make([]float32, len(tokens)*m.Vocab)
	}
	for lo := 0; lo < len(tokens); lo += s.Batch {
		chunk := tokens[lo:min(lo+s.Batch, len(tokens))]
		last := lo+len(chunk) == len(tokens)
		s.one[0] = Row{Cache: c, Tokens: chunk, Obs: obs, Logits: last && !all}
		if err := m.plan(s, s.one[:]); err != nil {
			return nil, err
		}
		m.forward(s)
		m.logits(s, all)
		if all {
			copy(out[lo*m.Vocab:], s.logits[:len(chunk)*m.Vocab])
		} else if last {
			out = s.out[0]
		}
	}
	s.one[0] = Row{}
	return out, nil
}

// forward runs the tokens of the rows laid out in s.seqs through every
// layer, leaving the final residual stream in s.x. Matrix products and norms
// run over all the step's tokens at once; RoPE, the cache and attention
// belong to each row.
func (m *Model) forward(s *State) {
	dim, kvDim, hd := m.Dim, m.KVHeads*m.HeadDim, m.HeadDim
	n := 0
	for _, r := range s.seqs {
		for i, t := range r.tokens {
			m.Embed.Row(s.x[(r.off+i)*dim:(r.off+i+1)*dim], t)
		}
		n += r.n
	}
	for l := range m.Layers {
		ly := &m.Layers[l]
		for i := 0; i < n; i++ {
			kernels.RMSNorm(s.xb[i*dim:(i+1)*dim], s.x[i*dim:(i+1)*dim], ly.AttnNorm, m.NormEps)
		}
		// The normalised rows are quantized once for Q, K and V (into att,
		// unused until attention).
		a := acts(s.att, s.xb, n, dim, ly.Wq, ly.Wk, ly.Wv)
		kernels.MulActsAll(s.pool, &a, kernels.Product{M: ly.Wq, Out: s.q},
			kernels.Product{M: ly.Wk, Out: s.k}, kernels.Product{M: ly.Wv, Out: s.v})
		addBias(s.q, ly.Bq, n)
		addBias(s.k, ly.Bk, n)
		addBias(s.v, ly.Bv, n)
		for _, r := range s.seqs {
			for i := r.off; i < r.off+r.n; i++ {
				pos := r.start + i - r.off
				s.rope(s.q[i*dim:(i+1)*dim], m.Heads, hd, pos)
				s.rope(s.k[i*kvDim:(i+1)*kvDim], m.KVHeads, hd, pos)
				for g := 0; g < m.KVHeads; g++ {
					o := i*kvDim + g*hd
					r.c.Head(l, g).Append(pos, s.k[o:o+hd], s.v[o:o+hd])
				}
			}
			if r.obs != nil {
				m.observe(s, &r, l)
			}
		}
		m.attention(s, l)
		// After attention the queries are spent: q holds quantized rows.
		a = acts(s.q, s.att, n, dim, ly.Wo)
		ly.Wo.MulActs(s.pool, s.xb, &a)
		kernels.Add(s.x[:n*dim], s.xb[:n*dim])

		for i := 0; i < n; i++ {
			kernels.RMSNorm(s.xb[i*dim:(i+1)*dim], s.x[i*dim:(i+1)*dim], ly.FFNNorm, m.NormEps)
		}
		a = acts(s.q, s.xb, n, dim, ly.Gate, ly.Up) // once for gate and up
		kernels.MulActsAll(s.pool, &a, kernels.Product{M: ly.Gate, Out: s.hb}, kernels.Product{M: ly.Up, Out: s.hu})
		kernels.SwiGLU(s.hb[:n*m.Hidden], s.hu[:n*m.Hidden])
		a = acts(s.hu, s.hb, n, m.Hidden, ly.Down) // hu is spent
		ly.Down.MulActs(s.pool, s.xb, &a)
		kernels.Add(s.x[:n*dim], s.xb[:n*dim])
	}
	for _, r := range s.seqs {
		r.c.Advance(r.n)
		if r.obs != nil {
			r.obs.Done += r.n
		}
	}
}

// observe copies the row's queries whose positions fall in the observation
// window, the last min(Window, Prompt) positions of the prompt.
func (m *Model) observe(s *State, r *seq, l int) {
	q := r.obs.Queries[l]
	first := r.obs.Prompt - len(q)/m.Dim
	for i := 0; i < r.n; i++ {
		if j := r.start + i - first; j >= 0 {
			copy(q[j*m.Dim:(j+1)*m.Dim], s.q[(r.off+i)*m.Dim:(r.off+i+1)*m.Dim])
		}
	}
}

// logits applies the final norm and the output head to the last token of
// each row that asks for logits, or to every token of every row when all is
// set, and points s.out at each row's logits (nil for rows without).
func (m *Model) logits(s *State, all bool) {
	dim, n := m.Dim, 0
	for i, r := range s.seqs {
		s.out[i] = nil
		lo := r.off + r.n - 1
		if all {
			lo = r.off
		} else if !r.logits {
			continue
		}
		for t := lo; t < r.off+r.n; t++ {
			kernels.RMSNorm(s.xb[n*dim:(n+1)*dim], s.x[t*dim:(t+1)*dim], m.Norm, m.NormEps)
			n++
		}
		s.out[i] = s.logits[(n-1)*m.Vocab : n*m.Vocab]
	}
	if n > 0 {
		a := acts(s.q, s.xb, n, dim, m.Output)
		m.Output.MulActs(s.pool, s.logits, &a)
	}
	for i := range s.seqs {
		s.seqs[i] = seq{} // hold no caller's cache past the step
	}
}

// acts returns the n rows of x, cols values each, as the input of the
// products with ms: quantized to Q8 blocks (kernels.QuantizeActs) into buf
// when any of ms takes quantized activations, so that a row is quantized once
// for all of them. buf is a State buffer that is not in use while those
// products run (it holds at least n×cols words; the Q8 rows take 10/32 of
// that) and must not overlap x or the products' outputs.
func acts(buf, x []float32, n, cols int, ms ...*kernels.Matrix) kernels.Acts {
	for _, w := range ms {
		if w.TakesQ8() {
			return kernels.QuantizeActs(buf, x, n, cols)
		}
	}
	return kernels.FloatActs(x, n, cols)
}

// addBias adds b to each of the n rows of x (nothing when b is nil).
func addBias(x, b []float32, n int) {
	for i := 0; i < n && b != nil; i++ {
		kernels.Add(x[i*len(b):(i+1)*len(b)], b)
	}
}
