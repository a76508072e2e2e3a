package server

import (
	"context"
	"testing"

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
	mk := func(text string) *kvcache.Cache {
		c, err := e.PrefillCache(e.Tok.Encode(text, true), nil, kvcache.F16)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := mk("Once upon a time"), mk("Once upon a time")
	ps := newPrefixStore(a.Bytes() + b.Bytes()/2)
	ida, _ := ps.add(a)
	idb, _ := ps.add(b)
	if _, ok := ps.get(ida); ok {
		t.Error("the least recently used prefix was not evicted")
	}
	if _, ok := ps.get(idb); !ok || ps.bytes() != b.Bytes() {
		t.Errorf("store holds %d bytes, want %d", ps.bytes(), b.Bytes())
	}
	if _, ok := newPrefixStore(1).add(a); ok {
		t.Error("a prefix over the whole bound was stored")
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
