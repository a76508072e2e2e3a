package server

import (
	"container/list"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/thinkv/thinkv/kvcache"
)

// prefixStore holds compressed prefix caches by id, least recently used
// evicted first once their bytes pass a bound. The scheduler's KV budget
// does not see them (that needs an engine change): this bound is separate.
type prefixStore struct {
	mu    sync.Mutex
	limit int64
	total int64
	order *list.List // of *prefixEntry, most recently used first
	byID  map[string]*list.Element
	build sync.Mutex // one prefix is prefilled at a time
}

type prefixEntry struct {
	id    string
	cache *kvcache.Cache
	bytes int64
}

func newPrefixStore(limit int64) *prefixStore {
	return &prefixStore{limit: limit, order: list.New(), byID: map[string]*list.Element{}}
}

// add stores c under a new id, evicting the least recently used prefixes
// until the total fits; false if c alone is over the bound.
func (p *prefixStore) add(c *kvcache.Cache) (string, bool) {
	b := c.Bytes()
	if b > p.limit {
		return "", false
	}
	id := newID("pfx-")
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.total+b > p.limit {
		back := p.order.Back()
		e := back.Value.(*prefixEntry)
		p.order.Remove(back)
		delete(p.byID, e.id)
		p.total -= e.bytes
	}
	p.byID[id] = p.order.PushFront(&prefixEntry{id: id, cache: c, bytes: b})
	p.total += b
	return id, true
}

// get returns the prefix id names, marking it used.
func (p *prefixStore) get(id string) (*kvcache.Cache, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	el, ok := p.byID[id]
	if !ok {
		return nil, false
	}
	p.order.MoveToFront(el)
	return el.Value.(*prefixEntry).cache, true
}

// bytes returns the KV bytes the stored prefixes hold.
func (p *prefixStore) bytes() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total
}

// prefixRequest is the body of POST /v1/thinkv/prefixes.
type prefixRequest struct {
	Model  string          `json:"model"`
	Prompt json.RawMessage `json:"prompt"`
	Thinkv *thinkvOptions  `json:"thinkv"`
}

// handlePrefixes prefills and compresses a prompt once and stores the
// cache for requests that name it ("thinkv": {"prefix": ID}). It runs on
// the caller's goroutine beside the scheduler (the worker pool allows
// concurrent loops), one prefix at a time.
func (s *Server) handlePrefixes(w http.ResponseWriter, r *http.Request) {
	var req prefixRequest
	if e := s.decodeJSON(w, r, &req); e != nil {
		writeError(w, e)
		return
	}
	g := &genParams{}
	if req.Thinkv != nil && req.Thinkv.Prefix != "" {
		writeError(w, badRequest("thinkv.prefix", "a prefix cannot be built on another prefix"))
		return
	}
	if e := s.common(&commonParams{Model: req.Model, Thinkv: req.Thinkv}, g); e != nil {
		writeError(w, e)
		return
	}
	if e := s.parsePrompt(req.Prompt, g); e != nil {
		writeError(w, e)
		return
	}
	if e := s.finish(g, 1, false); e != nil {
		writeError(w, e)
		return
	}
	s.prefixes.build.Lock()
	c, err := s.e.PrefillCache(g.req.Prompt, g.req.Press, g.req.KVType)
	s.prefixes.build.Unlock()
	if err != nil {
		writeError(w, err)
		return
	}
	id, ok := s.prefixes.add(c)
	if !ok {
		writeError(w, badRequest("prompt", "the compressed prefix holds %d bytes, more than the server's prefix limit of %d (--prefix-bytes)", c.Bytes(), s.prefixes.limit))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "thinkv.prefix", "tokens": c.Next(),
		"kv_bytes": c.Bytes(), "kv_bytes_full": c.FullBytes()})
}
