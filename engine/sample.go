package engine

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Sampling chooses the next token from logits. The zero value of each
// option turns it off.
//
// The logits are first adjusted: LogitBias is added, then the penalties
// apply to the tokens among the last PenaltyLastN the sampler has seen (see
// Sampler.Accept). Greedy decoding takes the largest adjusted logit. Else
// the tokens are weighted exp(logit/Temp), cut by TopK, then TopP (on the
// probabilities of all tokens, or of the top-k), then MinP, and one is
// drawn from the rest.
type Sampling struct {
	Temp float64 // 0: greedy
	TopK int     // 0: no limit
	TopP float64 // 0 or ≥ 1: no nucleus cut
	// MinP keeps only tokens whose probability (at Temp) is at least MinP
	// times the most likely token's, as Hugging Face's and vLLM's min_p.
	// 0 or ≥ 1: no cut.
	MinP float64
	// RepeatPenalty divides a positive logit by it, and multiplies a
	// negative one, for each token in the window (CTRL's, llama.cpp's
	// repeat_penalty, Hugging Face's repetition_penalty). 0 or 1: none.
	RepeatPenalty float64
	// PresencePenalty is subtracted from the logit of each token in the
	// window, FrequencyPenalty once for each time it occurs there, as in
	// OpenAI's API.
	PresencePenalty, FrequencyPenalty float64
	// PenaltyLastN is the penalties' window: the last PenaltyLastN tokens
	// accepted; 0 means 64 (llama.cpp's default), -1 every token.
	PenaltyLastN int
	// LogitBias is added to the logits of its tokens (ids out of the
	// vocabulary are ignored), as OpenAI's logit_bias: -100 all but forbids
	// a token, +100 all but forces it.
	LogitBias map[int]float32
	Seed      uint64
}

// DefaultPenaltyLastN is the penalty window when Sampling.PenaltyLastN is 0.
const DefaultPenaltyLastN = 64

// penalized reports whether s has a penalty.
func (s *Sampling) penalized() bool {
	return s.RepeatPenalty > 0 && s.RepeatPenalty != 1 || s.PresencePenalty != 0 || s.FrequencyPenalty != 0
}

// Sampler draws tokens under a Sampling policy. It owns its buffers, so
// sampling does not allocate.
//
// Tokens rank by logit, the larger first, ties by index, the smaller first.
// Top-k and top-p keep a prefix of that ranking, found without sorting the
// vocabulary: top-k by a heap of the k best, top-p by a histogram of the
// probabilities (see nucleus). The kept tokens are then weighted and drawn
// from in rank order in float64, one uniform variate per token, exactly as
// a full sort would.
type Sampler struct {
	s      Sampling
	rng    *rand.Rand
	probs  []float64    // the kept tokens' weights, [n]
	idx    []int        // the kept tokens, best first, [n]
	keys   []uint64     // candidates' rank keys, [n]
	bucket []uint8      // each token's histogram bucket (nucleus), [n]
	mass   [256]float64 // each bucket's weight ([buckets], indexed by a byte without bounds checks)

	// Logit adjustments (nil when Sampling asks for none).
	adj      []float32 // the adjusted logits, [n]
	biasID   []int     // LogitBias's tokens in the vocabulary
	biasVal  []float32 // and their biases
	window   []int32   // the penalty window, a ring of the last tokens (nil: every token)
	next     int       // the ring's next slot
	filled   bool      // the ring is full
	count    []int32   // each token's occurrences in the window, [n]
	present  []int32   // the tokens with count > 0
	where    []int32   // each present token's index in present, [n]
	penalize bool
}

// The nucleus histogram: bucket b holds the tokens whose logit is between
// b·bucketWidth and (b+1)·bucketWidth (in units of the temperature) below the
// largest, the last bucket every token further down.
const (
	buckets     = 128
	bucketWidth = 0.25
)

