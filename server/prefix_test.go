package server

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3/option"
	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/press"
)

func TestServePrefix(t *testing.T) {
	e := storiesEngine(t)
	ts := newTestServer(t, e, engine.SchedulerConfig{}, nil)
	doc := "Once upon a time, there was a little girl named Lily. She loved to play outside."
	status, body := ts.post(t, "/v1/thinkv/prefixes", `{"prompt":"`+doc+`","thinkv":{"press":"snapkv:budget=8,window=4"}}`)
	if status != 200 {
		t.Fatalf("create prefix: %d %v", status, body)
	}
	id := body["id"].(string)
	if kb, full := body["kv_bytes"].(float64), body["kv_bytes_full"].(float64); kb <= 0 || kb >= full {
		t.Errorf("prefix kv_bytes %v of %v full", kb, full)
	}

	// The same greedy text as engine.Generate on the same compressed prefix.
	p, err := e.PrefillCache(e.Tok.Encode(doc, e.Tok.AddBOS()), mustPress(t, "snapkv:budget=8,window=4"), kvcache.F16)
	if err != nil {
		t.Fatal(err)
	}
	q := " One day"
	ids := e.Tok.Encode(q, false)
	res, err := e.Generate(engine.Request{Prompt: ids, MaxNew: 24, Prefix: p})
	if err != nil {
		t.Fatal(err)
	}
	want := pieces(e, ids[len(ids)-1], res.Tokens)
	c := ts.client()
	resp, err := c.Completions.New(context.Background(), greedyParams(q, 24), option.WithJSONSet("thinkv", map[string]string{"prefix": id}))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Text; got != want {
		t.Errorf("on the prefix: %q, want %q", got, want)
	}
	status, body = ts.post(t, "/v1/completions", `{"prompt":"x","thinkv":{"prefix":"pfx-nope"}}`)
	wantError(t, status, body, 404, "no prefix")
	waitIdle(t, ts.sched)
}

