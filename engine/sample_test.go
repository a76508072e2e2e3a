package engine

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

func TestArgmax(t *testing.T) {
	if got := Argmax([]float32{1, 3, 3, -1}); got != 1 {
		t.Errorf("Argmax = %d, want 1 (first of the ties)", got)
	}
}

// TestSamplerDistribution draws many tokens and compares their frequencies
// with the distribution each policy defines.
func TestSamplerDistribution(t *testing.T) {
	logits := []float32{2, 1, 0.5, 0, -1, -3}
	softmax := func(temp float64, keep []int) []float64 {
		p := make([]float64, len(logits))
		var sum float64
		for _, i := range keep {
			p[i] = math.Exp(float64(logits[i]) / temp)
			sum += p[i]
		}
		for i := range p {
			p[i] /= sum
		}
		return p
	}
	all := []int{0, 1, 2, 3, 4, 5}
	for _, tc := range []struct {
		name string
		s    Sampling
		want []float64
	}{
		{"temperature 1", Sampling{Temp: 1, Seed: 1}, softmax(1, all)},
		{"temperature 0.5", Sampling{Temp: 0.5, Seed: 2}, softmax(0.5, all)},
		{"top-k 2", Sampling{Temp: 1, TopK: 2, Seed: 3}, softmax(1, []int{0, 1})},
		// p(0)=0.54, p(0)+p(1)=0.74 ≥ 0.7: the nucleus is {0, 1}.
		{"top-p 0.7", Sampling{Temp: 1, TopP: 0.7, Seed: 4}, softmax(1, []int{0, 1})},
	} {
		sm := NewSampler(tc.s, len(logits))
		const n = 200000
		count := make([]float64, len(logits))
		for i := 0; i < n; i++ {
			count[sm.Sample(logits)]++
		}
		for i, p := range tc.want {
			got := count[i] / n
			// Five binomial standard deviations.
			if tol := 5 * math.Sqrt(p*(1-p)/n); math.Abs(got-p) > tol+1e-9 {
				t.Errorf("%s: token %d drawn with frequency %.4f, want %.4f ± %.4f", tc.name, i, got, p, tol)
			}
		}
	}
}

func TestSamplerGreedyAndSeeded(t *testing.T) {
	logits := []float32{0.1, 0.3, 0.2}
	if got := NewSampler(Sampling{}, 3).Sample(logits); got != 1 {
		t.Errorf("greedy sample = %d, want 1", got)
	}
	a, b := NewSampler(Sampling{Temp: 1, Seed: 9}, 3), NewSampler(Sampling{Temp: 1, Seed: 9}, 3)
	for i := 0; i < 100; i++ {
		if a.Sample(logits) != b.Sample(logits) {
			t.Fatal("two samplers with one seed disagree")
		}
	}
}

// benchLogits returns n logits: Gaussian with standard deviation sigma, so
// that larger sigma makes a more peaked distribution (at temperature 1 a
// top-p 0.9 nucleus of about 400 of 128,256 tokens at sigma 4, about 30,000
// at sigma 2).
func benchLogits(n int, sigma float64, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	l := make([]float32, n)
	for i := range l {
		l[i] = float32(sigma * rng.NormFloat64())
	}
	return l
}

// BenchmarkSample samples from a Llama 3 sized vocabulary (128,256 tokens)
// under each policy.
func BenchmarkSample(b *testing.B) {
	const vocab = 128256
	for _, dist := range []struct {
		name  string
		sigma float64
	}{{"peaked", 4}, {"flat", 2}} {
		logits := benchLogits(vocab, dist.sigma, 1)
		for _, tc := range []struct {
			name string
			s    Sampling
		}{
			{"top-k=40,top-p=0.9", Sampling{Temp: 1, TopK: 40, TopP: 0.9, Seed: 1}},
			{"top-p=0.9", Sampling{Temp: 1, TopP: 0.9, Seed: 1}},
			{"top-k=40", Sampling{Temp: 1, TopK: 40, Seed: 1}},
			{"temp=1", Sampling{Temp: 1, Seed: 1}},
			{"min-p=0.05", Sampling{Temp: 1, MinP: 0.05, Seed: 1}},
			{"top-p=0.9,penalties,bias", Sampling{Temp: 1, TopP: 0.9, RepeatPenalty: 1.1, PresencePenalty: 0.5,
				FrequencyPenalty: 0.5, LogitBias: map[int]float32{5: 2, 9: -100}, Seed: 1}},
		} {
			b.Run(dist.name+"/"+tc.name, func(b *testing.B) {
				sm := NewSampler(tc.s, vocab)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					sm.Sample(logits)
				}
			})
		}
	}
}

