package kvcache

import (
	"math"

	"github.com/thinkv/thinkv/kernels"
)

// keyBlock is how many cached tokens AttendBlock scores at a time.
const keyBlock = 64

// Scratch is the working memory of AttendBlock for up to a fixed number of
// queries; each worker owns one, so attention allocates nothing. Over a
// cache of a blocked type (q8_0, q4_0) a Scratch also grows, on first use,
// BlockScratchBytes more for the quantized queries and a block of
// dequantized value rows, and over a head longer than AttendChunk tokens
// PartialBytes(queries, d) more for the state of a chunk; it keeps them.
type Scratch struct {
	queries  int
	logits   []float32 // [queries × keyBlock]
	max, sum []float32 // running softmax state per query
	qg       []float32 // queries gathered to the pruned key channels
	acc      []float32 // per query, the pruned-value part of the output
	row      []float32 // D floats, unused: kept so that ScratchBytes (which model.StateBytes mirrors) is unchanged
	// The codecs' own scratch (see codec.prepare and codec.accum): nothing
	// for f16 and f32; grown on first use, then kept.
	qbuf, gbuf, vbuf []float32
	qf, qp           queries // the queries and the gathered ones, prepared
	// The state of a chunk after the first (see AttendChunk), made on
	// first use: PartialBytes(queries, d).
	part *Partial
}

// NewScratch makes scratch for up to queries queries of head dimension d.
func NewScratch(queries, d int) *Scratch {
	return &Scratch{
		queries: queries,
		logits:  make([]float32, queries*keyBlock),
		max:     make([]float32, queries),
		sum:     make([]float32, queries),
		qg:      make([]float32, queries*d),
		acc:     make([]float32, queries*d),
		row:     make([]float32, d),
	}
}

// ScratchBytes returns the bytes NewScratch(queries, d) allocates.
func ScratchBytes(queries, d int) int64 {
	q, dd := int64(queries), int64(d)
	return 4 * (q*keyBlock + 2*q + 2*q*dd + dd)
}

// BlockScratchBytes returns the most bytes a Scratch for queries queries of
// head dimension d grows by over caches of the blocked types: the queries
// and the queries gathered to the kept key channels as Q8 blocks, and
// keyBlock dequantized value rows (only used for rows that are not whole
// blocks: see blockCodec.accum).
func BlockScratchBytes(queries, d int) int64 {
	w := kernels.ActsWords(queries, kernels.PaddedCols(d))
	return 4 * (2*int64(w) + keyBlock*int64(d))
}

// span returns the bytes of rows [i, i+n) of r, or of its first got < n
// rows when they cross from the shared part into r's own.
func (r *rows) span(i, n int) (data []byte, got int) {
	b, j := r.at(i)
	got = n
	if b != r {
		got = min(n, r.sn-i)
	}
	return b.data[j*r.rb : (j+got)*r.rb], got
}

// dots sets dst[j·ldd+i−i0] = scale·(row i · qⱼ) for rows [i0, i1) of r and
// the prepared queries q (rows of r.width), reading each row once for all
// queries.
func (r *rows) dots(dst []float32, ldd int, i0, i1 int, q *queries, scale float32) {
	for i := i0; i < i1; {
		data, got := r.span(i, i1-i)
		r.c.dots(dst[i-i0:], ldd, data, q, scale)
		i += got
	}
}

// accum adds Σᵢ p[j·ldp+i−i0]·(row i) to out[j·ldo:j·ldo+r.width] for the m
// outputs j and the rows [i0, i1) of r, reading each row once for a group
// of outputs; tmp is the codec's scratch.
func (r *rows) accum(out []float32, ldo int, p []float32, ldp, m, i0, i1 int, tmp *[]float32) {
	for i := i0; i < i1; {
		data, got := r.span(i, i1-i)
		r.c.accum(out, ldo, p[i-i0:], ldp, m, data, r.width, tmp)
		i += got
	}
}

// AttendBlock computes causal attention for m = len(lim) queries sharing this
// head: query j, q[j·D:(j+1)·D], attends over the first lim[j] ≥ 1 cached
// tokens, and softmax(q·Kᵀ·scale)·V goes to out[j·D:(j+1)·D]. Keys and values
// are read once per block of tokens for all m queries, with an online softmax,
// so memory does not grow with the sequence. Pruned-segment keys are dotted
// with the queries gathered to KeyKept (once per call): T multiply-adds, not
// D. If lse is not nil, lse[j] receives the log of query j's softmax
// normaliser (see Logits).
//
// A query's results depend only on the query, its limit and the cache, not
// on the other queries of the call: the same bits alone or in any group.
func (h *Head) AttendBlock(out, q []float32, lim []int, scale float32, lse []float32, s *Scratch) {
	h.attend(out, q, lim, scale, lse, nil, s)
}

// AttendBlockWeights is AttendBlock that also returns the attention weights,
// exp(logit − log-normaliser), in the same pass over the keys: query j's
// weights over its lim[j] tokens go to probs[o:o+lim[j]], where o =
// lim[0]+…+lim[j−1]. The logits are stored there as the keys are scored and
// turned into weights at the end, once the normaliser is known.
func (h *Head) AttendBlockWeights(out, q []float32, lim []int, scale float32, lse, probs []float32, s *Scratch) {
	total := 0
	for _, n := range lim {
		total += n
	}
	h.attend(out, q, lim, scale, lse, probs[:total], s)
}

