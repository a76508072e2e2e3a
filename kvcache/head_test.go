package kvcache_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/kvcache"
)

// mirror is an independent model of one Head: every token's key and value in
// float64 as the storage type rounds it (see stored: pruned rows are stored
// again, their kept channels on their own), a flag per token telling whether
// its key/value lives in the pruned segment, the kept channel sets, and the
// row capacity each of the four segments must have been allocated with.
type mirror struct {
	d                int
	typ              kvcache.DType
	pos              []int
	k, v             [][]float64
	kPruned, vPruned []bool
	keyKept, valKept []int
	// rows allocated: key pruned/full, value pruned/full
	kpCap, kfCap, vpCap, vfCap int
	capacity                   int // the cache's token limit
}

// newMirror mirrors a head of a cache of the given Capacity that is appended
// to directly (Next stays 0): nothing is allocated until tokens arrive.
func newMirror(typ kvcache.DType, d, capacity int) *mirror {
	return &mirror{d: d, typ: typ, capacity: capacity}
}

func (m *mirror) round(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range stored(m.typ, x) {
		out[i] = float64(v)
	}
	return out
}

// restore models a row moving into a pruned segment: its kept channels are
// stored again, as a row of their own.
func (m *mirror) restore(x []float64, kept []int) []float64 {
	g := make([]float32, len(kept))
	for j, c := range kept {
		g[j] = float32(x[c])
	}
	out := make([]float64, len(x))
	for j, v := range stored(m.typ, g) {
		out[kept[j]] = float64(v)
	}
	return out
}

// append adds a token; a full segment that is out of rows doubles (at least
// 64 rows, at most Capacity less the pruned segment's rows, at least what it needs).
func (m *mirror) append(pos int, k, v []float32) {
	m.pos = append(m.pos, pos)
	m.k, m.v = append(m.k, m.round(k)), append(m.v, m.round(v))
	m.kPruned, m.vPruned = append(m.kPruned, false), append(m.vPruned, false)
	all := rangeN(len(m.pos))
	for _, seg := range []struct {
		flags []bool
		fc    *int
	}{{m.kPruned, &m.kfCap}, {m.vPruned, &m.vfCap}} {
		pruned := count(seg.flags, all)
		if full := len(m.pos) - pruned; full > *seg.fc {
			*seg.fc = max(full, min(max(2**seg.fc, 64), m.capacity-pruned))
		}
	}
}

// zeroed returns row x with every channel outside kept set to zero.
func zeroed(x []float64, kept []int) []float64 {
	out := make([]float64, len(x))
	for _, c := range kept {
		out[c] = x[c]
	}
	return out
}

func (m *mirror) key(i int) []float64 {
	if m.kPruned[i] {
		return zeroed(m.k[i], m.keyKept)
	}
	return m.k[i]
}

func (m *mirror) value(i int) []float64 {
	if m.vPruned[i] {
		return zeroed(m.v[i], m.valKept)
	}
	return m.v[i]
}

func count(flags []bool, idx []int) (in int) {
	for _, i := range idx {
		if flags[i] {
			in++
		}
	}
	return in
}

// keep mirrors Head.Keep: storage is reallocated to exactly the kept rows of
// each segment, plus extra rows in the full segments.
func (m *mirror) keep(idx []int, extra int) {
	kp, vp := count(m.kPruned, idx), count(m.vPruned, idx)
	m.kpCap, m.kfCap = kp, len(idx)-kp+extra
	m.vpCap, m.vfCap = vp, len(idx)-vp+extra
	pick := func(i int) bool { return !slices.Contains(idx, i) }
	m.filter(pick)
}

func (m *mirror) evict(i int) { m.filter(func(j int) bool { return j == i }) }

func (m *mirror) filter(drop func(int) bool) {
	var pos []int
	var k, v [][]float64
	var kp, vp []bool
	for i := range m.pos {
		if !drop(i) {
			pos, k, v = append(pos, m.pos[i]), append(k, m.k[i]), append(v, m.v[i])
			kp, vp = append(kp, m.kPruned[i]), append(vp, m.vPruned[i])
		}
	}
	m.pos, m.k, m.v, m.kPruned, m.vPruned = pos, k, v, kp, vp
}

