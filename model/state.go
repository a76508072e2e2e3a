package model

import (
	"math"
	"time"
	"unsafe"

	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/kvcache"
)

// State is the scratch memory of forward steps: one workspace, for up to
// Batch tokens per step however many sequences they come from, with
// activations and per-worker attention buffers. Nothing in it is sized by the
// context: the one buffer that follows the sequences' length (attention
// weights, used only when a press accumulates them) grows by doubling as the
// longest sequence does, so Step and Forward do not allocate on the decode
// path in steady state. RoPE's rotations are a table by position, computed
// once and grown by doubling as positions grow (8·RopeDim/2 bytes a
// position).
type State struct {
	Batch  int    // most tokens per step, over all its rows; Forward splits longer inputs
	Token  [1]int // a one-token input buffer for decoding without allocation
	pool   *kernels.Pool
	one    [1]Row             // Forward's row
	seqs   []seq              // the step's rows, [≤ Batch]
	out    [][]float32        // each row's logits, [≤ Batch]
	tasks  []span             // attention tasks, [≤ Batch×KVHeads], more when heads are split into chunks
	splits []split            // the heads split into chunks
	parts  []*kvcache.Partial // their chunks' softmax states, grown to the most a step needed
	lim    []int              // [Heads/KVHeads], for merging chunks
	x, xb  []float32          // [Batch×Dim] residual stream, normalised copy
	q      []float32          // [Batch×Dim]
	k, v   []float32          // [Batch×KVDim]
	att    []float32          // [Batch×Dim] attention output
	hb, hu []float32          // [Batch×Hidden]
	logits []float32          // [Batch×Vocab]
	work   []*worker          // per pool worker
	attn   attnTask           // the attention loop, reused
	qblock int                // tokens per attention task
	scale  float32            // 1/√HeadDim
	freqs  []float64          // RoPE inverse frequencies, [RopeDim/2]
	rot    []float32          // RoPE cos and sin of pos·freq_i at [(pos·RopeDim/2 + i)·2], for every pos below len/RopeDim
	neox   bool               // RoPE pairs (i, i+RopeDim/2)
	attnT  time.Duration      // wall time in attention (see AttentionTime)
}

// AttentionTime returns the wall-clock time the steps run with s have spent
// in attention since s was made: every layer's scores, softmax and weighted
// values over the cache, for all the step's rows, with the chunk merges.
// thinkv bench reads it around decode steps to report attention's time per
// token directly, not as a difference of two runs.
func (s *State) AttentionTime() time.Duration { return s.attnT }

// worker is one pool worker's attention scratch.
type worker struct {
	q, out  []float32 // a task's queries and outputs, [queries×HeadDim]
	lim     []int     // tokens each query sees
	lse     []float32 // softmax normalisers
	probs   []float32 // one query's attention weights, grown to the longest head attended
	row     []float32 // [HeadDim]
	scratch *kvcache.Scratch
}

// NewState makes scratch for batches of up to batch tokens, running its loops
// on pool (nil: serially). Buffers that depend on the sequence's length grow
// with it.
func (m *Model) NewState(pool *kernels.Pool, batch int) *State {
	kvDim := m.KVHeads * m.HeadDim
	s := &State{
		Batch: batch, pool: pool,
		x: make([]float32, batch*m.Dim), xb: make([]float32, batch*m.Dim),
		q: make([]float32, batch*m.Dim), att: make([]float32, batch*m.Dim),
		k: make([]float32, batch*kvDim), v: make([]float32, batch*kvDim),
		hb: make([]float32, batch*m.Hidden), hu: make([]float32, batch*m.Hidden),
		logits: make([]float32, batch*m.Vocab),
		freqs:  make([]float64, m.RopeDim/2),
		seqs:   make([]seq, 0, batch), out: make([][]float32, batch),
		tasks: make([]span, 0, batch*m.KVHeads),
		lim:   make([]int, m.Heads/m.KVHeads),
	}
	group := m.Heads / m.KVHeads
	s.qblock = max(1, 32/group)
	s.scale = float32(1 / math.Sqrt(float64(m.HeadDim)))
	// A task holds at most a whole chunk of the group's queries (when
	// attention weights are accumulated per head).
	queries := group * batch
	for w := 0; w < pool.Workers(); w++ {
		s.work = append(s.work, &worker{
			q: make([]float32, queries*m.HeadDim), out: make([]float32, queries*m.HeadDim),
			lim: make([]int, 0, queries), lse: make([]float32, queries),
			row:     make([]float32, m.HeadDim),
			scratch: kvcache.NewScratch(queries, m.HeadDim),
		})
	}
	scale := 1.0
	if m.RopeScale > 0 {
		scale = 1 / m.RopeScale
	}
	for i := range s.freqs {
		s.freqs[i] = scale / math.Pow(m.RopeTheta, float64(2*i)/float64(m.RopeDim))
		if m.RopeFactors != nil {
			s.freqs[i] /= float64(m.RopeFactors[i])
		}
	}
	s.neox = m.RopeNeoX
	return s
}