func TestServePrefixLRU(t *testing.T) {
	e := storiesEngine(t)
	sched := e.NewScheduler(engine.SchedulerConfig{})
	defer sched.Close()
	mk := func(text string) (*kvcache.Cache, *engine.Hold) {
		c, err := e.PrefillCache(e.Tok.Encode(text, true), nil, kvcache.F16)
		if err != nil {
			t.Fatal(err)
		}
		h, err := sched.Reserve(c.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		return c, h
	}
	a, ha := mk("Once upon a time")
	b, hb := mk("Once upon a time")
	ps := newPrefixStore(a.Bytes()+b.Bytes()/2, sched)
	ida, _ := ps.add(a, ha)
	idb, _ := ps.add(b, hb)
	if _, ok := ps.get(ida); ok {
		t.Error("the least recently used prefix was not evicted")
	}
	if _, ok := ps.get(idb); !ok || ps.bytes() != b.Bytes() {
		t.Errorf("store holds %d bytes, want %d", ps.bytes(), b.Bytes())
	}
	if p := sched.Stats().Pinned; p != b.Bytes() {
		t.Errorf("%d bytes pinned after an eviction, want %d", p, b.Bytes())
	}
	if _, ok := newPrefixStore(1, sched).add(a, nil); ok {
		t.Error("a prefix over the whole bound was stored")
	}
	// A prefix in use outlives its eviction in the budget until its last
	// request ends.
	done, ok := ps.acquire(b)
	if !ok {
		t.Fatal("acquire a stored prefix")
	}
	if ps.evictIdle() {
		t.Error("evictIdle evicted a prefix in use")
	}
	c, hc := mk("One day")
	ps.add(c, hc) // evicts b, in use
	if _, ok := ps.acquire(b); ok {
		t.Error("acquired an evicted prefix")
	}
	if p := sched.Stats().Pinned; p != b.Bytes()+c.Bytes() {
		t.Errorf("%d bytes pinned while the evicted prefix is in use, want %d", p, b.Bytes()+c.Bytes())
	}
	done()
	done()
	if p := sched.Stats().Pinned; p != c.Bytes() {
		t.Errorf("%d bytes pinned after its last request, want %d", p, c.Bytes())
	}
}

// TestServePrefixBudget stores prefixes in a small KV budget while requests
// run on them and beside them: the scheduler's invariant (requests' and
// prefixes' bytes within the budget) holds at every step, storing prefixes
// evicts old ones to make room, and a request that would not fit beside the
// stored prefixes evicts them rather than wait for ever.
func TestServePrefixBudget(t *testing.T) {
	e := storiesEngine(t)
	doc := "Once upon a time, there was a little girl named Lily. She loved to play outside."
	full := e.Reservation(engine.Request{Prompt: e.Tok.Encode(doc, true), KVType: kvcache.F16})
	req := engine.Request{Prompt: e.Tok.Encode("Once upon a time", true), MaxNew: 32, KVType: kvcache.F16}
	budget := 3*full + e.Reservation(req)
	ts := newTestServer(t, e, engine.SchedulerConfig{KVBudget: budget}, nil)
	var ids []string
	var stored int64
	for i := range 6 {
		status, body := ts.post(t, "/v1/thinkv/prefixes", `{"prompt":"`+doc+`"}`)
		if status != 200 {
			t.Fatalf("prefix %d: %d %v", i, status, body)
		}
		ids = append(ids, body["id"].(string))
		stored = int64(body["kv_bytes"].(float64))
		if st := ts.sched.Stats(); st.Reserved+st.Pinned > st.KVBudget || st.Pinned != ts.prefixes.bytes() {
			t.Fatalf("after prefix %d: stats %+v, the store holds %d", i, st, ts.prefixes.bytes())
		}
	}
	if n := ts.prefixes.bytes() / stored; n < 1 || n*stored > budget {
		t.Errorf("%d prefixes of %d bytes stored in a budget of %d", n, stored, budget)
	}
	if _, ok := ts.prefixes.get(ids[0]); ok {
		t.Error("the oldest prefix was not evicted to make room")
	}
	// Requests on the newest prefix and plain ones run together.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var maxReserved int64
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			st := ts.sched.Stats()
			maxReserved = max(maxReserved, st.Reserved+st.Pinned)
			time.Sleep(200 * time.Microsecond)
		}
	})
	var rwg sync.WaitGroup
	for i := range 6 {
		rwg.Go(func() {
			body := `{"prompt":"Once upon a time","max_tokens":16,"temperature":0}`
			if i%2 == 0 {
				body = `{"prompt":" One day","max_tokens":16,"temperature":0,"thinkv":{"prefix":"` + ids[len(ids)-1] + `"}}`
			}
			if status, resp := ts.post(t, "/v1/completions", body); status != 200 {
				t.Errorf("request %d: %d %v", i, status, resp)
			}
		})
	}
	rwg.Wait()
	close(stop)
	wg.Wait()
	if maxReserved > budget {
		t.Errorf("reserved %d, over the budget of %d", maxReserved, budget)
	}
	// A request that fits the budget only without the stored prefixes
	// evicts them.
	pinned := ts.sched.Stats().Pinned
	n := 1
	for ; n < 500 && e.Reservation(engine.Request{Prompt: req.Prompt, MaxNew: n}) <= budget-pinned+stored/2; n++ {
	}
	if r := e.Reservation(engine.Request{Prompt: req.Prompt, MaxNew: n}); r > budget || r <= budget-pinned {
		t.Fatalf("reservation %d of %d new tokens: budget %d, pinned %d", r, n, budget, pinned)
	}
	if status, resp := ts.post(t, "/v1/completions", `{"prompt":"Once upon a time","max_tokens":`+itoa(n)+`,"temperature":0}`); status != 200 {
		t.Errorf("a request needing the prefixes' bytes: %d %v", status, resp)
	}
	if p := ts.sched.Stats().Pinned; p >= pinned {
		t.Errorf("%d bytes pinned after the request, %d before: no prefix was evicted", p, pinned)
	}
	waitIdle(t, ts.sched)
	if st := ts.sched.Stats(); st.Pinned != ts.prefixes.bytes() {
		t.Errorf("pinned %d, the store holds %d", st.Pinned, ts.prefixes.bytes())
	}
}

func mustPress(t *testing.T, spec string) press.Press {
	t.Helper()
	p, err := press.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
