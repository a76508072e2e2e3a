package engine

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/thinkv/thinkv/kvcache"
)

// TestSchedulerMaxQueue submits many requests at once to a scheduler whose
// loop has not started: exactly MaxQueue are queued, the rest refused with
// ErrQueueFull, and the queue never holds more.
func TestSchedulerMaxQueue(t *testing.T) {
	e := loadStories(t, 512)
	const maxQueue, n = 5, 40
	s := e.newScheduler(SchedulerConfig{MaxQueue: maxQueue}, nil)
	req := Request{Prompt: e.Tok.Encode("Once upon a time", true), MaxNew: 4}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var streams []*Stream
	full := 0
	for range n {
		wg.Go(func() {
			st, err := s.Submit(context.Background(), req)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, ErrQueueFull):
				full++
			case err != nil:
				t.Error(err)
			default:
				streams = append(streams, st)
			}
		})
	}
	wg.Wait()
	if len(streams) != maxQueue || full != n-maxQueue || s.Stats().Queued != maxQueue {
		t.Errorf("%d queued, %d refused, Stats %+v: want %d queued", len(streams), full, s.Stats(), maxQueue)
	}
	go s.loop()
	for _, st := range streams {
		if res, err := Collect(st, nil); err != nil || res.Stop != StopLength {
			t.Errorf("a queued request: %+v, %v", res, err)
		}
	}
	// Admitted, the queue has room again.
	if _, err := s.Submit(context.Background(), req); err != nil {
		t.Errorf("after the queue drained: %v", err)
	}
	s.Close()
}

// TestSchedulerHolds checks Reserve's and Pin's refusals and that holds and
// running requests together stay within the budget: a request that fits
// only once a hold is released waits for it.
func TestSchedulerHolds(t *testing.T) {
	e := loadStories(t, 512)
	req := Request{Prompt: e.Tok.Encode("Once upon a time", true), MaxNew: 8}
	r := e.Reservation(req)
	budget := 2*r - 1 // one request and a hold of r-1, not two requests
	s, iv := newChecked(t, e, SchedulerConfig{KVBudget: budget})
	defer s.Close()
	if _, err := s.Reserve(budget + 1); !errors.Is(err, ErrOverBudget) {
		t.Errorf("a hold over the whole budget: %v, want ErrOverBudget", err)
	}
	h, err := s.Reserve(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reserve(r); !errors.Is(err, ErrNoRoom) {
		t.Errorf("a hold over the free bytes: %v, want ErrNoRoom", err)
	}
	if st := s.Stats(); st.Pinned != r || st.Reserved != 0 {
		t.Errorf("stats with a hold of %d: %+v", r, st)
	}
	// The request fits the budget, but not beside the hold: it waits.
	st, err := s.Submit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if got := s.Stats(); got.Queued != 1 || got.Running != 0 {
		t.Fatalf("a request that does not fit beside the hold: %+v", got)
	}
	// A new hold may not take the bytes the queued request needs.
	if _, err := s.Reserve(1); !errors.Is(err, ErrNoRoom) {
		t.Errorf("a hold beside a waiting request: %v, want ErrNoRoom", err)
	}
	if err := h.Resize(r - 1); err != nil { // shrinking admits the request
		t.Fatal(err)
	}
	if res, err := Collect(st, nil); err != nil || res.Stop != StopLength {
		t.Fatalf("the request after the hold shrank: %+v, %v", res, err)
	}
	h.Release()
	h.Release()
	c, err := e.PrefillCache(req.Prompt, nil, kvcache.F16)
	if err != nil {
		t.Fatal(err)
	}
	release, err := s.Pin(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Stats(); got.Pinned != c.Bytes() {
		t.Errorf("pinned %d, the cache holds %d", got.Pinned, c.Bytes())
	}
	// Requests run beside the pin within the budget (iv checks every step).
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			st, err := s.Submit(context.Background(), req)
			if err == nil {
				_, err = Collect(st, nil)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	release()
	release()
	waitStats(t, s, func(st Stats) bool { return st.Reserved == 0 && st.Pinned == 0 })
	iv.verify()
	s.Close()
	if _, err := s.Reserve(1); !errors.Is(err, ErrClosed) {
		t.Errorf("a hold after Close: %v", err)
	}
}

// waitStats waits up to ten seconds for ok(s.Stats()).
func waitStats(t *testing.T, s *Scheduler, ok func(Stats) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if ok(s.Stats()) {
			return
		}
	}
	t.Fatalf("stats %+v", s.Stats())
}

// TestSchedulerStopTokens ends a greedy request at a stop token: its tokens
// are the alone run's up to and including the first stop token, and no
// step runs after it.
func TestSchedulerStopTokens(t *testing.T) {
	e := loadStories(t, 512)
	req := Request{Prompt: e.Tok.Encode("Once upon a time", true), MaxNew: 40}
	want := reference(t, e, req)
	if len(want.Tokens) < 6 {
		t.Fatalf("the reference stops after %d tokens", len(want.Tokens))
	}
	stop := want.Tokens[4]
	i := slices.Index(want.Tokens, stop)
	req.StopTokens = []int{-1, stop}
	s := e.NewScheduler(SchedulerConfig{})
	defer s.Close()
	st, err := s.Submit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got, final, err := drain(e, req, st)
	if err != nil {
		t.Fatal(err)
	}
	if final.Stop != StopToken || final.Err != nil || !slices.Equal(got, want.Tokens[:i+1]) {
		t.Errorf("tokens %v (%s, %v), want %v (stop)", got, final.Stop, final.Err, want.Tokens[:i+1])
	}
	if final.Usage.DecodeSteps != i || final.Usage.Tokens != i+1 {
		t.Errorf("usage %+v: want %d decode steps, %d tokens", final.Usage, i, i+1)
	}
	if steps := s.Stats().Steps; steps != int64(i+1) { // the prompt's step, then one per decoded token
		t.Errorf("%d steps, want %d", steps, i+1)
	}
}
