package kvcache

import (
	"math"

	"github.com/thinkv/thinkv/kernels"
)

// AttendChunk is how many cached tokens attention takes at a time with a
// softmax state of their own: AttendBlock computes the state of tokens
// [0, AttendChunk), then of each next AttendChunk tokens, and merges them
// in that order. The chunks are fixed by position, so a caller may compute
// a long head's chunks in parallel (AttendPart) and merge them the same way
// (Partial.Merge, Finish), with the same bits as AttendBlock; a head of at
// most AttendChunk tokens is one chunk, computed as before chunks existed.
const AttendChunk = 1024

// Partial is the softmax state of a group of m queries over some of a
// head's cached tokens: for query j the largest logit max[j], the sum of
// exp(logit − max[j]) and the sums of the value rows weighted by the same
// exponentials: out (m rows of the head dimension: the full-width values)
// and acc (m rows of len(ValKept): the pruned values' kept channels).
type Partial struct {
	d, vt    int // the widths of out's and acc's rows
	max, sum []float32
	out, acc []float32
}

// NewPartial makes a Partial for up to queries queries of head dimension d.
func NewPartial(queries, d int) *Partial {
	return &Partial{
		max: make([]float32, queries), sum: make([]float32, queries),
		out: make([]float32, queries*d), acc: make([]float32, queries*d),
	}
}

// PartialBytes returns the bytes NewPartial(queries, d) allocates.
func PartialBytes(queries, d int) int64 {
	return 4 * (2*int64(queries) + 2*int64(queries)*int64(d))
}

// partial returns s's chunk state as a Partial for m queries, d value
// channels and vt kept pruned-value channels, allocating it on first use
// (for all of s's queries).
func (s *Scratch) partial(m, d, vt int) Partial {
	if s.part == nil {
		s.part = NewPartial(s.queries, d)
	}
	return s.part.view(m, d, vt)
}

// view returns p's buffers as a Partial for m queries, d value channels
// and vt kept pruned-value channels (within their capacity).
func (p *Partial) view(m, d, vt int) Partial {
	return Partial{d: d, vt: vt, max: p.max[:m], sum: p.sum[:m], out: p.out[:m*d], acc: p.acc[:m*vt]}
}

// AttendPart sets p to the softmax state of the m = len(lim) queries q
// (as AttendBlock takes them) over chunk c of the head: tokens
// [c·AttendChunk, (c+1)·AttendChunk), each query's up to its limit. p must
// hold m queries (NewPartial(m, D) or more).
func (h *Head) AttendPart(p *Partial, q []float32, lim []int, scale float32, c int, s *Scratch) {
	total := h.prepare(q, lim, s)
	*p = p.view(len(lim), h.d, len(h.ValKept))
	h.chunk(p, lim, scale, c*AttendChunk, min(total, (c+1)*AttendChunk), nil, s)
}

// Merge folds into p, the state of chunks [0, c), next, the state of chunk
// c, for the m = len(lim) queries: each query that reaches chunk c
// (lim[j] > c·AttendChunk) rescales both to the larger of the two maxima
// and adds them.
func (p *Partial) Merge(next *Partial, lim []int, c int) {
	d, vt := p.d, p.vt
	for j, n := range lim {
		if n <= c*AttendChunk {
			continue
		}
		mx := max(p.max[j], next.max[j])
		f1 := float32(math.Exp(float64(p.max[j] - mx)))
		f2 := float32(math.Exp(float64(next.max[j] - mx)))
		p.max[j], p.sum[j] = mx, p.sum[j]*f1+next.sum[j]*f2
		for i := j * d; i < (j+1)*d; i++ {
			p.out[i] = p.out[i]*f1 + next.out[i]*f2
		}
		for i := j * vt; i < (j+1)*vt; i++ {
			p.acc[i] = p.acc[i]*f1 + next.acc[i]*f2
		}
	}
}

// Finish writes to out[j·D:(j+1)·D] the attention output of query j from
// its state in p, the merged state of all its chunks, and to lse[j] (lse
// may be nil) the log of its softmax normaliser.
func (h *Head) Finish(out []float32, lim []int, lse []float32, p *Partial) {
	d, vt := h.d, len(h.ValKept)
	for j := range lim {
		inv := 1 / p.sum[j]
		o := out[j*d : (j+1)*d]
		if &o[0] != &p.out[j*d] {
			copy(o, p.out[j*d:(j+1)*d])
		}
		kernels.Scale(o, inv)
		for t, c := range h.ValKept {
			o[c] += p.acc[j*vt+t] * inv
		}
		if lse != nil {
			lse[j] = p.lse(j)
		}
	}
}

// lse returns the log of query j's softmax normaliser.
func (p *Partial) lse(j int) float32 {
	return p.max[j] + float32(math.Log(float64(p.sum[j])))
}
