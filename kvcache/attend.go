package kvcache

import (
	"math"

	"github.com/thinkv/thinkv/kernels"
)

// keyBlock is how many cached tokens AttendBlock scores at a time.
const keyBlock = 64

// Scratch is the working memory of AttendBlock for up to a fixed number of
// queries; each worker owns one, so attention allocates nothing.
type Scratch struct {
	queries  int
	logits   []float32 // [queries × keyBlock]
	max, sum []float32 // running softmax state per query
	qg       []float32 // queries gathered to the pruned key channels
	acc      []float32 // per query, the pruned-value part of the output
	row      []float32 // one key or value row widened to float32
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

// view returns row i as float32: the stored slice itself, or for f16 a
// conversion into buf.
func (r *rows) view(i int, buf []float32) []float32 {
	r, i = r.at(i)
	lo := i * r.width
	if r.typ == F16 {
		kernels.F16sToF32s(buf[:r.width], r.f16[lo:lo+r.width])
		return buf[:r.width]
	}
	return r.f32[lo : lo+r.width]
}

// AttendBlock computes causal attention for m = len(lim) queries sharing this
// head: query j, q[j·D:(j+1)·D], attends over the first lim[j] ≥ 1 cached
// tokens, and softmax(q·Kᵀ·scale)·V goes to out[j·D:(j+1)·D]. Keys and values
// are read once per block of tokens for all m queries, with an online softmax,
// so memory does not grow with the sequence. Pruned-segment keys are dotted
// with the queries gathered to KeyKept: T multiply-adds, not D. If lse is not
// nil, lse[j] receives the log of query j's softmax normaliser (see Logits).
func (h *Head) AttendBlock(out, q []float32, lim []int, scale float32, lse []float32, s *Scratch) {
	m, d := len(lim), h.d
	nk, nv := h.kp.n(), h.vp.n()
	kt, vt := len(h.KeyKept), len(h.ValKept)
	qg, acc := s.qg[:m*kt], s.acc[:m*vt]
	total := 0
	for j := 0; j < m; j++ {
		for t, c := range h.KeyKept {
			qg[j*kt+t] = q[j*d+c]
		}
		s.max[j], s.sum[j] = float32(math.Inf(-1)), 0
		total = max(total, lim[j])
	}
	out = out[:m*d]
	clear(out)
	clear(acc)
	for b0 := 0; b0 < total; b0 += keyBlock {
		b1 := min(b0+keyBlock, total)
		for i := b0; i < b1; i++ {
			var k, qs []float32
			w := d
			if i < nk {
				k, qs, w = h.kp.view(i, s.row), qg, kt
			} else {
				k, qs = h.kf.view(i-nk, s.row), q
			}
			for j := 0; j < m; j++ {
				if i < lim[j] {
					s.logits[j*keyBlock+i-b0] = kernels.Dot(k, qs[j*w:(j+1)*w]) * scale
				}
			}
		}
		for j := 0; j < m; j++ {
			hi := min(b1, lim[j]) - b0
			if hi <= 0 {
				continue
			}
			l := s.logits[j*keyBlock : j*keyBlock+hi]
			bm := l[0]
			for _, x := range l[1:] {
				bm = max(bm, x)
			}
			if bm > s.max[j] {
				f := float32(math.Exp(float64(s.max[j] - bm)))
				for c := range out[j*d : (j+1)*d] {
					out[j*d+c] *= f
				}
				for c := range acc[j*vt : (j+1)*vt] {
					acc[j*vt+c] *= f
				}
				s.sum[j] *= f
				s.max[j] = bm
			}
			for i, x := range l {
				p := float32(math.Exp(float64(x - s.max[j])))
				l[i] = p
				s.sum[j] += p
			}
		}
		for i := b0; i < b1; i++ {
			if i < nv {
				v := h.vp.view(i, s.row)
				for j := 0; j < m; j++ {
					if i < lim[j] {
						kernels.Axpy(acc[j*vt:(j+1)*vt], s.logits[j*keyBlock+i-b0], v)
					}
				}
				continue
			}
			v := h.vf.view(i-nv, s.row)
			for j := 0; j < m; j++ {
				if i < lim[j] {
					kernels.Axpy(out[j*d:(j+1)*d], s.logits[j*keyBlock+i-b0], v)
				}
			}
		}
	}
	for j := 0; j < m; j++ {
		inv := 1 / s.sum[j]
		o := out[j*d : (j+1)*d]
		for c := range o {
			o[c] *= inv
		}
		for t, c := range h.ValKept {
			o[c] += acc[j*vt+t] * inv
		}
		if lse != nil {
			lse[j] = s.max[j] + float32(math.Log(float64(s.sum[j])))
		}
	}
}

// Logits writes q·K[i]·scale for the first n cached tokens into dst[:n];
// exp(dst[i] − lse) is then token i's attention weight. row is scratch of D floats.
func (h *Head) Logits(dst, q []float32, n int, scale float32, row []float32) {
	nk := h.kp.n()
	qg := row[:len(h.KeyKept)]
	for t, c := range h.KeyKept {
		qg[t] = q[c]
	}
	for i := 0; i < n; i++ {
		if i < nk {
			dst[i] = h.kp.dot(i, qg) * scale
		} else {
			dst[i] = h.kf.dot(i-nk, q) * scale
		}
	}
}

// Attend is AttendBlock for one query that also returns the attention weights
// in probs[:n]. It allocates its scratch: a convenience for tests and tools,
// not for the decode loop.
func (h *Head) Attend(out, q []float32, n int, scale float32, probs []float32) {
	var lse [1]float32
	h.AttendBlock(out, q, []int{n}, scale, lse[:], NewScratch(1, h.d))
	h.Logits(probs, q, n, scale, make([]float32, h.d))
	for i, x := range probs[:n] {
		probs[i] = float32(math.Exp(float64(x - lse[0])))
	}
}