// NewSampler makes a sampler for a vocabulary of n tokens.
func NewSampler(s Sampling, n int) *Sampler {
	sm := &Sampler{
		s:     s,
		rng:   rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15)),
		probs: make([]float64, n),
		idx:   make([]int, n),
	}
	if s.Temp > 0 && (s.TopK > 0 && s.TopK < n || s.TopP > 0 && s.TopP < 1) {
		sm.keys = make([]uint64, n)
		if s.TopK <= 0 || s.TopK >= n {
			sm.bucket = make([]uint8, n)
		}
	}
	for id, b := range s.LogitBias {
		if id >= 0 && id < n && b != 0 {
			sm.biasID = append(sm.biasID, id)
			sm.biasVal = append(sm.biasVal, b)
		}
	}
	if sm.penalize = s.penalized(); sm.penalize {
		sm.count = make([]int32, n)
		sm.where = make([]int32, n)
		switch w := s.PenaltyLastN; {
		case w == 0:
			sm.window = make([]int32, DefaultPenaltyLastN)
		case w > 0:
			sm.window = make([]int32, w)
		default:
			sm.present = make([]int32, 0, min(n, 1024))
		}
		if sm.window != nil {
			sm.present = make([]int32, 0, min(len(sm.window), n))
		}
	}
	if sm.penalize || len(sm.biasID) > 0 {
		sm.adj = make([]float32, n)
	}
	return sm
}

// Accept adds tokens to the penalty window, oldest first: tokens the
// sampler did not draw, such as the prompt's if the penalties should count
// them. Sample accepts the tokens it draws itself. Ids out of the
// vocabulary are ignored. Without penalties Accept does nothing.
func (sm *Sampler) Accept(ids ...int) {
	if !sm.penalize {
		return
	}
	for _, id := range ids {
		if id < 0 || id >= len(sm.count) {
			continue
		}
		if sm.window != nil {
			if sm.filled {
				sm.forget(sm.window[sm.next])
			}
			sm.window[sm.next] = int32(id)
			if sm.next++; sm.next == len(sm.window) {
				sm.next, sm.filled = 0, true
			}
		}
		if sm.count[id]++; sm.count[id] == 1 {
			sm.where[id] = int32(len(sm.present))
			sm.present = append(sm.present, int32(id))
		}
	}
}

// forget removes one occurrence of token id from the window's counts.
func (sm *Sampler) forget(id int32) {
	if sm.count[id]--; sm.count[id] > 0 {
		return
	}
	j, last := sm.where[id], sm.present[len(sm.present)-1]
	sm.present[j], sm.where[last] = last, j
	sm.present = sm.present[:len(sm.present)-1]
}

// Reset empties the penalty window, for a new sequence.
func (sm *Sampler) Reset() {
	for _, id := range sm.present {
		sm.count[id] = 0
	}
	sm.present = sm.present[:0]
	sm.next, sm.filled = 0, false
}

// adjust returns the logits with LogitBias and the penalties applied, in
// the sampler's buffer (logits itself if there are none).
func (sm *Sampler) adjust(logits []float32) []float32 {
	if sm.adj == nil || len(sm.biasID) == 0 && len(sm.present) == 0 {
		return logits
	}
	a := sm.adj[:len(logits)]
	copy(a, logits)
	for j, id := range sm.biasID {
		if id < len(a) {
			a[id] += sm.biasVal[j]
		}
	}
	rep := float32(sm.s.RepeatPenalty)
	if rep <= 0 {
		rep = 1
	}
	pres, freq := sm.s.PresencePenalty, sm.s.FrequencyPenalty
	for _, id := range sm.present {
		if int(id) >= len(a) {
			continue
		}
		l := a[id]
		if l > 0 {
			l /= rep
		} else {
			l *= rep
		}
		a[id] = float32(float64(l) - float64(sm.count[id])*freq - pres)
	}
	return a
}

// Argmax returns the index of the largest value (the first on ties).
func Argmax[T float32 | float64](logits []T) int {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	return best
}