// prune mirrors PruneKeys/PruneValues: all but the last recent tokens are
// pruned; the pruned segment holds exactly them, the full one the rest plus extra.
func (m *mirror) prune(values bool, kept []int, recent, extra int) {
	n := len(m.pos)
	old := max(0, n-recent)
	flags, pc, fc, rows := m.kPruned, &m.kpCap, &m.kfCap, m.k
	if values {
		flags, pc, fc, rows = m.vPruned, &m.vpCap, &m.vfCap, m.v
		m.valKept = kept
	} else {
		m.keyKept = kept
	}
	for i := range old {
		flags[i] = true
		rows[i] = m.restore(rows[i], kept)
	}
	*pc, *fc = old, n-old+extra
}

// pack mirrors Head.Pack: the full-segment tokens but the last recent move
// to the pruned segment of keys (values) if their channels were pruned,
// which grows as a full segment does; the full segment keeps its rows.
func (m *mirror) pack(recent int) {
	all := rangeN(len(m.pos))
	for _, seg := range []struct {
		flags []bool
		kept  []int
		pc    *int
		rows  [][]float64
	}{{m.kPruned, m.keyKept, &m.kpCap, m.k}, {m.vPruned, m.valKept, &m.vpCap, m.v}} {
		if seg.kept == nil {
			continue
		}
		pruned := count(seg.flags, all)
		move := len(m.pos) - pruned - max(recent, 0)
		if move <= 0 {
			continue
		}
		for i := pruned; i < pruned+move; i++ {
			seg.flags[i] = true
			seg.rows[i] = m.restore(seg.rows[i], seg.kept)
		}
		if need := pruned + move; need > *seg.pc {
			*seg.pc = max(need, min(max(2**seg.pc, 64), m.capacity))
		}
	}
}

func (m *mirror) bytes() int64 {
	rb := func(w int) int64 { return rowBytesRef(m.typ, w) }
	return int64(m.kpCap)*rb(len(m.keyKept)) + int64(m.kfCap)*rb(m.d) + int64(m.vpCap)*rb(len(m.valKept)) + int64(m.vfCap)*rb(m.d)
}

// attend is the brute-force reference: softmax(q·K₀ᵀ·scale)·V₀ over the first
// n tokens, K₀ and V₀ zero-filled in the pruned channels. For the blocked
// types it dots the keys with the query as attention quantizes it: q8Query
// of q for full rows, and of q gathered to the kept channels for pruned ones.
func (m *mirror) attend(q []float32, n int, scale float64) (out, probs []float64) {
	return m.attendQ(q, n, scale, blocked(m.typ))
}

// attendQ is attend, with the query quantized as attention over a blocked
// type does (quantize) or exact.
func (m *mirror) attendQ(q []float32, n int, scale float64, quantize bool) (out, probs []float64) {
	probs = make([]float64, n)
	mx := math.Inf(-1)
	for i := range probs {
		probs[i] = m.logit(q, i, quantize) * scale
		mx = math.Max(mx, probs[i])
	}
	var sum float64
	for i := range probs {
		probs[i] = math.Exp(probs[i] - mx)
		sum += probs[i]
	}
	out = make([]float64, m.d)
	for i := range probs {
		probs[i] /= sum
		v := m.value(i)
		for j := range out {
			out[j] += probs[i] * v[j]
		}
	}
	return out, probs
}

// logit returns q·K₀[i] (unscaled), with q quantized as attention over a
// blocked type does if quantize.
func (m *mirror) logit(q []float32, i int, quantize bool) float64 {
	k := m.key(i)
	kept := rangeN(m.d)
	if m.kPruned[i] {
		kept = m.keyKept
	}
	g := make([]float32, len(kept))
	for j, c := range kept {
		g[j] = q[c]
	}
	qq := make([]float64, len(g))
	for j, v := range g {
		qq[j] = float64(v)
	}
	if quantize {
		qq = q8Query(g)
	}
	var l float64
	for j, c := range kept {
		l += qq[j] * k[c]
	}
	return l
}

// logitError returns the most that token i's scaled logit may move when the
// query is quantized as attention over a blocked type does (0 for f16 and f32).
func (m *mirror) logitError(q []float32, i int, scale float64) float64 {
	if !blocked(m.typ) {
		return 0
	}
	kept := rangeN(m.d)
	if m.kPruned[i] {
		kept = m.keyKept
	}
	g, k := make([]float32, len(kept)), make([]float64, len(kept))
	for j, c := range kept {
		g[j], k[j] = q[c], m.key(i)[c]
	}
	return q8QueryError(g, k, scale)
}

