package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// nucleusTol is how close to TopP a prefix's probability may come for the
// sampler's nucleus to differ from the full sort's: its weights are within a
// relative 2e-10 of float64 exponentials, which moves a prefix's probability
// by at most 4e-10, and float64 sums of up to 128,256 terms by 2e-11.
const nucleusTol = 1e-9

// refKept is the kept set by brute force: the vocabulary ranked by a full
// sort in float64 (as refSample), cut by TopK, by TopP (the shortest prefix
// whose probability, summed in rank order, reaches it, or all), then by
// MinP. It returns the ranking, the tokens' weights exp((logit - max)/Temp)
// in rank order, and the shortest and longest kept prefix that a cut at TopP
// ∓ tol gives: the same, the reference's, unless a prefix's probability
// comes within tol of TopP.
func refKept(logits []float32, s Sampling, tol float64) (rank []int, w []float64, kLo, kHi int) {
	n := len(logits)
	rank = make([]int, n)
	for i := range rank {
		rank[i] = i
	}
	sort.SliceStable(rank, func(a, b int) bool { return float64(logits[rank[a]]) > float64(logits[rank[b]]) })
	k := n
	if s.TopK > 0 && s.TopK < n {
		k = s.TopK
	}
	max := float64(logits[rank[0]])
	w = make([]float64, n)
	var sum float64
	for j, i := range rank {
		w[j] = math.Exp((float64(logits[i]) - max) / s.Temp)
		if j < k {
			sum += w[j]
		}
	}
	kLo, kHi = k, k
	if s.TopP > 0 && s.TopP < 1 {
		var acc float64
		for j := range k {
			acc += w[j] / sum
			if acc >= s.TopP-tol && kLo == k {
				kLo = j + 1
			}
			if acc >= s.TopP+tol && kHi == k {
				kHi = j + 1
			}
		}
	}
	if s.MinP > 0 && s.MinP < 1 {
		m := 0
		for m < k && math.Exp((float64(logits[rank[m]])-max)/s.Temp) >= s.MinP {
			m++
		}
		kLo, kHi = min(kLo, m), min(kHi, m)
	}
	return rank, w, kLo, kHi
}

// checkKept checks the tokens idx and weights p (of sum sum) that a sampler
// keeps against refKept: the kept tokens must be the ranking's first k for
// a k from kLo to kHi, and each weight over sum must be the reference's
// weight over the reference weight of the same tokens, within a relative
// 1e-9.
func checkKept(logits []float32, s Sampling, p []float64, idx []int, sum float64) error {
	rank, w, kLo, kHi := refKept(logits, s, nucleusTol)
	k := len(idx)
	if len(p) != k || k < kLo || k > kHi {
		return fmt.Errorf("kept %d tokens (%d weights), the full sort %d to %d", k, len(p), kLo, kHi)
	}
	pos := make(map[int]int, k) // each token's place in the ranking
	for j, i := range rank {
		pos[i] = j
	}
	var refSum, got float64
	for j := range k {
		refSum += w[j]
	}
	seen := make(map[int]bool, k)
	for j, i := range idx {
		r, ok := pos[i]
		if !ok || r >= k || seen[i] {
			return fmt.Errorf("kept token %d (rank %d) outside the full sort's first %d, or twice", i, r, k)
		}
		seen[i] = true
		want := w[r] / refSum
		if g := p[j] / sum; math.Abs(g-want) > 1e-9*want {
			return fmt.Errorf("token %d: probability %.17g, the full sort %.17g", i, g, want)
		}
		got += p[j]
	}
	if math.Abs(got-sum) > 1e-12*sum {
		return fmt.Errorf("weights sum to %g, reported %g", got, sum)
	}
	return nil
}

// walk is the inverse-CDF draw by brute force: the first position whose
// cumulative weight exceeds r, the last if none does. ok is false if r is
// within 1e-12 times the total of a cumulative weight, where rounding may
// decide either way.
func walk(p []float64, r float64) (j int, ok bool) {
	var total float64
	for _, v := range p {
		total += v
	}
	var cum float64
	for c, v := range p {
		cum += v
		if math.Abs(cum-r) <= 1e-12*total {
			return c, false
		}
		if cum > r {
			return c, true
		}
	}
	return len(p) - 1, true
}

// checkDraw checks, for a sampler whose Sample must draw from the tokens idx
// of weights p (copies), that several variates u pick the position a
// brute-force walk of the weights in their order picks, and that Sample
// draws the token the walk draws for the variate from rng (a copy of the
// sampler's), unless the variate lies where rounding may decide.
func checkDraw(sm *Sampler, logits []float32, p []float64, idx []int, sum float64, rng *rand.Rand) error {
	for _, u := range []float64{0, 1e-9, 0.1, 0.25, 0.5, 0.75, 0.999, math.Nextafter(1, 0)} {
		if want, ok := walk(p, u*sum); ok && pick(p, u*sum) != want {
			return fmt.Errorf("u %g: picked position %d, the walk %d", u, pick(p, u*sum), want)
		}
	}
	want, ok := walk(p, rng.Float64()*sum)
	if got := sm.Sample(logits); ok && got != idx[want] {
		return fmt.Errorf("sampled %d, the walk of the kept tokens draws %d", got, idx[want])
	}
	return nil
}