// refSample is the sampler by brute force, as it was before partial
// selection: the whole vocabulary sorted in float64 (by logit, the larger
// first, then by index) when top-k or top-p applies, weights
// exp((logit - max)/Temp), the shortest prefix whose probability reaches TopP,
// and one uniform variate from rng walked down the kept tokens in order.
// Greedy is the first largest logit. It also returns how close the nearest
// prefix's probability comes to TopP (+Inf without a nucleus cut).
func refSample(logits []float32, s Sampling, rng *rand.Rand) (int, float64) {
	n := len(logits)
	if s.Temp <= 0 {
		best := 0
		for i := range logits {
			if float64(logits[i]) > float64(logits[best]) {
				best = i
			}
		}
		return best, math.Inf(1)
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	k := n
	if s.TopK > 0 && s.TopK < n {
		k = s.TopK
	}
	cut := s.TopP > 0 && s.TopP < 1
	if k < n || cut {
		sort.SliceStable(idx, func(a, b int) bool {
			return float64(logits[idx[a]]) > float64(logits[idx[b]])
		})
	}
	idx = idx[:k]
	max := math.Inf(-1)
	for _, i := range idx {
		max = math.Max(max, float64(logits[i]))
	}
	p := make([]float64, k)
	var sum float64
	for j, i := range idx {
		p[j] = math.Exp((float64(logits[i]) - max) / s.Temp)
		sum += p[j]
	}
	margin := math.Inf(1)
	if cut {
		var acc float64
		for j := range p {
			acc += p[j] / sum
			margin = math.Min(margin, math.Abs(acc-s.TopP))
			if acc >= s.TopP {
				p, idx = p[:j+1], idx[:j+1]
				break
			}
		}
		sum = 0
		for _, v := range p {
			sum += v
		}
	}
	r := rng.Float64() * sum
	for j, v := range p {
		r -= v
		if r < 0 {
			return idx[j], margin
		}
	}
	return idx[len(idx)-1], margin
}

// randomLogits draws n logits of one of several shapes: Gaussian at several
// scales, quantised (many ties, -0 beside +0), constant, or with -Inf.
func randomLogits(rng *rand.Rand, n int) []float32 {
	l := make([]float32, n)
	sigma := []float64{0.3, 1, 2, 4, 8}[rng.IntN(5)]
	shape := rng.IntN(6)
	for i := range l {
		x := sigma * rng.NormFloat64()
		switch shape {
		case 1: // ties
			x = math.Round(x*2) / 2
			if x == 0 && rng.IntN(2) == 0 {
				x = math.Copysign(0, -1)
			}
		case 2: // constant
			x = 1.5
		case 3: // some tokens forbidden
			if rng.IntN(4) == 0 {
				x = math.Inf(-1)
			}
		}
		l[i] = float32(x)
	}
	return l
}

// TestSamplerMatchesFullSort checks the sampler against the brute-force
// reference for random logits, policies and seeds, five draws in a row from
// one sampler. Top-k, with or without top-p, plain temperature and greedy
// decoding walk the kept tokens in the reference's order: every draw must be
// the token the reference draws with the same seed, ties and boundaries
// included. Top-p alone walks its nucleus in index order: its kept tokens
// and weights must be the full sort's (checkKept; the nucleus may differ
// only where a prefix's probability comes within nucleusTol of TopP, which
// must be rare: ties make such prefixes, as constant logits do), and each
// draw the token a brute-force walk of them draws with the same variate.
func TestSamplerMatchesFullSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	sizes := []int{1, 2, 3, 17, 100, 1000, 5000}
	trials, nuclei, thin := 0, 0, 0
	for trials < 2500 {
		n := sizes[rng.IntN(len(sizes))]
		if trials%250 == 0 {
			n = 128256
		}
		logits := randomLogits(rng, n)
		s := Sampling{
			Temp: []float64{0, 0.3, 0.7, 1, 1.5}[rng.IntN(5)],
			TopK: []int{0, 0, 1, 2, 40, n - 1, n, n + 5}[rng.IntN(8)],
			TopP: []float64{0, 0, 0.3, 0.9, 0.95, 0.999, 1}[rng.IntN(7)],
			Seed: rng.Uint64(),
		}
		ref := rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15))
		sm := NewSampler(s, n)
		nucleus := s.Temp > 0 && s.TopP > 0 && s.TopP < 1 && (s.TopK <= 0 || s.TopK >= n)
		if nucleus && math.IsInf(float64(logits[Argmax(logits)]), -1) {
			// No weights (the reference's are NaN): the first token.
			if got := sm.Sample(logits); got != 0 {
				t.Fatalf("trial %d, %+v: every logit -Inf, sampled %d, want 0", trials, s, got)
			}
			trials++
			continue
		}
		if nucleus {
			nuclei++
			if _, _, kLo, kHi := refKept(logits, s, nucleusTol); kLo != kHi {
				thin++
			}
		}
		for d := range 5 {
			if !nucleus {
				want, _ := refSample(logits, s, ref)
				if got := sm.Sample(logits); got != want {
					t.Fatalf("trial %d, %+v, n %d, draw %d: sampled %d, the full sort draws %d", trials, s, n, d, got, want)
				}
				continue
			}
			p, idx, sum := sm.keep(logits)
			p, idx = slices.Clone(p), slices.Clone(idx)
			if d == 0 {
				if err := checkKept(logits, s, p, idx, sum); err != nil {
					t.Fatalf("trial %d, %+v, n %d: %v", trials, s, n, err)
				}
			}
			if err := checkDraw(sm, logits, p, idx, sum, ref); err != nil {
				t.Fatalf("trial %d, %+v, n %d, draw %d: %v", trials, s, n, d, err)
			}
		}
		trials++
	}
	t.Logf("%d of %d nuclei (of %d logit vectors) had a prefix within %g of TopP", thin, nuclei, trials, nucleusTol)
	if thin > trials/20 {
		t.Errorf("%d of %d logit vectors had a prefix within %g of TopP", thin, trials, nucleusTol)
	}
}