// Sample returns the next token, and accepts it into the penalty window
// (see Accept). Logits must not be NaN; they are not modified.
func (sm *Sampler) Sample(logits []float32) int {
	id := sm.draw(sm.adjust(logits))
	sm.Accept(id)
	return id
}

// draw returns the next token for the adjusted logits.
func (sm *Sampler) draw(logits []float32) int {
	if sm.s.Temp <= 0 {
		return Argmax(logits)
	}
	n := len(logits)
	minP := sm.s.MinP > 0 && sm.s.MinP < 1
	cut := sm.s.TopP > 0 && sm.s.TopP < 1
	var p []float64
	var idx []int
	var sum float64
	switch {
	case sm.s.TopK > 0 && sm.s.TopK < n:
		idx = sm.ranked(topK(sm.keys[:sm.s.TopK], logits))
		p, sum = sm.weigh(logits, idx)
		if cut {
			p, idx, sum = sm.cut(p, idx, sum)
		}
	case cut:
		p, idx, sum = sm.nucleus(logits)
	case minP:
		// Only the tokens within ln(MinP)·Temp of the largest logit, in
		// index order.
		m := logits[0]
		for _, l := range logits {
			if l > m {
				m = l
			}
		}
		// A logit clearly below m + Temp·ln(MinP) is out without an
		// exponential; those near it are decided by keepMinP.
		lo := float64(m) + sm.s.Temp*math.Log(sm.s.MinP)
		lo -= 1e-6 * (math.Abs(lo) + 1)
		idx = sm.idx[:0]
		for i, l := range logits {
			if float64(l) >= lo && sm.keepMinP(l, m) {
				idx = append(idx, i)
			}
		}
		p, sum = sm.weigh(logits, idx)
		minP = false
	default:
		idx = sm.idx[:n]
		for i := range idx {
			idx[i] = i
		}
		p, sum = sm.weigh(logits, idx)
	}
	if minP {
		// The ranked tokens kept: a prefix.
		m := logits[idx[0]]
		k := 1
		for k < len(idx) && sm.keepMinP(logits[idx[k]], m) {
			k++
		}
		if k < len(idx) {
			p, idx = p[:k], idx[:k]
			sum = 0
			for _, v := range p {
				sum += v
			}
		}
	}
	r := sm.rng.Float64() * sum
	for j, v := range p {
		r -= v
		if r < 0 {
			return idx[j]
		}
	}
	return idx[len(idx)-1]
}

// keepMinP reports whether a token of logit l stays under MinP when the
// largest logit is m: whether exp((l - m)/Temp) ≥ MinP.
func (sm *Sampler) keepMinP(l, m float32) bool {
	return math.Exp((float64(l)-float64(m))/sm.s.Temp) >= sm.s.MinP
}

// weigh sets the weights of the tokens idx, exp((logit - max)/Temp), and
// returns them and their sum, in the order of idx.
func (sm *Sampler) weigh(logits []float32, idx []int) ([]float64, float64) {
	max := math.Inf(-1)
	for _, i := range idx {
		max = math.Max(max, float64(logits[i]))
	}
	p := sm.probs[:len(idx)]
	var sum float64
	for j, i := range idx {
		p[j] = math.Exp((float64(logits[i]) - max) / sm.s.Temp)
		sum += p[j]
	}
	return p, sum
}

// cut keeps the shortest prefix of the ranked tokens whose probability
// reaches TopP (all of them if rounding keeps it short), and returns its
// weights, tokens and weight.
func (sm *Sampler) cut(p []float64, idx []int, sum float64) ([]float64, []int, float64) {
	var acc float64
	for j := range p {
		acc += p[j] / sum
		if acc >= sm.s.TopP {
			p, idx = p[:j+1], idx[:j+1]
			break
		}
	}
	sum = 0
	for _, v := range p {
		sum += v
	}
	return p, idx, sum
}

