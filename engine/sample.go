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
// drawn from the rest with probability its weight over theirs. Sampler says
// in which order the draw walks them, which decides the token a given Seed
// draws, and how closely top-p without top-k follows these weights.
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
// probabilities (see nucleus). One uniform variate u per token then walks
// the kept tokens in a fixed order and draws the one where the running sum
// of their weights first exceeds u times their total: each is drawn with
// probability its weight over the total, whatever the order, but which token
// a given seed draws depends on it.
//
// With top-k (with or without top-p and min-p) the kept tokens are walked in
// rank order and weighted exp((logit - max)/Temp) in float64, exactly as a
// full sort would. With top-p alone (and min-p) they are walked in index
// order, weighted e^-d for a distance d = (max - logit)/Temp by a table and
// a polynomial within a relative 2e-10 (see expWeight; 0 from d = 88), and
// the nucleus is the full sort's but where a prefix's probability is within
// 1e-9 of TopP. With the temperature alone every token is walked in index
// order with the same table weights; with min-p alone the kept tokens are
// walked in index order and weighted in float64.
type Sampler struct {
	s     Sampling
	rng   *rand.Rand
	probs []float64          // the kept tokens' weights, [n]
	idx   []int              // the kept tokens, in the order walked, [n]
	keys  []uint64           // candidates' rank keys (top-k, nucleus), [n]
	mass  *[nBuckets]float64 // the nucleus histogram: each bucket's weight

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
			sm.mass = new([nBuckets]float64)
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
	p, idx, sum := sm.keep(logits)
	return idx[pick(p, sm.rng.Float64()*sum)]
}

// keep returns the tokens the policy keeps, in the order the draw walks them
// (see Sampler), their weights and the weights' sum, for Temp > 0.
func (sm *Sampler) keep(logits []float32) ([]float64, []int, float64) {
	n := len(logits)
	minP := sm.s.MinP > 0 && sm.s.MinP < 1
	topP := sm.s.TopP > 0 && sm.s.TopP < 1
	var p []float64
	var idx []int
	var sum float64
	var m float32 // the largest logit
	switch {
	case sm.s.TopK > 0 && sm.s.TopK < n:
		idx = sm.ranked(topK(sm.keys[:sm.s.TopK], logits))
		p, sum = sm.weigh(logits, idx)
		if topP {
			p, idx, sum = sm.cut(p, idx, sum)
		}
		m = logits[idx[0]]
	case topP:
		p, idx, sum, m = sm.nucleus(logits)
	case minP:
		// Only the tokens within ln(MinP)·Temp of the largest logit.
		m = maxLogit(logits)
		lo := sm.minPFloor(m)
		idx = sm.idx[:0]
		for i, l := range logits {
			if float64(l) >= lo && sm.keepMinP(l, m) {
				idx = append(idx, i)
			}
		}
		p, sum = sm.weigh(logits, idx)
		minP = false
	default:
		p, idx, sum = sm.everyToken(logits)
	}
	if minP {
		p, idx, sum = sm.dropMinP(logits, p, idx, m)
	}
	return p, idx, sum
}

// pick returns the position in p where the running sum of the weights first
// exceeds r (the last position if rounding leaves r above their sum): for r
// uniform in [0, Σp), position j with probability p[j]/Σp.
func pick(p []float64, r float64) int {
	for j, v := range p {
		if r -= v; r < 0 {
			return j
		}
	}
	return len(p) - 1
}

// minPFloor returns a logit below which MinP drops every token when the
// largest logit is m; those at or above it are decided by keepMinP, so that
// most of the vocabulary needs no exponential.
func (sm *Sampler) minPFloor(m float32) float64 {
	if math.IsInf(float64(m), 0) {
		return math.Inf(-1)
	}
	lo := float64(m) + sm.s.Temp*math.Log(sm.s.MinP)
	return lo - 1e-6*(math.Abs(lo)+1)
}

// dropMinP removes the tokens under MinP from the kept tokens idx, of
// weights p, the largest logit being m, and returns the rest in the same
// order, their weights and the weights' sum.
func (sm *Sampler) dropMinP(logits []float32, p []float64, idx []int, m float32) ([]float64, []int, float64) {
	lo := sm.minPFloor(m)
	k := 0
	var sum float64
	for j, i := range idx {
		if l := logits[i]; float64(l) >= lo && sm.keepMinP(l, m) {
			p[k], idx[k] = p[j], i
			sum += p[k]
			k++
		}
	}
	return p[:k], idx[:k], sum
}

// keepMinP reports whether a token of logit l stays under MinP when the
// largest logit is m: whether exp((l - m)/Temp) ≥ MinP, or l is the largest
// (so that some token stays even where l - m is NaN, both being infinite).
func (sm *Sampler) keepMinP(l, m float32) bool {
	return l >= m || math.Exp((float64(l)-float64(m))/sm.s.Temp) >= sm.s.MinP
}

// everyToken weighs every token by the table (see expWeight), for the
// temperature alone: no exponential per token. If nothing weighs anything
// (every logit -Inf, some +Inf, or a temperature so close to 0 that the
// largest's distance is NaN), the first largest logit is kept alone.
func (sm *Sampler) everyToken(logits []float32) ([]float64, []int, float64) {
	s := scale{float64(maxLogit(logits)), expSteps / sm.s.Temp}
	p, idx := sm.probs[:len(logits)], sm.idx[:len(logits)]
	var sum float64
	for i, l := range logits {
		idx[i] = i
		p[i] = expWeight(s.steps(l))
		sum += p[i]
	}
	if !(sum > 0) {
		idx, p = idx[:1], p[:1]
		idx[0], p[0] = Argmax(logits), 1
		return p, idx, 1
	}
	return p, idx, sum
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