// TestSamplerNucleusGrows checks the nucleus where its end is a matter of
// rounding: one that ends exactly at a bucket's edge, one that needs every
// token (TopP just under 1, so that rounding may keep the cumulative sum
// under it and the full sort keep everything), and one that ends among
// tokens 36 to 40 below the largest logit. The kept tokens must be a prefix
// of the ranking within nucleusTol of the cut (checkKept), and the draws
// those of a brute-force walk of them.
func TestSamplerNucleusGrows(t *testing.T) {
	const n = 4096
	for _, tc := range []struct {
		name   string
		logits func(i int) float32
		topP   float64
	}{
		// Half the tokens 1 down: the top half holds p = 1/(1+e^-1).
		{"edge", func(i int) float32 {
			if i%2 == 0 {
				return 0
			}
			return -1
		}, 1 / (1 + math.Exp(-1))},
		{"everything", func(i int) float32 { return float32(-float64(i) / 64) }, math.Nextafter(1, 0)},
		{"far tail", func(i int) float32 {
			if i == 7 {
				return 40
			}
			return float32(i % 5)
		}, 0.9999999999999},
	} {
		logits := make([]float32, n)
		for i := range logits {
			logits[i] = tc.logits(i)
		}
		for seed := uint64(0); seed < 20; seed++ {
			s := Sampling{Temp: 1, TopP: tc.topP, Seed: seed}
			sm := NewSampler(s, n)
			ref := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
			for d := range 3 {
				p, idx, sum := sm.keep(logits)
				p, idx = slices.Clone(p), slices.Clone(idx)
				if err := checkKept(logits, s, p, idx, sum); err != nil {
					t.Fatalf("%s, seed %d: %v", tc.name, seed, err)
				}
				if err := checkDraw(sm, logits, p, idx, sum, ref); err != nil {
					t.Fatalf("%s, seed %d, draw %d: %v", tc.name, seed, d, err)
				}
			}
		}
	}
}