// TestSamplerExpWeight checks the nucleus's exponential against math.Exp
// over its table's range, and 0 beyond.
func TestSamplerExpWeight(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i <= 2_000_000; i++ {
		q := float64(i) * expLen / 2_000_000
		if i%2 == 1 {
			q = rng.Float64() * expLen
		}
		if q >= expLen {
			continue
		}
		want := math.Exp(-q / expSteps)
		if got := expWeight(q); math.Abs(got-want) > 2e-10*want {
			t.Fatalf("expWeight(%g) = %.17g, want %.17g", q, got, want)
		}
	}
	for _, q := range []float64{expLen, 1e6, math.Inf(1), math.NaN()} {
		if got := expWeight(q); got != 0 {
			t.Errorf("expWeight(%g) = %g, want 0", q, got)
		}
	}
}

// TestSamplerSteps checks stepOf against math.RoundToEven on random and
// half-integer distances, and bucketStart against the buckets of the steps
// at and just below each bucket's start.
func TestSamplerSteps(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	bucket := func(q float64) int { j, _ := stepOf(q); return j >> bucketShift }
	for i := range 1_000_000 {
		q := rng.Float64() * expLen
		if i%4 == 0 {
			q = float64(rng.IntN(2*expLen)) / 2
		}
		j, f := stepOf(q)
		if want := math.RoundToEven(q); float64(j) != want || f != q-want {
			t.Fatalf("stepOf(%v) = %d, %v, want %v, %v", q, j, f, want, q-want)
		}
	}
	for b := range nBuckets {
		q := bucketStart(b)
		if b == 0 {
			q = 0
		}
		if got := bucket(q); got != b {
			t.Fatalf("bucket %d starts at %v, in bucket %d", b, q, got)
		}
		if b > 0 {
			if below := math.Nextafter(q, 0); bucket(below) != b-1 {
				t.Fatalf("%v, just under bucket %d's start, in bucket %d", below, b, bucket(below))
			}
		}
	}
}

// TestSamplerMaxLogit checks maxLogit for every length up to 9 with the
// largest logit anywhere.
func TestSamplerMaxLogit(t *testing.T) {
	for n := 1; n <= 9; n++ {
		for at := range n {
			l := make([]float32, n)
			for i := range l {
				l[i] = float32(-i)
			}
			l[at] = 5
			if got := maxLogit(l); got != 5 {
				t.Errorf("n %d, the largest at %d: maxLogit %g, want 5", n, at, got)
			}
		}
	}
}

// TestSamplerHistogram checks each bucket's weight against the sum of
// float64 exponentials of its tokens (within a relative 2e-10), and that a
// token's bucket never ranks it above a token of a lower bucket.
func TestSamplerHistogram(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 60 {
		logits := randomLogits(rng, 2000)
		s := Sampling{Temp: []float64{0.3, 1, 2}[trial%3], TopP: 0.9}
		sm := NewSampler(s, len(logits))
		m := maxLogit(logits)
		sc := scale{float64(m), expSteps / s.Temp}
		total := sm.histogram(logits, sc)
		var want [nBuckets]float64
		bucket := make([]int, len(logits)) // -1: none
		for i, l := range logits {
			bucket[i] = -1
			if q := sc.steps(l); q < expLen {
				bucket[i] = int(math.RoundToEven(q)) >> bucketShift
				want[bucket[i]] += math.Exp((float64(l) - float64(m)) / s.Temp)
			}
		}
		var wantTotal float64
		for b, w := range want {
			wantTotal += w
			if got := sm.mass[b]; math.Abs(got-w) > 2e-10*w {
				t.Fatalf("trial %d: bucket %d weighs %.17g, want %.17g", trial, b, got, w)
			}
		}
		if math.Abs(total-wantTotal) > 2e-10*wantTotal {
			t.Fatalf("trial %d: total %g, want %g", trial, total, wantTotal)
		}
		rank, _, _, _ := refKept(logits, s, 0)
		for j := 1; j < len(rank); j++ {
			a, b := bucket[rank[j-1]], bucket[rank[j]]
			if a == -1 && b != -1 || b != -1 && a > b {
				t.Fatalf("trial %d: token %d (logit %g) in bucket %d, ranked above token %d (logit %g) in bucket %d",
					trial, rank[j-1], logits[rank[j-1]], a, rank[j], logits[rank[j]], b)
			}
		}
	}
}