// rankKey orders tokens as the sampler ranks them: the larger key first.
// Its high half maps the logit's bits to an unsigned integer in the order of
// the floats (-0 as +0, which compare equal), its low half is the complement
// of the index.
func rankKey(l float32, i int) uint64 {
	b := math.Float32bits(l)
	switch {
	case b == 1<<31:
		b = 1 << 31 // -0 ranks as +0
	case b>>31 != 0:
		b = ^b
	default:
		b |= 1 << 31
	}
	return uint64(b)<<32 | uint64(^uint32(i))
}

// keyIndex returns the token of a rank key.
func keyIndex(k uint64) int { return int(^uint32(k)) }

// ranked sorts keys best first and returns their tokens.
func (sm *Sampler) ranked(keys []uint64) []int {
	slices.Sort(keys)
	idx := sm.idx[:len(keys)]
	for j := range idx {
		idx[j] = keyIndex(keys[len(keys)-1-j])
	}
	return idx
}

// topK returns, in h, the keys of the len(h) best tokens (0 < len(h) ≤
// len(logits)), unordered: a min-heap of the best so far, which most tokens
// fail to enter at the first comparison.
func topK(h []uint64, logits []float32) []uint64 {
	k := len(h)
	for i := range h {
		h[i] = rankKey(logits[i], i)
	}
	for i := k/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	// A token below the heap's least logit cannot enter: one float
	// comparison rejects most tokens.
	least := keyLogit(h[0])
	for i := k; i < len(logits); i++ {
		if logits[i] < least {
			continue
		}
		if key := rankKey(logits[i], i); key > h[0] {
			h[0] = key
			siftDown(h, 0)
			least = keyLogit(h[0])
		}
	}
	return h
}

// keyLogit returns the logit of a rank key (+0 for a zero).
func keyLogit(k uint64) float32 {
	b := uint32(k >> 32)
	if b>>31 != 0 {
		b &^= 1 << 31
	} else {
		b = ^b
	}
	return math.Float32frombits(b)
}