// TestExpNeg32 checks the float32 exponential against math.Exp.
func TestExpNeg32(t *testing.T) {
	for i := 0; i <= 1_000_000; i++ {
		d := float32(i) * 87.3 / 1_000_000
		want := math.Exp(-float64(d))
		if got := float64(expNeg32(d)); math.Abs(got-want) > 2.5e-7*want {
			t.Fatalf("expNeg32(%g) = %g, want %g", d, got, want)
		}
	}
	for _, d := range []float32{87.4, 1000, float32(math.Inf(1)), float32(math.NaN())} {
		if got := expNeg32(d); got != 0 {
			t.Errorf("expNeg32(%g) = %g, want 0", d, got)
		}
	}
}

// TestSamplerNoAllocs checks that sampling under every policy allocates
// nothing.
func TestSamplerNoAllocs(t *testing.T) {
	logits := benchLogits(5000, 3, 2)
	bias := map[int]float32{7: 5, 4999: -100}
	for _, s := range []Sampling{{}, {Temp: 1}, {Temp: 1, TopK: 40}, {Temp: 1, TopP: 0.9}, {Temp: 0.8, TopK: 40, TopP: 0.9},
		{Temp: 1, MinP: 0.05}, {Temp: 0.7, TopK: 40, MinP: 0.1, RepeatPenalty: 1.1, LogitBias: bias},
		{RepeatPenalty: 1.3, PresencePenalty: 0.5, FrequencyPenalty: 0.2, LogitBias: bias},
		{Temp: 1, TopP: 0.9, MinP: 0.02, FrequencyPenalty: 0.5, PenaltyLastN: -1}} {
		sm := NewSampler(s, len(logits))
		for i := range 200 { // a full window, and tokens leaving it
			sm.Accept(i * 7 % len(logits))
		}
		if a := testing.AllocsPerRun(20, func() { sm.Sample(logits) }); a != 0 {
			t.Errorf("%+v: %v allocations per sample", s, a)
		}
	}
}

// refAdjust is Sampling's logit adjustment by brute force: LogitBias added,
// then the penalties for each distinct token among the last PenaltyLastN of
// history, counted afresh (in the float32 and float64 steps the sampler
// uses).
func refAdjust(logits []float32, s Sampling, history []int) []float32 {
	a := append([]float32(nil), logits...)
	for id, b := range s.LogitBias {
		if id >= 0 && id < len(a) {
			a[id] += b
		}
	}
	if !(s.RepeatPenalty > 0 && s.RepeatPenalty != 1 || s.PresencePenalty != 0 || s.FrequencyPenalty != 0) {
		return a
	}
	w := s.PenaltyLastN
	if w == 0 {
		w = DefaultPenaltyLastN
	}
	if w > 0 && len(history) > w {
		history = history[len(history)-w:]
	}
	count := map[int]int{}
	for _, id := range history {
		count[id]++
	}
	rep := float32(s.RepeatPenalty)
	if rep <= 0 {
		rep = 1
	}
	for id, c := range count {
		l := a[id]
		if l > 0 {
			l /= rep
		} else {
			l *= rep
		}
		a[id] = float32(float64(l) - float64(c)*s.FrequencyPenalty - s.PresencePenalty)
	}
	return a
}

