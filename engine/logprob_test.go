package engine

import (
	"context"
	"math"
	"sort"
	"testing"
)

// bruteLogprobs returns the float64 log-softmax of logits and the tokens
// ranked by it, best first, ties by index.
func bruteLogprobs(logits []float32) ([]float64, []int) {
	m := math.Inf(-1)
	for _, l := range logits {
		m = math.Max(m, float64(l))
	}
	var sum float64
	for _, l := range logits {
		sum += math.Exp(float64(l) - m)
	}
	lse := m + math.Log(sum)
	lp := make([]float64, len(logits))
	rank := make([]int, len(logits))
	for i, l := range logits {
		lp[i], rank[i] = float64(l)-lse, i
	}
	sort.SliceStable(rank, func(a, b int) bool { return lp[rank[a]] > lp[rank[b]] })
	return lp, rank
}

// greedyLogits runs prompt and n greedy tokens through Prefill and Decode on
// stories260K and returns a copy of each step's logits and the tokens.
func greedyLogits(t *testing.T, e *Engine, prompt []int, n int) ([][]float32, []int) {
	t.Helper()
	c, st, err := e.NewSequence(len(prompt), len(prompt)+n, 0)
	if err != nil {
		t.Fatal(err)
	}
	logits, err := e.Prefill(st, c, prompt, nil)
	if err != nil {
		t.Fatal(err)
	}
	var all [][]float32
	var toks []int
	for range n {
		all = append(all, append([]float32(nil), logits...))
		next := Argmax(logits)
		toks = append(toks, next)
		if logits, err = e.Decode(st, c, next, nil); err != nil {
			t.Fatal(err)
		}
	}
	return all, toks
}

// checkLogprobs compares a chosen token's logprob and the top alternatives
// with the brute-force log-softmax of logits.
func checkLogprobs(t *testing.T, what string, logits []float32, id int, chosen float32, top []TokenLogprob, k int) {
	t.Helper()
	const tol = 1e-5
	want, rank := bruteLogprobs(logits)
	if d := math.Abs(float64(chosen) - want[id]); d > tol {
		t.Errorf("%s: token %d logprob %g, want %g", what, id, chosen, want[id])
	}
	if len(top) != k {
		t.Fatalf("%s: %d alternatives, want %d", what, len(top), k)
	}
	for j, a := range top {
		if a.Token != rank[j] || math.Abs(float64(a.Logprob)-want[rank[j]]) > tol {
			t.Errorf("%s: alternative %d is %d (%g), want %d (%g)", what, j, a.Token, a.Logprob, rank[j], want[rank[j]])
		}
	}
}

// TestLogprobsMatchBruteForce checks the logprober on real logits
// (stories260K, greedy) against a float64 log-softmax: the chosen token's
// logprob and the sorted top-k, for several k up to the whole vocabulary.
func TestLogprobsMatchBruteForce(t *testing.T) {
	e := loadStories(t, 256)
	prompt := e.Tok.Encode("Once upon a time, there was a little girl", true)
	all, toks := greedyLogits(t, e, prompt, 12)
	for _, k := range []int{1, 5, 20, e.Model.Vocab} {
		lp := newLogprober(&Request{Logprobs: k}, e.Model.Vocab)
		for i, logits := range all {
			chosen, top := lp.of(logits, toks[i])
			checkLogprobs(t, "step", logits, toks[i], chosen, top, k)
			if top[0].Token != toks[i] {
				t.Errorf("k %d step %d: top alternative %d, greedy chose %d", k, i, top[0].Token, toks[i])
			}
		}
	}
	// A token other than the best, and the chosen token alone.
	lp := newLogprober(&Request{LogprobChosen: true}, e.Model.Vocab)
	chosen, top := lp.of(all[0], 7)
	checkLogprobs(t, "token 7", all[0], 7, chosen, top, 0)
	if newLogprober(&Request{}, e.Model.Vocab) != nil || newLogprober(&Request{Logprobs: -1}, e.Model.Vocab) != nil {
		t.Error("a request without logprobs has a logprober")
	}

	// Allocation-light: one slab every logprobSlab tokens.
	lp = newLogprober(&Request{Logprobs: 5}, e.Model.Vocab)
	if a := testing.AllocsPerRun(640, func() { lp.of(all[0], toks[0]) }); a > 1.0/logprobSlab+0.01 {
		t.Errorf("%g allocations per token", a)
	}
}

// TestSchedulerLogprobs checks that the scheduler's token events carry the
// logprobs of the logits the tokens were drawn from, with sampling at a
// temperature (which the logprobs ignore) and greedily.
func TestSchedulerLogprobs(t *testing.T) {
	e := loadStories(t, 256)
	prompt := e.Tok.Encode("Once upon a time, there was a little girl", true)
	const n, k = 12, 5
	all, toks := greedyLogits(t, e, prompt, n)
	s := e.NewScheduler(SchedulerConfig{})
	defer s.Close()
	for _, req := range []Request{
		{Prompt: prompt, MaxNew: n, Logprobs: k},
		{Prompt: prompt, MaxNew: n, LogprobChosen: true},
	} {
		st, err := s.Submit(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		for ev, ok := st.Next(); ok && !ev.Done; ev, ok = st.Next() {
			if ev.Token != toks[i] {
				t.Fatalf("token %d is %d, want greedy %d", i, ev.Token, toks[i])
			}
			checkLogprobs(t, "event", all[i], ev.Token, ev.Logprob, ev.TopLogprobs, max(req.Logprobs, 0))
			i++
		}
		if i != n {
			t.Errorf("%d tokens, want %d", i, n)
		}
	}
	// At a temperature the token is drawn, but its logprob is the model's.
	st, err := s.Submit(context.Background(), Request{Prompt: prompt, MaxNew: 1, Logprobs: k, Sampling: Sampling{Temp: 1.7, Seed: 3}})
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := st.Next()
	checkLogprobs(t, "temperature", all[0], ev.Token, ev.Logprob, ev.TopLogprobs, k)
}
