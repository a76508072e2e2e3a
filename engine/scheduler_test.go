package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/thinkv/thinkv/internal/sharedtest"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/press"
)

// reference runs req alone through the single-sequence path Generate had
// before the scheduler: Prefill (one Forward over the whole prompt), then
// Decode token by token. It is the oracle the scheduler is held to.
func reference(t testing.TB, e *Engine, req Request) *Result {
	t.Helper()
	n := len(req.Prompt)
	c, s, err := e.NewSequence(n, e.SequenceLimit(n, req.MaxNew), req.KVType)
	if err != nil {
		t.Fatal(err)
	}
	res := &Result{PromptTokens: n, Stop: StopLength}
	logits, err := e.PrefillChunked(s, c, req.Prompt, req.Press, req.ChunkedCompress)
	if err != nil {
		t.Fatal(err)
	}
	sm := NewSampler(req.Sampling, e.Model.Vocab)
	for len(res.Tokens) < req.MaxNew {
		next := sm.Sample(logits)
		res.Tokens = append(res.Tokens, next)
		if e.Tok.IsEOG(next) || next == e.Tok.BOS() {
			res.Stop = StopEOS
			break
		}
		if len(res.Tokens) == req.MaxNew {
			break
		}
		if c.Next() >= e.Model.Context {
			res.Stop = StopContext
			break
		}
		if logits, err = e.Decode(s, c, next, req.Press); err != nil {
			t.Fatal(err)
		}
		res.DecodeSteps++
	}
	res.KVBytes, res.KVBytesFull = c.Bytes(), c.FullBytes()
	return res
}