func (h *Head) attend(out, q []float32, lim []int, scale float32, lse, probs []float32, s *Scratch) {
	m := len(lim)
	total := h.prepare(q, lim, s)
	// The chunks left to right: the first one's state is the total's as
	// it comes, each later one's is merged into it.
	vt := len(h.ValKept)
	st := Partial{d: h.d, vt: vt, max: s.max[:m], sum: s.sum[:m], out: out[:m*h.d], acc: s.acc[:m*vt]}
	h.chunk(&st, lim, scale, 0, min(total, AttendChunk), probs, s)
	for c := 1; c*AttendChunk < total; c++ {
		p := s.partial(m, h.d, vt)
		h.chunk(&p, lim, scale, c*AttendChunk, min(total, (c+1)*AttendChunk), probs, s)
		st.Merge(&p, lim, c)
	}
	h.Finish(out, lim, lse, &st)
	if probs != nil {
		off := 0
		for j := range m {
			kernels.ExpShift(probs[off:off+lim[j]], st.lse(j))
			off += lim[j]
		}
	}
}

// prepare readies the queries of an attention call for the codecs (the
// gathered ones for the pruned keys) and returns the longest limit.
func (h *Head) prepare(q []float32, lim []int, s *Scratch) (total int) {
	m, d := len(lim), h.d
	nk := h.kp.n()
	kt := len(h.KeyKept)
	qg := s.qg[:m*kt]
	q = q[:m*d]
	for j := 0; j < m; j++ {
		for t, c := range h.KeyKept {
			qg[j*kt+t] = q[j*d+c]
		}
		total = max(total, lim[j])
	}
	qf, qp := &s.qf, &s.qp
	*qf, *qp = queries{f: q, m: m, width: d}, queries{f: qg, m: m, width: kt}
	if total > nk {
		h.kf.c.prepare(qf, &s.qbuf)
	}
	if nk > 0 {
		h.kp.c.prepare(qp, &s.gbuf)
	}
	return total
}

// chunk sets st to the softmax state of the prepared queries over the
// cached tokens [b0, b1) (each query's up to its limit), with an online
// softmax over blocks of keyBlock tokens; with probs, the logits are also
// copied there (see AttendBlockWeights).
func (h *Head) chunk(st *Partial, lim []int, scale float32, b0, b1 int, probs []float32, s *Scratch) {
	m, d := len(lim), h.d
	nk, nv := h.kp.n(), h.vp.n()
	vt := len(h.ValKept)
	out, acc := st.out, st.acc
	for j := 0; j < m; j++ {
		st.max[j], st.sum[j] = float32(math.Inf(-1)), 0
	}
	clear(out)
	clear(acc)
	negInf := float32(math.Inf(-1))
	for ; b0 < b1; b0 += keyBlock {
		b1 := min(b0+keyBlock, b1)
		nb := b1 - b0
		l := s.logits[:m*keyBlock]
		if b0 < nk {
			h.kp.dots(l, keyBlock, b0, min(b1, nk), &s.qp, scale)
		}
		if b1 > nk {
			h.kf.dots(l[max(nk-b0, 0):], keyBlock, max(b0, nk)-nk, b1-nk, &s.qf, scale)
		}
		off := 0 // where query j's weights start in probs
		for j := 0; j < m; j++ {
			row := l[j*keyBlock : (j+1)*keyBlock]
			hi := min(b1, lim[j]) - b0
			if probs != nil && hi > 0 {
				copy(probs[off+b0:off+b0+hi], row[:hi])
			}
			off += lim[j]
			if hi <= 0 {
				clear(row[:nb])
				continue
			}
			if bm := kernels.Max(row[:hi]); bm > st.max[j] {
				f := float32(math.Exp(float64(st.max[j] - bm)))
				kernels.Scale(out[j*d:(j+1)*d], f)
				kernels.Scale(acc[j*vt:(j+1)*vt], f)
				st.sum[j] *= f
				st.max[j] = bm
			}
			// The weights of this block, and 0 past the limit: −Inf up to
			// a multiple of 8, so that the sum is the same whatever the
			// other queries' limits, then cleared.
			h8 := min((hi+7)&^7, keyBlock)
			for i := hi; i < h8; i++ {
				row[i] = negInf
			}
			st.sum[j] += kernels.ExpShift(row[:h8], st.max[j])
			if h8 < nb {
				clear(row[h8:nb])
			}
		}
		if b0 < nv {
			h.vp.accum(acc, vt, l, keyBlock, m, b0, min(b1, nv), &s.vbuf)
		}
		if b1 > nv {
			h.vf.accum(out, d, l[max(nv-b0, 0):], keyBlock, m, max(b0, nv)-nv, b1-nv, &s.vbuf)
		}
	}
}

// Logits writes q·K[i]·scale for the first n cached tokens into dst[:n], as
// AttendBlock computes them: exp(dst[i] − lse) is then token i's attention
// weight. row is scratch of D floats.
func (h *Head) Logits(dst, q []float32, n int, scale float32, row []float32) {
	nk := min(h.kp.n(), n)
	if nk > 0 {
		qg := row[:len(h.KeyKept)]
		for t, c := range h.KeyKept {
			qg[t] = q[c]
		}
		qp := queries{f: qg, m: 1, width: len(qg)}
		var buf []float32
		h.kp.c.prepare(&qp, &buf)
		h.kp.dots(dst, n, 0, nk, &qp, scale)
	}
	if n > nk {
		qf := queries{f: q[:h.d], m: 1, width: h.d}
		var buf []float32
		h.kf.c.prepare(&qf, &buf)
		h.kf.dots(dst[nk:], n, 0, n-nk, &qf, scale)
	}
}

// Attend is AttendBlock for one query that also returns the attention weights
// in probs[:n]. It allocates its scratch: a convenience for tests and tools,
// not for the decode loop.
func (h *Head) Attend(out, q []float32, n int, scale float32, probs []float32) {
	var lse [1]float32
	h.AttendBlockWeights(out, q, []int{n}, scale, lse[:], probs[:n], NewScratch(1, h.d))
}
