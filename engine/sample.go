package engine

import (
	"math"
	"math/rand/v2"
	"sort"
)

// Sampling chooses the next token from logits.
type Sampling struct {
	Temp float64 // 0: greedy
	TopK int     // 0: no limit
	TopP float64 // 0 or ≥ 1: no nucleus cut
	Seed uint64
}

// Sampler draws tokens under a Sampling policy. It owns its buffers, so
// sampling does not allocate.
type Sampler struct {
	s     Sampling
	rng   *rand.Rand
	probs []float64
	idx   []int
}

// NewSampler makes a sampler for a vocabulary of n tokens.
func NewSampler(s Sampling, n int) *Sampler {
	return &Sampler{
		s:     s,
		rng:   rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15)),
		probs: make([]float64, n),
		idx:   make([]int, n),
	}
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

// Sample returns the next token.
func (sm *Sampler) Sample(logits []float32) int {
	if sm.s.Temp <= 0 {
		return Argmax(logits)
	}
	n := len(logits)
	idx := sm.idx[:n]
	for i := range idx {
		idx[i] = i
	}
	k := n
	if sm.s.TopK > 0 && sm.s.TopK < n {
		k = sm.s.TopK
	}
	cut := sm.s.TopP > 0 && sm.s.TopP < 1
	if k < n || cut {
		sort.Slice(idx, func(a, b int) bool {
			if logits[idx[a]] != logits[idx[b]] {
				return logits[idx[a]] > logits[idx[b]]
			}
			return idx[a] < idx[b]
		})
	}
	idx = idx[:k]
	max := math.Inf(-1)
	for _, i := range idx {
		max = math.Max(max, float64(logits[i]))
	}
	p := sm.probs[:k]
	var sum float64
	for j, i := range idx {
		p[j] = math.Exp((float64(logits[i]) - max) / sm.s.Temp)
		sum += p[j]
	}
	if cut {
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