// refSampleMinP is refSample with MinP: after top-k and top-p (ranked, by a
// full sort), or over the whole vocabulary in index order, only tokens with
// exp((logit - max)/Temp) ≥ MinP stay.
func refSampleMinP(logits []float32, s Sampling, rng *rand.Rand) int {
	if s.Temp <= 0 || !(s.MinP > 0 && s.MinP < 1) {
		id, _ := refSample(logits, s, rng)
		return id
	}
	n := len(logits)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	ranked := s.TopK > 0 && s.TopK < n || s.TopP > 0 && s.TopP < 1
	if ranked {
		sort.SliceStable(idx, func(a, b int) bool { return float64(logits[idx[a]]) > float64(logits[idx[b]]) })
		if s.TopK > 0 && s.TopK < n {
			idx = idx[:s.TopK]
		}
	}
	max := math.Inf(-1)
	for _, i := range idx {
		max = math.Max(max, float64(logits[i]))
	}
	weights := func() ([]float64, float64) {
		p := make([]float64, len(idx))
		var sum float64
		for j, i := range idx {
			p[j] = math.Exp((float64(logits[i]) - max) / s.Temp)
			sum += p[j]
		}
		return p, sum
	}
	p, sum := weights()
	if s.TopP > 0 && s.TopP < 1 {
		var acc float64
		for j := range p {
			if acc += p[j] / sum; acc >= s.TopP {
				idx = idx[:j+1]
				break
			}
		}
	}
	var kept []int
	for _, i := range idx {
		if math.Exp((float64(logits[i])-max)/s.Temp) >= s.MinP {
			kept = append(kept, i)
		}
	}
	idx = kept
	p, sum = weights()
	r := rng.Float64() * sum
	for j, v := range p {
		r -= v
		if r < 0 {
			return idx[j]
		}
	}
	return idx[len(idx)-1]
}

// TestSamplerOptionsMatchReference draws with random logits, policies
// (min-p, penalties over windows of several sizes, logit bias, with and
// without top-k and top-p) and prompts accepted into the window, and checks
// every draw against the brute-force reference with the same seed: the
// reference adjusts the logits from the whole history it keeps, the sampler
// from its window. With top-k, or without top-p, each draw must be the
// reference's token. Top-p without top-k (walked in index order) must keep
// the reference's tokens with its weights (checkKept, after the adjustment
// and min-p), and draw the token a brute-force walk of them draws.
func TestSamplerOptionsMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	sizes := []int{1, 2, 3, 17, 100, 1000}
	for trial := range 1500 {
		n := sizes[rng.IntN(len(sizes))]
		if trial%300 == 0 {
			n = 128256
		}
		logits := randomLogits(rng, n)
		if math.IsInf(float64(logits[Argmax(logits)]), -1) {
			logits[n-1] = 0 // one token allowed
		}
		s := Sampling{
			Temp:             []float64{0, 0.3, 0.7, 1, 1.5}[rng.IntN(5)],
			TopK:             []int{0, 0, 1, 2, 40, n}[rng.IntN(6)],
			TopP:             []float64{0, 0.5, 0.9}[rng.IntN(3)],
			MinP:             []float64{0, 0, 0.01, 0.05, 0.3, 0.9, 1}[rng.IntN(7)],
			RepeatPenalty:    []float64{0, 1, 1.1, 1.5, 0.8}[rng.IntN(5)],
			PresencePenalty:  []float64{0, 0, 0.5, -1}[rng.IntN(4)],
			FrequencyPenalty: []float64{0, 0, 0.3, 2}[rng.IntN(4)],
			PenaltyLastN:     []int{0, -1, 1, 3, 10}[rng.IntN(5)],
			Seed:             rng.Uint64(),
		}
		if rng.IntN(2) == 0 {
			s.LogitBias = map[int]float32{rng.IntN(n): 3, rng.IntN(n): -100, n + 3: 1, -1: 1}
		}
		nucleus := s.Temp > 0 && s.TopP > 0 && (s.TopK <= 0 || s.TopK >= n)
		// A prompt with repeats, accepted into the window.
		var history []int
		for range rng.IntN(80) {
			history = append(history, rng.IntN(min(n, 20)))
		}
		sm := NewSampler(s, n)
		sm.Accept(history...)
		ref := rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15))
		for d := range 8 {
			adjusted := refAdjust(logits, s, history)
			var got int
			if nucleus {
				p, idx, sum := sm.keep(sm.adjust(logits))
				p, idx = slices.Clone(p), slices.Clone(idx)
				if err := checkKept(adjusted, s, p, idx, sum); err != nil {
					t.Fatalf("trial %d, %+v, n %d, draw %d: %v", trial, s, n, d, err)
				}
				want, ok := walk(p, ref.Float64()*sum)
				if got = sm.Sample(logits); ok && got != idx[want] {
					t.Fatalf("trial %d, %+v, n %d, draw %d: sampled %d, the walk of the kept tokens draws %d", trial, s, n, d, got, idx[want])
				}
			} else {
				want := refSampleMinP(adjusted, s, ref)
				if got = sm.Sample(logits); got != want {
					t.Fatalf("trial %d, %+v, n %d, draw %d: sampled %d, the reference draws %d", trial, s, n, d, got, want)
				}
			}
			history = append(history, got)
		}
	}
}

