package model

import (
	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/kvcache"
)

// span is one attention task: the query heads of KV head g for the tokens
// [t0, t1) of row seq, whose keys and values are already in the cache.
type span struct{ seq, g, t0, t1 int32 }

// attention computes causal grouped-query attention for every row of the
// step in layer l. Each task is one row, one KV head and a block of the row's
// tokens: all the group's query heads for those tokens attend together, so
// each cached row is read once per task. A query's result does not depend on
// the task it is in, so rows give the same outputs whatever the batch.
func (m *Model) attention(s *State, l int) {
	s.tasks = s.tasks[:0]
	for i, r := range s.seqs {
		block := s.qblock
		// Attention-weight accumulators are shared by all tokens of a head,
		// so when they are kept a task must own the row's whole head.
		if r.sums(l) != nil || r.c.Head(l, 0).Score != nil {
			block = r.n
		}
		for g := 0; g < m.KVHeads; g++ {
			for t0 := 0; t0 < r.n; t0 += block {
				s.tasks = append(s.tasks, span{int32(i), int32(g), int32(t0), int32(min(t0+block, r.n))})
			}
		}
	}
	s.attn = attnTask{m: m, s: s, l: l}
	s.pool.Run(len(s.tasks), 1, &s.attn)
	s.attn = attnTask{}
}

// sums returns the row's column sums of layer l, or nil when none are kept.
func (r *seq) sums(l int) []float32 {
	if r.obs == nil || !r.obs.WantColSums {
		return nil
	}
	return r.obs.ColSums[l]
}

// attnTask is one layer's attention as a pool Task over s.tasks.
type attnTask struct {
	m *Model
	s *State
	l int
}

func (t *attnTask) Run(w, lo, hi int) {
	group := t.m.Heads / t.m.KVHeads
	for _, sp := range t.s.tasks[lo:hi] {
		r := &t.s.seqs[sp.seq]
		g := int(sp.g)
		t.m.attendBlock(t.s, t.s.work[w], r, r.c.Head(t.l, g), g*group, group, int(sp.t0), int(sp.t1), r.sums(t.l))
	}
}

// attendBlock runs the query heads [h0, h0+group) of tokens [t0, t1) of row
// r against head, then adds the attention weights to sums (per query head,
// [Heads][prompt]) and to head.Score when either is kept. The weights come
// from the same pass over the keys as the outputs (AttendBlockWeights), one
// token's group of query heads at a time, so that they need group×tokens
// floats; they are added one query at a time in the order of positions, so
// sums do not depend on how a prompt is chunked.
func (m *Model) attendBlock(s *State, wk *worker, r *seq, head *kvcache.Head, h0, group, t0, t1 int, sums []float32) {
	hd, dim := m.HeadDim, m.Dim
	before := head.Len() - r.n
	q, out, lim := wk.q, wk.out, wk.lim[:0]
	for i := t0; i < t1; i++ {
		copy(q[(i-t0)*group*hd:], s.q[(r.off+i)*dim+h0*hd:(r.off+i)*dim+(h0+group)*hd])
		for range group {
			lim = append(lim, before+i+1)
		}
	}
	mq := len(lim)
	if sums == nil && head.Score == nil {
		head.AttendBlock(out[:mq*hd], q[:mq*hd], lim, s.scale, wk.lse[:mq], wk.scratch)
		for i := t0; i < t1; i++ {
			copy(s.att[(r.off+i)*dim+h0*hd:(r.off+i)*dim+(h0+group)*hd], out[(i-t0)*group*hd:])
		}
		return
	}
	for i := t0; i < t1; i++ {
		k := before + i + 1
		if len(wk.probs) < group*k { // grows with the sequence, by doubling
			wk.probs = make([]float32, max(group*k, 2*len(wk.probs)))
		}
		qi, oi := q[(i-t0)*group*hd:(i-t0+1)*group*hd], out[:group*hd]
		head.AttendBlockWeights(oi, qi, lim[(i-t0)*group:(i-t0+1)*group], s.scale, wk.lse[:group], wk.probs, wk.scratch)
		copy(s.att[(r.off+i)*dim+h0*hd:(r.off+i)*dim+(h0+group)*hd], oi)
		for j := range group {
			p := wk.probs[j*k : (j+1)*k]
			if sums != nil {
				h := h0 + j
				kernels.Add(sums[h*len(sums)/m.Heads:][:k], p)
			}
			if head.Score != nil {
				kernels.Add(head.Score[:k], p)
			}
		}
	}
}
