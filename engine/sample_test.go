package engine

import (
	"math"
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