func randVec(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// randSubset returns a sorted random subset of [0,n) of size k.
func randSubset(rng *rand.Rand, n, k int) []int {
	s := rng.Perm(n)[:k]
	slices.Sort(s)
	return s
}

// TestAttendMatchesZeroFilled runs random sequences of Keep, Evict, PruneKeys,
// PruneValues and Append on a Head and its mirror, and after each step checks
// Attend (output and probabilities) against brute-force zero-filled attention,
// Key/Value against the mirror's rows, Pos, and Bytes against the exact
// allocation the operations imply.
func TestAttendMatchesZeroFilled(t *testing.T) {
	cases := []struct {
		name string
		typ  kvcache.DType
		d, n int
		ops  string
	}{
		{"f32 d8 keys", kvcache.F32, 8, 40, "pruneK append"},
		{"f32 d8 evict-first", kvcache.F32, 8, 60, "keep evict pruneK append evict append"},
		{"f32 d8 keys+values", kvcache.F32, 8, 50, "keep pruneK pruneV append keep evict append"},
		{"f32 d64 values-first", kvcache.F32, 64, 70, "pruneV evict keep pruneK append append"},
		{"f32 d128", kvcache.F32, 128, 90, "keep pruneK evict pruneV keep append evict append"},
		{"f16 d8", kvcache.F16, 8, 50, "keep pruneK pruneV append evict"},
		{"f16 d128", kvcache.F16, 128, 80, "evict pruneK keep pruneV append append evict"},
		{"f32 d8 pack", kvcache.F32, 8, 40, "pruneK append append pack append pack evict pruneV append pack keep append pack"},
		{"f16 d64 pack", kvcache.F16, 64, 70, "pack pruneV append append append pack append evict pack pruneK append pack"},
		{"q8_0 d8", kvcache.Q8_0, 8, 50, "keep pruneK pruneV append evict"},
		{"q8_0 d64", kvcache.Q8_0, 64, 80, "evict pruneK keep pruneV append append evict"},
		{"q8_0 d128 pack", kvcache.Q8_0, 128, 90, "pack pruneK append append pack append evict pruneV pack keep append pack"},
		{"q4_0 d8", kvcache.Q4_0, 8, 50, "keep pruneK pruneV append evict"},
		{"q4_0 d40", kvcache.Q4_0, 40, 60, "pruneV evict keep pruneK append append"},
		{"q4_0 d128 pack", kvcache.Q4_0, 128, 90, "pruneK append append pack append pack evict pruneV append pack keep append pack"},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for seed := range uint64(8) {
				rng := rand.New(rand.NewPCG(seed, uint64(ci)))
				capacity := tc.n + 8
				c, err := kvcache.New(kvcache.Config{Layers: 1, KVHeads: 1, HeadDim: tc.d, Type: tc.typ, Capacity: capacity})
				if err != nil {
					t.Fatal(err)
				}
				h, m := c.Head(0, 0), newMirror(tc.typ, tc.d, capacity)
				next := 0
				add := func() {
					k, v := randVec(rng, tc.d), randVec(rng, tc.d)
					h.Append(next, k, v)
					m.append(next, k, v)
					next++
				}
				for range tc.n {
					add()
				}
				check(t, h, m, rng, "prefill")
				for _, op := range strings.Fields(tc.ops) {
					extra := rng.IntN(4) + 2 // room for the appends below
					switch op {
					case "keep":
						idx := randSubset(rng, h.Len(), 1+rng.IntN(h.Len()))
						if err := h.Keep(idx, extra); err != nil {
							t.Fatal(err)
						}
						m.keep(idx, extra)
					case "evict":
						for range 1 + rng.IntN(3) {
							i := rng.IntN(h.Len())
							h.Evict(i)
							m.evict(i)
						}
					case "pruneK", "pruneV":
						kept := randSubset(rng, tc.d, 1+rng.IntN(tc.d))
						recent := rng.IntN(h.Len() + 3) // sometimes more than all tokens
						if op == "pruneK" {
							err = h.PruneKeys(kept, recent, extra)
						} else {
							err = h.PruneValues(kept, recent, extra)
						}
						if err != nil {
							t.Fatal(err)
						}
						m.prune(op == "pruneV", kept, recent, extra)
					case "append":
						add()
					case "pack":
						recent := rng.IntN(4)
						nk, nv := h.Split()
						gotK, gotV := h.Pack(recent)
						m.pack(recent)
						mk, mv := h.Split()
						if mk-nk != gotK || mv-nv != gotV {
							t.Fatalf("Pack returned (%d,%d), the split moved by (%d,%d)", gotK, gotV, mk-nk, mv-nv)
						}
					}
					check(t, h, m, rng, op)
				}
			}
		})
	}
}

