package model

import (
	"sync/atomic"
	"time"

	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/kvcache"
)

// span is one attention task: the query heads of KV head g for the tokens
// [t0, t1) of row seq, whose keys and values are already in the cache; or,
// with chunk ≥ 0, those of a decode row (its one token) over chunk chunk of
// the head's keys only (kvcache.AttendPart), into the Partial State.parts[part].
type span struct{ seq, g, t0, t1, chunk, part int32 }

// split is a decode row's head attended in chunks: tasks [first, end) of
// State.tasks, merged in order once they are all done.
type split struct{ first, end int }

// attention computes causal grouped-query attention for every row of the
// step in layer l. Each task is one row, one KV head and a block of the row's
// tokens: all the group's query heads for those tokens attend together, so
// each cached row is read once per task. A query's result does not depend on
// the task it is in, so rows give the same outputs whatever the batch.
//
// On more than one worker, a decode row's head longer than one
// kvcache.AttendChunk is split into a task per chunk (so that a step with
// fewer heads than workers, or a worker slowed by other work, does not
// leave the others waiting), and the chunks' states are merged here in
// order: the same bits as one task (see kvcache.AttendPart). Workers take
// the tasks one at a time as they come free.
func (m *Model) attention(s *State, l int) {
	start := time.Now()
	s.tasks, s.splits = s.tasks[:0], s.splits[:0]
	parts := 0
	for i, r := range s.seqs {
		block := s.qblock
		// Attention-weight accumulators are shared by all tokens of a head,
		// so when they are kept a task must own the row's whole head.
		keep := r.sums(l) != nil || r.c.Head(l, 0).Score != nil
		if keep {
			block = r.n
		}
		for g := 0; g < m.KVHeads; g++ {
			if n := r.c.Head(l, g).Len(); !keep && r.n == 1 && n > kvcache.AttendChunk && s.pool.Workers() > 1 {
				first := len(s.tasks)
				for c := 0; c*kvcache.AttendChunk < n; c++ {
					s.tasks = append(s.tasks, span{int32(i), int32(g), 0, 1, int32(c), int32(parts)})
					parts++
				}
				s.splits = append(s.splits, split{first, len(s.tasks)})
				continue
			}
			for t0 := 0; t0 < r.n; t0 += block {
				s.tasks = append(s.tasks, span{int32(i), int32(g), int32(t0), int32(min(t0+block, r.n)), -1, 0})
			}
		}
	}
	group := m.Heads / m.KVHeads
	for len(s.parts) < parts {
		s.parts = append(s.parts, kvcache.NewPartial(group, m.HeadDim))
	}
	s.attn.m, s.attn.s, s.attn.l = m, s, l
	s.attn.next.Store(0)
	s.pool.Run(min(s.pool.Workers(), len(s.tasks)), 1, &s.attn)
	s.attn.m, s.attn.s = nil, nil
	for _, sp := range s.splits {
		t := s.tasks[sp.first]
		r := &s.seqs[t.seq]
		head := r.c.Head(l, int(t.g))
		lim := decodeLimits(s.lim[:group], head)
		p := s.parts[t.part]
		for k := sp.first + 1; k < sp.end; k++ {
			p.Merge(s.parts[s.tasks[k].part], lim, int(s.tasks[k].chunk))
		}
		o := r.off*m.Dim + int(t.g)*group*m.HeadDim
		head.Finish(s.att[o:o+group*m.HeadDim], lim, nil, p)
	}
	s.attnT += time.Since(start)
}

// sums returns the row's column sums of layer l, or nil when none are kept.
func (r *seq) sums(l int) []float32 {
	if r.obs == nil || !r.obs.WantColSums {
		return nil
	}
	return r.obs.ColSums[l]
}

// attnTask is one layer's attention as a pool Task over s.tasks: each chunk
// of the loop takes the next task left until none is.
type attnTask struct {
	m    *Model
	s    *State
	l    int
	next atomic.Int64 // the first task nobody has taken
}

func (t *attnTask) Run(w, _, _ int) {
	group := t.m.Heads / t.m.KVHeads
	wk := t.s.work[w]
	for {
		k := int(t.next.Add(1)) - 1
		if k >= len(t.s.tasks) {
			return
		}
		sp := t.s.tasks[k]
		r := &t.s.seqs[sp.seq]
		g := int(sp.g)
		head := r.c.Head(t.l, g)
		if sp.chunk < 0 {
			t.m.attendBlock(t.s, wk, r, head, g*group, group, int(sp.t0), int(sp.t1), r.sums(t.l))
			continue
		}
		hd, h0 := t.m.HeadDim, g*group
		q, lim := wk.q[:group*hd], decodeLimits(wk.lim[:group], head)
		copy(q, t.s.q[r.off*t.m.Dim+h0*hd:r.off*t.m.Dim+(h0+group)*hd])
		head.AttendPart(t.s.parts[sp.part], q, lim, t.s.scale, int(sp.chunk), wk.scratch)
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

// decodeLimits sets lim, one per query head of a group, to what a decode
// row's queries attend over, every token of head (its one token is the
// last), and returns it.
func decodeLimits(lim []int, head *kvcache.Head) []int {
	for j := range lim {
		lim[j] = head.Len()
	}
	return lim
}
