package engine

import (
	"math"
	"math/bits"
	"slices"
)

// Top-p without top-k (the nucleus) weighs tokens by a table and a
// polynomial instead of math.Exp, and ranks only the few tokens where the
// nucleus ends.
//
// A token's distance below the largest logit, in units of Temp, is measured
// in table steps: q = (max - logit)·expSteps/Temp. Its weight is
// expWeight(q) = e^(-q/expSteps). Histogram bucket b holds the tokens whose
// nearest step j (see stepOf) has j>>bucketShift = b: distances from
// b/16 - 1/128 up to (b+1)/16 - 1/128. Tokens 88 or more below the largest
// weigh 0 and are in no bucket.
const (
	expSteps    = 64                      // table steps per unit of distance
	expLen      = 88 * expSteps           // where the table ends: e^-88 < 2^-126
	bucketShift = 2                       // a bucket is 4 steps, 1/16 of a unit
	nBuckets    = expLen>>bucketShift + 1 // the histogram's buckets
)

// expTable holds e^(-j/expSteps) for each step j up to expLen.
var expTable = func() (t [expLen + 1]float64) {
	for j := range t {
		t[j] = math.Exp(-float64(j) / expSteps)
	}
	return t
}()

// stepOf splits q in [0, 2^31) into its nearest step j (ties to even) and
// the rest f = q - j in [-1/2, 1/2]: adding 1.5·2^52 rounds q to an integer,
// which the sum's low bits then hold (without the float-to-integer
// conversions, which cost more).
func stepOf(q float64) (j int, f float64) {
	const round = 0x1.8p52
	r := q + round
	return int(uint32(math.Float64bits(r))), q - (r - round)
}

// bucketStart returns the least q in bucket b: a step j is in bucket
// j>>bucketShift, and q = j - 1/2 rounds to the even of j - 1 and j, which is
// j when j starts a bucket.
func bucketStart(b int) float64 { return float64(b<<bucketShift) - 0.5 }

// expWeight returns e^(-q/expSteps) for q ≥ 0, within a relative 2e-10: the
// table at the nearest step j times e^(-f/expSteps) for the rest f, a Taylor
// polynomial of degree 3 (error under (1/128)^4/24 = 1.6e-10). It is 0 from
// q = expLen (a distance of 88) up, and for NaN.
func expWeight(q float64) float64 {
	if !(q < expLen) {
		return 0
	}
	return expAt(stepOf(q))
}

// expAt returns e^(-(j+f)/expSteps) for a step j and a rest f in [-1/2, 1/2].
func expAt(j int, f float64) float64 {
	const s = 1.0 / expSteps
	const c1, c2, c3 = -s, s * s / 2, -s * s * s / 6
	return expTable[j] * (((c3*f+c2)*f+c1)*f + 1)
}

// scale maps logits to distances in table steps below the largest logit.
type scale struct{ max, perUnit float64 }

// steps returns the distance of logit l in table steps: (max - l)·expSteps/Temp.
func (s scale) steps(l float32) float64 { return (s.max - float64(l)) * s.perUnit }

// maxLogit returns the largest of logits (len(logits) > 0), keeping four
// running maxima so that the comparisons do not wait on one another.
func maxLogit(logits []float32) float32 {
	m0 := logits[0]
	m1, m2, m3 := m0, m0, m0
	i := 0
	for ; i+4 <= len(logits); i += 4 {
		l := logits[i : i+4 : i+4]
		if l[0] > m0 {
			m0 = l[0]
		}
		if l[1] > m1 {
			m1 = l[1]
		}
		if l[2] > m2 {
			m2 = l[2]
		}
		if l[3] > m3 {
			m3 = l[3]
		}
	}
	for _, l := range logits[i:] {
		if l > m0 {
			m0 = l
		}
	}
	for _, m := range [...]float32{m1, m2, m3} {
		if m > m0 {
			m0 = m
		}
	}
	return m0
}

// nucleus keeps the shortest prefix of the ranking whose probability reaches
// TopP, as a full sort in float64 would, and returns its weights, its tokens
// in index order, their weight and the largest logit.
//
// One pass sums the tokens' weights into buckets by distance below the
// largest logit (histogram). A token's bucket never ranks it above a token of
// a lower bucket, so the nucleus holds every token of the buckets above the
// one where the running sum of the buckets' weights reaches TopP of the
// total, and none below it: only that bucket's tokens are ranked, by a
// weighted selection (crossing), not a sort. A second pass collects the
// tokens of the buckets up to it in index order, and those of it ranked
// below the cut are dropped.
//
// The weights being within a relative 2e-10 of float64 exponentials (see
// expWeight), and summed in float64, a prefix's probability is within 1e-9
// of the full sort's: the nucleus can differ from the full sort's only where
// a prefix's probability is that close to TopP.
func (sm *Sampler) nucleus(logits []float32) ([]float64, []int, float64, float32) {
	m := maxLogit(logits)
	s := scale{float64(m), expSteps / sm.s.Temp}
	total := sm.histogram(logits, s)
	if !(total > 0) {
		// Nothing weighs anything: every logit -Inf, or some +Inf, or a
		// temperature so close to 0 that the largest's distance is NaN.
		idx, p := sm.idx[:1], sm.probs[:1]
		idx[0], p[0] = Argmax(logits), 1
		return p, idx, 1, m
	}
	p, idx, sum := sm.gather(logits, s, total)
	return p, idx, sum, m
}