func loadNeedle(t testing.TB) *Engine {
	t.Helper()
	e, err := Load(sharedtest.Path(t, "models", "needle", "needle.gguf"), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func mustPress(t testing.TB, spec string) press.Press {
	t.Helper()
	if spec == "none" {
		return nil
	}
	p, err := press.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// promptOf returns a prompt of n tokens: BOS, then the text's tokens
// repeated, then random ones from rng if the text runs short.
func promptOf(e *Engine, text string, n int, rng *rand.Rand) []int {
	ids := e.Tok.Encode(text, true)
	out := []int{e.Tok.BOS()}
	for len(out) < n {
		if len(ids) > 1 && rng.IntN(4) > 0 {
			out = append(out, ids[1:min(len(ids), 1+n-len(out))]...)
		} else {
			out = append(out, 3+rng.IntN(e.Model.Vocab-3))
		}
	}
	return out[:n]
}

// invariants returns an onStep hook that checks, on the loop goroutine after
// admission and after every step, that the reservations of the running
// requests and the holds add up to the reserved bytes, that these fit the budget, that
// every running cache holds at most its reservation, and that no more than
// MaxSeqs run; it records the most that ran at once and the steps that mixed
// decoding with prefill.
type invariants struct {
	t                   testing.TB
	mu                  sync.Mutex
	maxRunning, mixed   int
	violations          []string
	checks, prefillRows int
}

func (iv *invariants) hook(s *Scheduler) {
	s.mu.Lock()
	reserved, pinned := s.reserved, s.pinned
	s.mu.Unlock()
	sum := pinned
	decoding, prefilling := 0, 0
	var bad []string
	for _, q := range s.running {
		sum += q.reserve
		if b := q.cache.Bytes(); b > q.reserve {
			bad = append(bad, fmt.Sprintf("a cache holds %d bytes, more than its reservation %d (prompt %d, press %v)", b, q.reserve, len(q.req.Prompt), q.req.Press))
		}
		if q.decoding() {
			decoding++
		} else if q.done > 0 {
			prefilling++
		}
	}
	if sum != reserved {
		bad = append(bad, fmt.Sprintf("running requests and %d bytes of holds reserve %d bytes, the scheduler counts %d", pinned, sum, reserved))
	}
	if reserved > s.cfg.KVBudget {
		bad = append(bad, fmt.Sprintf("reserved %d bytes, over the budget of %d", reserved, s.cfg.KVBudget))
	}
	if len(s.running) > s.cfg.MaxSeqs {
		bad = append(bad, fmt.Sprintf("%d running, over MaxSeqs %d", len(s.running), s.cfg.MaxSeqs))
	}
	iv.mu.Lock()
	defer iv.mu.Unlock()
	iv.checks++
	iv.violations = append(iv.violations, bad...)
	iv.maxRunning = max(iv.maxRunning, len(s.running))
	if decoding > 0 && prefilling > 0 {
		iv.mixed++
	}
}

func (iv *invariants) verify() {
	iv.t.Helper()
	iv.mu.Lock()
	defer iv.mu.Unlock()
	if len(iv.violations) > 0 {
		iv.t.Fatalf("%d invariant violations in %d checks, first: %s", len(iv.violations), iv.checks, iv.violations[0])
	}
}

// newChecked makes a scheduler whose invariants are checked at every step.
func newChecked(t testing.TB, e *Engine, cfg SchedulerConfig) (*Scheduler, *invariants) {
	iv := &invariants{t: t}
	s := e.newScheduler(cfg, iv.hook)
	go s.loop()
	return s, iv
}

// drain reads a stream to its end, checking that the pieces are those of
// Tokenizer.Piece and that exactly one final event comes last.
func drain(e *Engine, req Request, st *Stream) (tokens []int, final Event, err error) {
	prev := req.Prompt[len(req.Prompt)-1]
	for {
		ev, ok := st.Next()
		if !ok {
			if !final.Done {
				return nil, final, errors.New("stream ended without a final event")
			}
			return tokens, final, nil
		}
		if final.Done {
			return nil, final, errors.New("an event after the final one")
		}
		if ev.Done {
			final = ev
			continue
		}
		if want := e.Tok.Piece(prev, ev.Token); ev.Piece != want {
			return nil, final, fmt.Errorf("piece %q for token %d, want %q", ev.Piece, ev.Token, want)
		}
		prev = ev.Token
		tokens = append(tokens, ev.Token)
	}
}

type mixCase struct {
	name string
	req  Request
}

// mixedRequests returns n requests of different prompts, lengths, presses,
// cache types and sampling on e.
func mixedRequests(t testing.TB, e *Engine, n int, presses []string, minPrompt, maxPrompt, maxNew int, seed uint64) []mixCase {
	rng := rand.New(rand.NewPCG(seed, 7))
	texts := []string{"Once upon a time", "The little dog ran to the park and", "Lily wanted to play with her friend Tom.", "one day"}
	var out []mixCase
	for i := range n {
		spec := presses[i%len(presses)]
		req := Request{
			Prompt: promptOf(e, texts[i%len(texts)], minPrompt+rng.IntN(maxPrompt-minPrompt+1), rng),
			MaxNew: rng.IntN(maxNew + 1),
			Press:  mustPress(t, spec),
			KVType: kvcache.F16,
		}
		if i%5 == 3 {
			req.KVType = kvcache.F32
		}
		if i%7 == 5 {
			req.Sampling = Sampling{Temp: 0.9, TopK: 40, TopP: 0.95, Seed: uint64(i)}
		}
		out = append(out, mixCase{name: fmt.Sprintf("#%d %s prompt %d new %d %s", i, spec, len(req.Prompt), req.MaxNew, req.KVType), req: req})
	}
	return out
}

// runConcurrently submits every case from its own goroutine and checks each
// against reference: the same tokens, stop reason, decode steps and final
// cache bytes.
func runConcurrently(t *testing.T, e *Engine, cfg SchedulerConfig, cases []mixCase) *invariants {
	t.Helper()
	want := make([]*Result, len(cases))
	for i, c := range cases {
		want[i] = reference(t, e, c.req)
	}
	s, iv := newChecked(t, e, cfg)
	defer s.Close()
	errs := make([]error, len(cases))
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Go(func() {
			st, err := s.Submit(context.Background(), c.req)
			if err != nil {
				errs[i] = err
				return
			}
			got, final, err := drain(e, c.req, st)
			w := want[i]
			u := final.Usage
			switch {
			case err != nil:
				errs[i] = err
			case final.Err != nil:
				errs[i] = final.Err
			case !slices.Equal(got, w.Tokens) || final.Stop != w.Stop:
				errs[i] = fmt.Errorf("tokens %v (%s), alone %v (%s)", got, final.Stop, w.Tokens, w.Stop)
			case u.Tokens != len(got) || u.DecodeSteps != w.DecodeSteps || u.PromptTokens != len(c.req.Prompt):
				errs[i] = fmt.Errorf("usage %+v for %d tokens, alone %d decode steps", u, len(got), w.DecodeSteps)
			case u.KVBytes != w.KVBytes || u.KVBytesFull != w.KVBytesFull:
				errs[i] = fmt.Errorf("cache holds %d bytes (full %d), alone %d (%d)", u.KVBytes, u.KVBytesFull, w.KVBytes, w.KVBytesFull)
			case u.Reserved != e.Reservation(c.req) || u.KVBytes > u.Reserved:
				errs[i] = fmt.Errorf("reserved %d, Reservation %d, held %d", u.Reserved, e.Reservation(c.req), u.KVBytes)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("%s: %v", cases[i].name, err)
		}
	}
	iv.verify()
	if st, ok := settled(s); !ok {
		t.Errorf("stats after every request ended: %+v", st)
	}
	return iv
}

// TestSchedulerMatchesAlone runs 32 concurrent mixed requests on
// stories260K (prompts of 1 to 300 tokens, 0 to 40 new, full, SnapKV, ThinK,
// SnapKV+ThinK, H2O and StreamingLLM caches, f16 and f32, greedy and
// sampled) through a scheduler whose budget admits only some of them at
// once and whose token budget splits prompts into chunks, and checks each
// against the request run alone, and the budget invariants at every step.
func TestSchedulerMatchesAlone(t *testing.T) {
	e := loadStories(t, 512)
	presses := []string{"none", "snapkv:budget=48,window=8", "think:ratio=0.5,window=8", "snapkv:budget=48,window=8+think:ratio=0.5,window=8",
		"h2o:budget=40,recent=8", "none", "streaming:sink=4,recent=24", "snapkv:budget=32,window=16+think:ratio=0.25"}
	cases := mixedRequests(t, e, 32, presses, 1, 300, 40, 1)
	var sum int64
	for _, c := range cases {
		sum += e.Reservation(c.req)
	}
	iv := runConcurrently(t, e, SchedulerConfig{KVBudget: sum / 4, MaxSeqs: 12, TokenBudget: 48}, cases)
	t.Logf("at most %d running at once, %d checks, %d steps mixed decoding and prefill", iv.maxRunning, iv.checks, iv.mixed)
	if iv.maxRunning < 2 || iv.mixed == 0 {
		t.Errorf("the scheduler never overlapped requests (at most %d running, %d mixed steps)", iv.maxRunning, iv.mixed)
	}
}

// TestSchedulerNeedle runs a few concurrent requests with prompts of several
// hundred tokens on the needle model (head dimension 64), under the presses
// that matter there.
func TestSchedulerNeedle(t *testing.T) {
	e := loadNeedle(t)
	presses := []string{"snapkv:budget=64+think:ratio=0.5", "none", "snapkv:budget=64", "h2o:budget=64"}
	cases := mixedRequests(t, e, 4, presses, 100, 400, 12, 2)
	runConcurrently(t, e, SchedulerConfig{TokenBudget: 96}, cases)
}

// TestSchedulerCancel cancels half of 16 requests at chosen states (three
// while queued, two halfway through their prefill, three after their third
// token), from the step hook so each state is exact: every cancelled stream
// ends "cancelled" with the context's error and the tokens it had (a prefix
// of the request alone), the others complete as alone, the reserved bytes
// return to zero, and no goroutine is left behind.
func TestSchedulerCancel(t *testing.T) {
	e := loadStories(t, 512)
	rng := rand.New(rand.NewPCG(3, 3))
	const n = 16
	const (
		keep = iota
		whileQueued
		whilePrefilling
		whileDecoding
	)
	when := map[int]int{5: whileQueued, 9: whileQueued, 13: whileQueued, 2: whilePrefilling, 7: whilePrefilling, 3: whileDecoding, 8: whileDecoding, 12: whileDecoding}
	presses := []string{"none", "snapkv:budget=48,window=8+think:ratio=0.5,window=8", "h2o:budget=40,recent=8", "think:ratio=0.5,window=8"}
	reqs := make([]Request, n)
	want := make([]*Result, n)
	for i := range reqs {
		spec := presses[i%len(presses)]
		if when[i] == whilePrefilling {
			spec = presses[1] // an observation accumulated over chunks, dropped halfway
		}
		reqs[i] = Request{Prompt: promptOf(e, "Once upon a time", 100, rng), MaxNew: 30, Press: mustPress(t, spec)}
		want[i] = reference(t, e, reqs[i])
		if when[i] == whileDecoding && len(want[i].Tokens) < 4 {
			t.Fatalf("request %d stops after %d tokens alone: choose another prompt", i, len(want[i].Tokens))
		}
	}
	before := runtime.NumGoroutine()
	iv := &invariants{t: t}
	cancels := make([]context.CancelFunc, n)
	index := map[*Stream]int{}
	cancelledAt := make([]string, n)
	hook := func(s *Scheduler) {
		iv.hook(s)
		s.mu.Lock()
		queued := slices.Clone(s.queue)
		s.mu.Unlock()
		for _, q := range queued {
			if i := index[q.st]; when[i] == whileQueued && cancelledAt[i] == "" {
				cancelledAt[i] = "queued"
				cancels[i]()
			}
		}
		for _, q := range s.running {
			i := index[q.st]
			if cancelledAt[i] != "" {
				continue
			}
			switch {
			case when[i] == whilePrefilling && q.done > 0 && !q.decoding():
				cancelledAt[i] = fmt.Sprintf("prefilled %d of %d", q.done, len(q.req.Prompt))
				cancels[i]()
			case when[i] == whileDecoding && q.usage.Tokens == 3:
				cancelledAt[i] = "3 tokens"
				cancels[i]()
			}
		}
	}
	s := e.newScheduler(SchedulerConfig{KVBudget: 4 * e.Reservation(reqs[0]), TokenBudget: 16}, hook)
	streams := make([]*Stream, n)
	for i, req := range reqs {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cancels[i] = cancel
		st, err := s.Submit(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		streams[i] = st
		index[st] = i
	}
	go s.loop() // every request is submitted before the first admission
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, st := range streams {
		wg.Go(func() {
			got, final, err := drain(e, reqs[i], st)
			w := want[i]
			switch {
			case err != nil:
				errs[i] = err
			case when[i] == keep && (final.Err != nil || final.Stop != w.Stop || !slices.Equal(got, w.Tokens)):
				errs[i] = fmt.Errorf("tokens %v (%s, %v), alone %v (%s)", got, final.Stop, final.Err, w.Tokens, w.Stop)
			case when[i] != keep && (final.Stop != StopCancelled || !errors.Is(final.Err, context.Canceled)):
				errs[i] = fmt.Errorf("cancelled request ended %q (%v)", final.Stop, final.Err)
			case when[i] == whileDecoding && !slices.Equal(got, w.Tokens[:3]):
				errs[i] = fmt.Errorf("cancelled after 3 tokens, got %v, alone %v", got, w.Tokens)
			case (when[i] == whileQueued || when[i] == whilePrefilling) && len(got) != 0:
				errs[i] = fmt.Errorf("cancelled before decoding, got tokens %v", got)
			case when[i] == whileQueued && (final.Usage.Prefill != 0 || final.Usage.KVBytes != 0):
				errs[i] = fmt.Errorf("cancelled while queued, yet used %+v", final.Usage)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("request %d (cancel %q): %v", i, cancelledAt[i], err)
		}
		if when[i] != keep && cancelledAt[i] == "" {
			t.Errorf("request %d never reached the state it was to be cancelled in", i)
		}
	}
	iv.verify()
	if st, ok := settled(s); !ok {
		t.Errorf("stats after every request ended: %+v", st)
	}
	s.Close()
	// Goroutines that have been told to end may take a moment to be
	// scheduled on a loaded machine (the race detector slows them): wait up
	// to ten seconds for them, not for anything to happen on time.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if runtime.NumGoroutine() <= before {
			break
		}
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("%d goroutines after Close, %d before the scheduler", after, before)
	}
	t.Logf("cancelled: %q", cancelledAt)
}

// BenchmarkSchedulerDecode measures decode throughput summed over B
// concurrent greedy requests on the needle model (16-token prompts, 64 new
// tokens each, full cache): tokens/s is every generated token over the wall
// time, prefill included (a few percent of it).
func BenchmarkSchedulerDecode(b *testing.B) {
	e := loadNeedle(b)
	for _, batch := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("B=%d", batch), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(5, 5))
			reqs := make([]Request, batch)
			for i := range reqs {
				reqs[i] = Request{Prompt: promptOf(e, "The special magic number is", 16, rng), MaxNew: 64}
			}
			s := e.NewScheduler(SchedulerConfig{TokenBudget: PrefillBatch})
			defer s.Close()
			tokens := 0
			b.ResetTimer()
			for b.Loop() {
				streams := make([]*Stream, batch)
				for i, req := range reqs {
					st, err := s.Submit(context.Background(), req)
					if err != nil {
						b.Fatal(err)
					}
					streams[i] = st
				}
				for _, st := range streams {
					res, err := Collect(st, nil)
					if err != nil {
						b.Fatal(err)
					}
					tokens += len(res.Tokens)
				}
			}
			b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}

// settled waits until s has nothing running, queued or reserved and no KV
// bytes, and returns its stats and whether it got there. The final event of
// a request is sent before the loop publishes its stats, so it waits (up to
// ten seconds on a loaded machine: not a timing test).
func settled(s *Scheduler) (Stats, bool) {
	var st Stats
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if st = s.Stats(); st.Running == 0 && st.Queued == 0 && st.Reserved == 0 && st.KVBytes == 0 {
			return st, true
		}
	}
	return st, false
}