// TestSamplerCrossing checks the weighted selection against a sort and a
// walk, on random keys (ties of logit included) and needs, in random,
// ascending and descending order: the same key and need left, unless the
// need comes within 1e-12 of the total of a prefix's weight (which must be
// rare; constant logits make such needs).
func TestSamplerCrossing(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	compared := 0
	for trial := range 3000 {
		n := 1 + rng.IntN([]int{10, 100, 5000}[trial%3])
		logits := randomLogits(rng, n)
		m := maxLogit(logits)
		if math.IsInf(float64(m), -1) {
			continue
		}
		s := scale{float64(m), expSteps / []float64{0.3, 1, 3}[rng.IntN(3)]}
		keys := make([]uint64, n)
		var total float64
		for i, l := range logits {
			keys[i] = rankKey(l, i)
			total += expWeight(s.steps(l))
		}
		switch rng.IntN(3) {
		case 1:
			slices.Sort(keys)
		case 2:
			slices.Sort(keys)
			slices.Reverse(keys)
		}
		need := total * []float64{1e-6, 0.3, 0.9, 0.999999, 1.5}[rng.IntN(5)]
		sorted := slices.Clone(keys)
		slices.Sort(sorted)
		slices.Reverse(sorted)
		wantKey, wantLeft, near := uint64(0), need, false
		for _, k := range sorted {
			w := expWeight(s.steps(keyLogit(k)))
			if math.Abs(wantLeft-w) <= 1e-12*total || math.Abs(wantLeft) <= 1e-12*total {
				near = true
			}
			if wantLeft -= w; wantLeft <= 0 {
				wantKey = k
				break
			}
		}
		gotKey, gotLeft := crossing(keys, need, s)
		if near {
			continue
		}
		compared++
		if gotKey != wantKey || (gotLeft <= 0) != (wantLeft <= 0) || math.Abs(gotLeft-wantLeft) > 1e-12*total {
			t.Fatalf("trial %d, n %d, need %g of %g: crossing at token %d with %g left, the sort at %d with %g left",
				trial, n, need, total, keyIndex(gotKey), gotLeft, keyIndex(wantKey), wantLeft)
		}
	}
	t.Logf("%d of 3000 needs compared", compared)
	if compared < 2500 {
		t.Errorf("only %d of 3000 needs compared", compared)
	}
}

// TestSamplerNucleusShortfall misleads the histogram (the top bucket, above
// the cut, given the whole weight, so that it seems to hold the end of the
// nucleus) and checks that the nucleus still comes out as the full sort's,
// bucket by bucket: the path taken when the tokens of the bucket where the
// histogram puts the cut fall short of it.
func TestSamplerNucleusShortfall(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	grown := 0
	for trial := range 400 {
		n := 1 + rng.IntN(3000)
		logits := randomLogits(rng, n)
		s := Sampling{Temp: []float64{0.5, 1, 2}[rng.IntN(3)], TopP: []float64{0.5, 0.9, 0.99}[rng.IntN(3)], Seed: rng.Uint64()}
		sm := NewSampler(s, n)
		m := maxLogit(logits)
		sc := scale{float64(m), expSteps / s.Temp}
		total := sm.histogram(logits, sc)
		if !(total > 0) {
			continue
		}
		// The first bucket where the running sum reaches TopP.
		var acc float64
		c := 0
		for ; c < nBuckets-1 && acc+sm.mass[c] < s.TopP*total; c++ {
			acc += sm.mass[c]
		}
		if c == 0 {
			continue // no bucket above the cut
		}
		sm.mass[0] = total
		grown++
		p, idx, sum := sm.gather(logits, sc, total)
		if err := checkKept(logits, s, p, idx, sum); err != nil {
			t.Fatalf("trial %d, %+v, n %d: %v", trial, s, n, err)
		}
	}
	if grown < 200 {
		t.Errorf("only %d of 400 trials had a bucket above the cut", grown)
	}
}

// TestSamplerDegenerate checks top-p where nothing weighs anything
// (every logit -Inf, a +Inf logit, a temperature under which the largest
// logit's distance is NaN), and the temperature alone likewise: the first
// largest logit, as greedy decoding, with or without min-p. Min-p alone and
// with top-k must draw some token.
func TestSamplerDegenerate(t *testing.T) {
	inf := float32(math.Inf(1))
	for _, tc := range []struct {
		logits []float32
		temp   float64
		want   int
	}{
		{[]float32{-inf, -inf, -inf}, 1, 0},
		{[]float32{0, inf, 1, inf}, 1, 1},
		{[]float32{1, 3, 2, 3}, 1e-320, 1},
	} {
		for _, s := range []Sampling{{TopP: 0.9}, {TopP: 0.9, MinP: 0.1}, {}, {TopK: 2, MinP: 0.1}, {MinP: 0.1}} {
			exact := s.TopP > 0 || s.TopK == 0 && s.MinP == 0
			s.Temp, s.Seed = tc.temp, 1
			sm := NewSampler(s, len(tc.logits))
			got := sm.Sample(tc.logits)
			if exact && got != tc.want || got < 0 || got >= len(tc.logits) {
				t.Errorf("logits %v, %+v: sampled %d, want %d", tc.logits, s, got, tc.want)
			}
		}
	}
}