// histogram sets the weight of each bucket, and returns their total.
func (sm *Sampler) histogram(logits []float32, s scale) float64 {
	mass := sm.mass
	*mass = [nBuckets]float64{}
	for _, l := range logits {
		if q := s.steps(l); q < expLen {
			j, f := stepOf(q)
			mass[j>>bucketShift] += expAt(j, f)
		}
	}
	var total float64
	for _, w := range mass {
		total += w
	}
	return total
}

// gather finds the nucleus from the histogram, total being the buckets'
// weight (see nucleus). Should the tokens of the bucket where the
// histogram puts the cut fall short of it (their weights summed in another
// order), the next bucket's tokens are added, until none is left; then every
// token of positive weight is kept, as a full sort keeps every token when
// rounding keeps the cumulative probability under TopP.
func (sm *Sampler) gather(logits []float32, s scale, total float64) ([]float64, []int, float64) {
	mass := sm.mass
	target := sm.s.TopP * total
	need := target // the weight the nucleus needs beyond the buckets above c
	c := 0
	for c < nBuckets-1 && !(mass[c] > 0 && mass[c] >= need) {
		need -= mass[c]
		c++
	}
	var idx []int
	var cut uint64 // the rank key of the nucleus's last token
	for {
		lo, hi := bucketStart(c), bucketStart(c+1)
		idx = sm.collect(logits, s, hi)
		keys := sm.keys[:0]
		for _, i := range idx {
			if s.steps(logits[i]) >= lo {
				keys = append(keys, rankKey(logits[i], i))
			}
		}
		var left float64
		if cut, left = crossing(keys, need, s); left <= 0 {
			break
		}
		for c++; c < nBuckets && mass[c] == 0; c++ {
		}
		if c == nBuckets {
			cut = 0 // every token collected
			break
		}
		need = left
	}
	p := sm.probs[:0]
	var sum float64
	k := 0
	for _, i := range idx {
		if rankKey(logits[i], i) >= cut {
			w := expWeight(s.steps(logits[i]))
			idx[k] = i
			p = append(p, w)
			sum += w
			k++
		}
	}
	return p, idx[:k], sum
}

// collect returns, in index order, the tokens less than hi steps below the
// largest logit. It appends without branches (a token is written, and
// counted only if it qualifies), a nucleus being too mixed among the
// vocabulary for branches to be predicted.
func (sm *Sampler) collect(logits []float32, s scale, hi float64) []int {
	idx := sm.idx[:len(logits)]
	k := 0
	for i, l := range logits {
		idx[k] = i
		if s.steps(l) < hi {
			k++
		}
	}
	return idx[:k]
}

// crossing returns the rank key of the last token of the shortest prefix, in
// rank order, of the tokens whose keys are given (in any order, which it
// changes) whose weight reaches need > 0, and need less that prefix's
// weight (≤ 0). If they all fall short it returns 0 and the shortfall (> 0).
//
// It is a quickselect that weighs: the keys above a pivot, if their weight
// reaches need, hold the end of the prefix; else their weight and the
// pivot's are taken from need and the search goes on below the pivot. A few
// keys, or those left after too many rounds (pivots chosen badly), are
// sorted.
func crossing(keys []uint64, need float64, s scale) (uint64, float64) {
	weight := func(k uint64) float64 { return expWeight(s.steps(keyLogit(k))) }
	for rounds := 2 * bits.Len(uint(len(keys))); len(keys) > 32 && rounds > 0; rounds-- {
		// The median of the first, middle and last keys, moved to the end.
		last, mid := len(keys)-1, len(keys)/2
		if keys[0] > keys[mid] {
			keys[0], keys[mid] = keys[mid], keys[0]
		}
		if keys[mid] > keys[last] {
			keys[mid], keys[last] = keys[last], keys[mid]
			if keys[0] > keys[mid] {
				keys[0], keys[mid] = keys[mid], keys[0]
			}
		}
		keys[mid], keys[last] = keys[last], keys[mid]
		pivot := keys[last]
		above := 0
		var w float64
		for j, k := range keys[:last] {
			if k > pivot {
				keys[j], keys[above] = keys[above], k
				above++
				w += weight(k)
			}
		}
		if w >= need {
			keys = keys[:above]
			continue
		}
		need -= w
		if need -= weight(pivot); need <= 0 {
			return pivot, need
		}
		keys[above], keys[last] = keys[last], keys[above] // the pivot out of the rest
		keys = keys[above+1:]
	}
	slices.Sort(keys)
	for j := len(keys) - 1; j >= 0; j-- {
		if need -= weight(keys[j]); need <= 0 {
			return keys[j], need
		}
	}
	return 0, need
}
