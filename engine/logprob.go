package engine

import (
	"math"
	"slices"
)

// TokenLogprob is a token and its log-probability.
type TokenLogprob struct {
	Token   int
	Logprob float32
}

// logprober computes the log-probabilities a request asks for
// (Request.Logprobs, Request.LogprobChosen), reusing its buffers: only the
// events' TopLogprobs need memory of their own, carved from a slab allocated
// once every logprobSlab tokens.
type logprober struct {
	k    int            // alternatives per token
	keys []uint64       // the top-k heap, [k]
	slab []TokenLogprob // unused room for events' TopLogprobs
}

// logprobSlab is how many tokens' alternatives a slab holds.
const logprobSlab = 64

// newLogprober returns the logprober req asks for over a vocabulary of n
// tokens, or nil if it asks for none.
func newLogprober(req *Request, n int) *logprober {
	if req.Logprobs <= 0 && !req.LogprobChosen {
		return nil
	}
	k := min(max(req.Logprobs, 0), n)
	return &logprober{k: k, keys: make([]uint64, k)}
}

// of returns the log-probability of token id and the k most likely tokens
// with theirs, best first (ties by index, the smaller first), under the
// distribution softmax(logits): the model's, before the sampler's
// temperature, bias or penalties, as OpenAI reports them.
func (lp *logprober) of(logits []float32, id int) (float32, []TokenLogprob) {
	lse := logSumExp(logits)
	chosen := float32(float64(logits[id]) - lse)
	if lp.k == 0 {
		return chosen, nil
	}
	h := topK(lp.keys, logits)
	slices.Sort(h)
	if len(lp.slab) < lp.k {
		lp.slab = make([]TokenLogprob, lp.k*logprobSlab)
	}
	top := lp.slab[:lp.k:lp.k]
	lp.slab = lp.slab[lp.k:]
	for j := range top {
		i := keyIndex(h[len(h)-1-j])
		top[j] = TokenLogprob{Token: i, Logprob: float32(float64(logits[i]) - lse)}
	}
	return chosen, top
}

// logSumExp returns log Σ exp(logits): the largest logit m plus the log of
// Σ exp(l - m), summed in float64 over float32 exponentials (expNeg32, within
// 2 ulp), so within a few 1e-7 of the float64 value.
func logSumExp(logits []float32) float64 {
	m := logits[0]
	for _, l := range logits {
		if l > m {
			m = l
		}
	}
	var sum float64
	for _, l := range logits {
		sum += float64(expNeg32(m - l))
	}
	return float64(m) + math.Log(sum)
}