// rope rotates channel pair i of each head of x by pos·freq_i: the pairs are
// (2i, 2i+1), as llama2.c and GGUF llama use, or (i, i+RopeDim/2) for NeoX.
// The cosines and sines come from the table, so that a position's are
// computed once rather than per layer and step.
func (s *State) rope(x []float32, heads, headDim, pos int) {
	half := len(s.freqs)
	if (pos+1)*2*half > len(s.rot) {
		s.growRope(pos)
	}
	rot := s.rot[pos*2*half : (pos+1)*2*half]
	for i := range half {
		c, sn := rot[2*i], rot[2*i+1]
		j0, j1 := 2*i, 2*i+1
		if s.neox {
			j0, j1 = i, i+half
		}
		for h := 0; h < heads; h++ {
			o := h * headDim
			a, b := x[o+j0], x[o+j1]
			x[o+j0] = a*c - b*sn
			x[o+j1] = a*sn + b*c
		}
	}
}

// growRope extends the rotation table past pos: to twice its positions, or
// pos+1 if that is more. Each entry is float32(cos) and float32(sin) of
// math.Sincos(pos·freq_i), as rope computed them before there was a table.
func (s *State) growRope(pos int) {
	half := len(s.freqs)
	have := len(s.rot) / (2 * half)
	n := max(2*have, pos+1)
	rot := make([]float32, n*2*half)
	copy(rot, s.rot)
	for p := have; p < n; p++ {
		for i, f := range s.freqs {
			sin, cos := math.Sincos(float64(p) * f)
			rot[(p*half+i)*2], rot[(p*half+i)*2+1] = float32(cos), float32(sin)
		}
	}
	s.rot = rot
}

// StateBytes returns the bytes NewState allocates for workers pool workers and
// steps of up to batch tokens, plus the attention-weight buffer each worker
// grows to for a sequence of tokens tokens (which presses that accumulate
// attention, such as H2O, use), the RoPE table (RopeDim float32s a
// position, grown by doubling: at most 2·tokens positions) and, over a
// cache of a blocked type (typ.Block() > 1: q8_0, q4_0), what each worker's
// attention scratch grows by on first use (kvcache.BlockScratchBytes for
// the scratch's queries, the most any attention call can pass) and, past
// kvcache.AttendChunk tokens, the softmax states of a long head's chunks
// (see attention): the scratch a sequence needs besides its cache.
func (m *Model) StateBytes(workers, batch, tokens int, typ kvcache.DType) int64 {
	const f32, word = 4, 8
	b, kvDim := int64(batch), int64(m.KVHeads*m.HeadDim)
	n := f32 * b * (4*int64(m.Dim) + 2*kvDim + 2*int64(m.Hidden) + int64(m.Vocab))
	n += word * int64(m.RopeDim/2)
	n += b * (int64(unsafe.Sizeof(seq{})) + int64(unsafe.Sizeof([]float32(nil))) + int64(m.KVHeads)*int64(unsafe.Sizeof(span{})))
	queries, hd := int64(m.Heads/m.KVHeads)*b, int64(m.HeadDim)
	perWorker := f32*(2*queries*hd+queries+hd) + word*queries // q, out, lse, row; lim
	perWorker += kvcache.ScratchBytes(int(queries), m.HeadDim)
	perWorker += f32 * 2 * int64(m.Heads/m.KVHeads) * int64(tokens) // probs: the group's attention weights, grown by doubling
	if typ.Block() > 1 {
		perWorker += kvcache.BlockScratchBytes(int(queries), m.HeadDim) // queries as Q8 blocks, dequantized value rows
	}
	n += f32 * int64(m.RopeDim) * 2 * int64(tokens) // rot
	n += word * int64(m.Heads/m.KVHeads)            // lim
	if tokens > kvcache.AttendChunk {
		// A scratch's state of a later chunk; on several workers, a state
		// per chunk of each decode row's head, their tasks (beyond the
		// Batch×KVHeads made up front) and the split list (both grown by
		// append: at most twice their length).
		perWorker += kvcache.PartialBytes(int(queries), m.HeadDim)
		if workers > 1 {
			chunks := b * int64(m.KVHeads) * int64((tokens+kvcache.AttendChunk-1)/kvcache.AttendChunk)
			n += chunks * (kvcache.PartialBytes(m.Heads/m.KVHeads, m.HeadDim) + 2*word)
			n += 2 * chunks * int64(unsafe.Sizeof(span{}))
			n += 2 * b * int64(m.KVHeads) * int64(unsafe.Sizeof(split{}))
		}
	}
	return n + int64(max(workers, 1))*perWorker
}