func check(t *testing.T, h *kvcache.Head, m *mirror, rng *rand.Rand, step string) {
	t.Helper()
	d := m.d
	if !slices.Equal(toInts(h.Pos), m.pos) {
		t.Fatalf("after %s: Pos %v, want %v", step, h.Pos, m.pos)
	}
	if got, want := h.Bytes(), m.bytes(); got != want {
		t.Fatalf("after %s: Bytes %d, want %d", step, got, want)
	}
	nk, nv := h.Split()
	if nk != count(m.kPruned, rangeN(len(m.pos))) || nv != count(m.vPruned, rangeN(len(m.pos))) {
		t.Fatalf("after %s: Split (%d,%d) disagrees with the mirror", step, nk, nv)
	}
	row := make([]float32, d)
	for i := range m.pos {
		h.Key(row, i)
		assertClose(t, step+": key", row, m.key(i), 0)
		h.Value(row, i)
		assertClose(t, step+": value", row, m.value(i), 0)
	}
	scale := 1 / math.Sqrt(float64(d))
	out, probs := make([]float32, d), make([]float32, h.Len())
	for _, n := range []int{1, (h.Len() + 1) / 2, h.Len()} {
		q := randVec(rng, d)
		h.Attend(out, q, n, float32(scale), probs)
		wantOut, wantP := m.attend(q, n, scale)
		assertClose(t, step+": attention output", out, wantOut, 1e-5)
		assertClose(t, step+": attention weights", probs[:n], wantP, 1e-5)
		if blocked(m.typ) {
			checkQuantError(t, step, m, q, n, scale, out, probs[:n])
		}
	}
}

// checkQuantError checks attention over a blocked type against exact
// attention over the stored (dequantized) keys and values, with the query
// unquantized: if quantizing the query moves every logit by at most δ
// (q8QueryError: half a step per block times the block's Σ|k|), every
// weight moves by at most a factor e^{±2δ}, so each weight by at most
// w·(e^{2δ}−1) and each output channel by at most (e^{2δ}−1)·max|v|; plus
// 1e-5 for the float roundings.
func checkQuantError(t *testing.T, step string, m *mirror, q []float32, n int, scale float64, out, probs []float32) {
	t.Helper()
	exact, wantP := m.attendQ(q, n, scale, false)
	var delta float64
	vmax := make([]float64, m.d)
	for i := range n {
		delta = math.Max(delta, m.logitError(q, i, scale))
		for c, v := range m.value(i) {
			vmax[c] = math.Max(vmax[c], math.Abs(v))
		}
	}
	f := math.Expm1(2 * delta)
	for c := range out {
		if e := math.Abs(float64(out[c]) - exact[c]); e > f*vmax[c]+1e-5 {
			t.Fatalf("%s: output[%d] = %g, exact-query attention %g: error %g > bound %g (δ %g)", step, c, out[c], exact[c], e, f*vmax[c]+1e-5, delta)
		}
	}
	for i := range probs {
		if e := math.Abs(float64(probs[i]) - wantP[i]); e > f*wantP[i]+1e-5 {
			t.Fatalf("%s: weight %d = %g, exact-query attention %g: error %g > bound %g", step, i, probs[i], wantP[i], e, f*wantP[i]+1e-5)
		}
	}
}

func assertClose(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > tol {
			t.Fatalf("%s[%d] = %v, want %v (tolerance %g)", what, i, got[i], want[i], tol)
		}
	}
}

func toInts(p []int32) []int {
	out := make([]int, len(p))
	for i, x := range p {
		out[i] = int(x)
	}
	return out
}

func rangeN(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
