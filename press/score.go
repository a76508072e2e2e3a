package press

import (
	"math"
	"sort"

	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/kvcache"
)

// scratch lends reusable buffers to one Compress call, so that scoring a
// long prompt head after head leaves no trail of garbage (which the garbage
// collector would let grow to the size of the cache itself). A nil scratch
// allocates afresh.
type scratch struct{ k, v, p []float32 }

// grow returns (*buf)[:n], reallocating only when it is too small.
func grow(buf *[]float32, n int) []float32 {
	if cap(*buf) < n {
		*buf = make([]float32, n)
	}
	return (*buf)[:n]
}

// keys returns head's cached keys as a dense [Len×D] matrix, zero in pruned
// channels, in the scratch's key buffer.
func (s *scratch) keys(h *kvcache.Head, d int) []float32 {
	if s == nil {
		s = new(scratch)
	}
	k := grow(&s.k, h.Len()*d)
	for i := 0; i < h.Len(); i++ {
		h.Key(k[i*d:(i+1)*d], i)
	}
	return k
}

// values is keys for values.
func (s *scratch) values(h *kvcache.Head, d int) []float32 {
	if s == nil {
		s = new(scratch)
	}
	v := grow(&s.v, h.Len()*d)
	for i := 0; i < h.Len(); i++ {
		h.Value(v[i*d:(i+1)*d], i)
	}
	return v
}

// window returns the last w observed queries of query head qh in layer l as
// [w'×D], w' = min(w, observed), with the position of the first of them.
func window(obs *kvcache.Observation, l, qh, heads, d, w, promptLen int) ([]float32, int) {
	rows := len(obs.Queries[l]) / (heads * d)
	w = min(w, rows)
	out := make([]float32, w*d)
	for t := 0; t < w; t++ {
		src := obs.Queries[l][(rows-w+t)*heads*d+qh*d:]
		copy(out[t*d:(t+1)*d], src[:d])
	}
	return out, promptLen - w
}

// windowProbs returns softmax(q·Kᵀ/√D) for each window query over the cached
// tokens, [w×n], where a query at position first+t sees only tokens at
// positions ≤ first+t, in the scratch's buffer.
func (s *scratch) windowProbs(q []float32, first int, k []float32, pos []int32, d int) []float32 {
	n, w := len(pos), len(q)/d
	scale := float32(1 / math.Sqrt(float64(d)))
	if s == nil {
		s = new(scratch)
	}
	p := grow(&s.p, w*n)
	for t := 0; t < w; t++ {
		row := p[t*n : (t+1)*n]
		visible := 0
		for s := range row {
			if int(pos[s]) <= first+t {
				row[s] = kernels.Dot(q[t*d:(t+1)*d], k[s*d:(s+1)*d]) * scale
				visible = s + 1
			}
		}
		// Tokens are in position order, so the visible ones are a prefix.
		kernels.Softmax(row[:visible])
		clear(row[visible:])
	}
	return p
}

// topKeep returns, sorted, the indices of the k highest scores (ties: the lower index wins).
func topKeep(score []float32, k int) []int {
	idx := make([]int, len(score))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return score[idx[a]] > score[idx[b]] })
	idx = idx[:max(0, min(k, len(idx)))]
	sort.Ints(idx)
	return idx
}

// pool1d smooths v along its length with a window of kernel (odd) elements,
// stride 1 and same padding: the maximum, or the mean counting the padding as zeros.
func pool1d(v []float32, kernel int, avg bool) []float32 {
	out := make([]float32, len(v))
	r := kernel / 2
	for i := range v {
		lo, hi := max(0, i-r), min(len(v), i+r+1)
		if avg {
			var s float32
			for _, x := range v[lo:hi] {
				s += x
			}
			out[i] = s / float32(kernel)
			continue
		}
		m := v[lo]
		for _, x := range v[lo+1 : hi] {
			m = max(m, x)
		}
		out[i] = m
	}
	return out
}