// siftDown restores the min-heap h below position i.
func siftDown(h []uint64, i int) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if c+1 < len(h) && h[c+1] < h[c] {
			c++
		}
		if h[i] <= h[c] {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// nucleus keeps the shortest prefix of the ranking whose probability reaches
// TopP, as a full sort would, and returns its weights, tokens and weight.
//
// One pass puts every token in a histogram bucket by its distance below the
// largest logit, summing each bucket's weight with a float32 exponential;
// the buckets from the top whose weight reaches TopP of the total hold the
// nucleus. Only their tokens are gathered, sorted and weighed in float64 as
// before, against the total: their exact sum plus the float32 weight of the
// rest. If the exact weights fall short of TopP (the float32 sums being a
// little off), the next bucket is added, until none is left; then every
// token is kept, as a full sort keeps them when rounding keeps the sum under
// TopP. The total differs from a sum in rank order of float64 exponentials
// by the float32 error on the weight outside the candidates (a relative 2e-6
// of it at most, from rounding distances of up to 32 to float32), so the
// cut can differ only where a prefix's probability is that close to TopP.
func (sm *Sampler) nucleus(logits []float32) ([]float64, []int, float64) {
	m := logits[0]
	for _, l := range logits {
		if l > m {
			m = l
		}
	}
	sm.histogram(logits, m)
	return sm.gather(logits)
}

// gather finds the nucleus from the histogram (see nucleus). The weights of
// the buckets it gathers only choose where it stops at first (a shortfall
// adds buckets); the others stand in for their tokens in the total.
func (sm *Sampler) gather(logits []float32) ([]float64, []int, float64) {
	bk := sm.bucket[:len(logits)]
	var total float64
	for _, v := range sm.mass[:buckets] {
		total += v
	}
	target := sm.s.TopP * total
	keys := sm.keys[:0]
	var exact float64 // the candidates' weight, in rank order
	lo, hi, cum := 0, 0, 0.0
	for {
		// Grow the candidates to the buckets [0, hi): at least one more,
		// and as many as the histogram says the nucleus needs.
		for hi < buckets {
			cum += sm.mass[hi]
			hi++
			if cum >= target && hi > lo && sm.mass[hi-1] > 0 {
				break
			}
		}
		start := len(keys)
		for i, b := range bk {
			if int(b) >= lo && int(b) < hi {
				keys = append(keys, rankKey(logits[i], i))
			}
		}
		// The new tokens all rank below the old ones: sort them alone.
		seg := keys[start:]
		slices.Sort(seg)
		slices.Reverse(seg)
		idx := sm.idx[:len(keys)]
		for j := start; j < len(keys); j++ {
			idx[j] = keyIndex(keys[j])
		}
		p := sm.probs[:len(keys)]
		max := float64(logits[idx[0]])
		for j := start; j < len(keys); j++ {
			p[j] = math.Exp((float64(logits[idx[j]]) - max) / sm.s.Temp)
			exact += p[j]
		}
		sum := exact
		for _, v := range sm.mass[hi:buckets] {
			sum += v
		}
		if hi == buckets {
			sum = exact // every token: the sum is exact
		}
		var acc float64
		for j := range p {
			acc += p[j] / sum
			if acc >= sm.s.TopP {
				p, idx = p[:j+1], idx[:j+1]
				sum = 0
				for _, v := range p {
					sum += v
				}
				return p, idx, sum
			}
		}
		if hi == buckets {
			return p, idx, exact
		}
		lo = hi
	}
}

// histogram sets each token's bucket by its distance d below m, the largest
// logit, and each bucket's weight in float32: e^-d is e^-b·bucketWidth, the
// bucket's, times e^-δ for the rest δ < bucketWidth, a Taylor polynomial of
// degree 6 (error under 2e-8), except in the last bucket.
func (sm *Sampler) histogram(logits []float32, m float32) {
	const c1, c2, c3 = -bucketWidth, bucketWidth * bucketWidth / 2, -bucketWidth * bucketWidth * bucketWidth / 6
	const c4, c5, c6 = -c3 * bucketWidth / 4, c3 * bucketWidth * bucketWidth / 20, -c3 * bucketWidth * bucketWidth * bucketWidth / 120
	invT := float32(1 / sm.s.Temp)
	mass := &sm.mass
	*mass = [256]float64{}
	bk := sm.bucket[:len(logits)]
	var tail float64
	for i, l := range logits {
		d := (m - l) * invT
		q := d * (1 / bucketWidth)
		if q < buckets-1 {
			b := uint8(q)
			bk[i] = b
			t := q - float32(b) // δ/bucketWidth
			e := ((((((c6*t+c5)*t+c4)*t+c3)*t+c2)*t+c1)*t + 1)
			mass[b] += float64(e)
		} else {
			bk[i] = buckets - 1
			tail += float64(expNeg32(d))
		}
	}
	for b := range buckets - 1 {
		mass[b] *= bucketScale[b]
	}
	mass[buckets-1] = tail
}

// bucketScale is e^-b·bucketWidth for each bucket b but the last.
var bucketScale = func() (s [buckets - 1]float64) {
	for b := range s {
		s[b] = math.Exp(-float64(b) * bucketWidth)
	}
	return s
}()

// expNeg32 returns e^-d for d ≥ 0 in float32 (0 below the smallest normal
// float32; NaN gives 0): Cody and Waite's reduction to e^r·2^k and the
// minimax polynomial of Cephes' expf, within 2 ulp.
func expNeg32(d float32) float32 {
	if !(d < 87.33) {
		return 0
	}
	x := -d
	k := float32(int32(x*1.44269504088896341 - 0.5))
	r := x - k*0.693359375 + k*2.12194440e-4
	y := float32(1.9875691500e-4)
	y = y*r + 1.3981999507e-3
	y = y*r + 8.3334519073e-3
	y = y*r + 4.1665795894e-2
	y = y*r + 1.6666665459e-1
	y = y*r + 5.0000001201e-1
	y = y*r*r + r + 1
	return y * math.Float32frombits(uint32(int32(k)+127)<<23)
}