// TestSamplerPenaltyValues checks the adjusted logits against values worked
// out by hand.
func TestSamplerPenaltyValues(t *testing.T) {
	s := Sampling{RepeatPenalty: 2, PresencePenalty: 0.5, FrequencyPenalty: 0.25, PenaltyLastN: 3, LogitBias: map[int]float32{3: 1, 9: 4}}
	sm := NewSampler(s, 4)
	sm.Accept(0, 0, 2, 1, 1) // the window: 2, 1, 1
	got := sm.adjust([]float32{2, 1, -1, 0.5})
	// 0 left the window; 1 twice: 1/2 - 2·0.25 - 0.5; 2 once: -1·2 - 0.25 - 0.5; 3 biased.
	want := []float32{2, -0.5, -2.75, 1.5}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("adjusted logits %v, want %v", got, want)
		}
	}
	// Greedy decoding sees them; Sample accepts its token (3), pushing the
	// older 2 out of the window.
	if id := sm.Sample([]float32{2, 1, -1, 0.5}); id != 0 {
		t.Errorf("greedy = %d, want 0", id)
	}
	if got := sm.adjust([]float32{2, 1, -1, 0.5}); got[0] != 0.25 || got[2] != -1 {
		t.Errorf("after sampling 0: adjusted %v, want token 0 at 2/2-0.25-0.5 = 0.25 and token 2 back at -1", got)
	}
	sm.Reset()
	if got := sm.adjust([]float32{2, 1, -1, 0.5}); got[0] != 2 || got[1] != 1 || got[3] != 1.5 {
		t.Errorf("after Reset: adjusted %v, want only the bias", got)
	}
}

// TestSamplerMinPDistribution draws with min-p and compares the frequencies
// with the distribution min-p defines.
func TestSamplerMinPDistribution(t *testing.T) {
	logits := []float32{2, 1, 0.5, 0, -1, -3}
	// At temperature 1, p/pmax = e^(l-2): 1, 0.37, 0.22, 0.14, 0.05, 0.007.
	// MinP 0.1 keeps the first four.
	p := make([]float64, len(logits))
	var sum float64
	for i := range 4 {
		p[i] = math.Exp(float64(logits[i]))
		sum += p[i]
	}
	sm := NewSampler(Sampling{Temp: 1, MinP: 0.1, Seed: 5}, len(logits))
	const n = 200000
	count := make([]float64, len(logits))
	for range n {
		count[sm.Sample(logits)]++
	}
	for i := range p {
		want := p[i] / sum
		if tol := 5 * math.Sqrt(want*(1-want)/n); math.Abs(count[i]/n-want) > tol+1e-9 {
			t.Errorf("token %d drawn with frequency %.4f, want %.4f ± %.4f", i, count[i]/n, want, tol)
		}
	}
}
