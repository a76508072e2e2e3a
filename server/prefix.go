package server

import (
	"container/list"
	"encoding/json"
	"errors"
	"net/http"
	"sync"

	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/kvcache"
)

// prefixStore holds compressed prefix caches by id, least recently used
// evicted first once their bytes pass a bound. Each stored prefix holds its
// bytes of the scheduler's KV budget (a Scheduler.Reserve hold), released
// when it is evicted and no request uses it any more: stored prefixes and
// the running requests together stay within the budget.
type prefixStore struct {
	sched Scheduler
	build sync.Mutex // one prefix is prefilled at a time

	mu      sync.Mutex
	limit   int64
	total   int64      // bytes of the stored prefixes
	order   *list.List // of *prefixEntry, most recently used first
	byID    map[string]*list.Element
	byCache map[*kvcache.Cache]*prefixEntry // the stored prefixes
}

type prefixEntry struct {
	id      string
	cache   *kvcache.Cache
	bytes   int64
	hold    *engine.Hold
	users   int  // requests queued or running on it
	evicted bool // no longer stored: the last user releases the hold
}

func newPrefixStore(limit int64, sched Scheduler) *prefixStore {
	return &prefixStore{sched: sched, limit: limit, order: list.New(), byID: map[string]*list.Element{},
		byCache: map[*kvcache.Cache]*prefixEntry{}}
}

// reserve holds n bytes of the KV budget, evicting prefixes no request uses,
// least recently used first, while the budget has no room for them.
func (p *prefixStore) reserve(n int64) (*engine.Hold, error) {
	for {
		h, err := p.sched.Reserve(n)
		if !errors.Is(err, engine.ErrNoRoom) || !p.evictIdle() {
			return h, err
		}
	}
}

// resize resizes h to n bytes, evicting as reserve does.
func (p *prefixStore) resize(h *engine.Hold, n int64) error {
	for {
		err := h.Resize(n)
		if !errors.Is(err, engine.ErrNoRoom) || !p.evictIdle() {
			return err
		}
	}
}

// add stores c, whose bytes h holds, under a new id, evicting the least
// recently used prefixes until the total fits; false if c alone is over
// the bound (h is then the caller's to release).
func (p *prefixStore) add(c *kvcache.Cache, h *engine.Hold) (string, bool) {
	b := c.Bytes()
	if b > p.limit {
		return "", false
	}
	id := newID("pfx-")
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.total+b > p.limit {
		p.evictLocked(p.order.Back())
	}
	e := &prefixEntry{id: id, cache: c, bytes: b, hold: h}
	p.byID[id] = p.order.PushFront(e)
	p.byCache[c] = e
	p.total += b
	return id, true
}

// evictLocked removes el's prefix from the store; its hold is released now,
// or by the last request using it.
func (p *prefixStore) evictLocked(el *list.Element) {
	e := el.Value.(*prefixEntry)
	p.order.Remove(el)
	delete(p.byID, e.id)
	delete(p.byCache, e.cache)
	p.total -= e.bytes
	e.evicted = true
	if e.users == 0 {
		e.hold.Release()
	}
}

// evictIdle evicts the least recently used prefix that no request uses,
// freeing its bytes of the KV budget; false if there is none.
func (p *prefixStore) evictIdle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for el := p.order.Back(); el != nil; el = el.Prev() {
		if el.Value.(*prefixEntry).users == 0 {
			p.evictLocked(el)
			return true
		}
	}
	return false
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

// acquire counts a request on the stored prefix c until done is called
// (once): its hold outlives an eviction meanwhile. false if c is not
// stored (it was evicted since get).
func (p *prefixStore) acquire(c *kvcache.Cache) (done func(), ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.byCache[c]
	if !ok {
		return nil, false
	}
	e.users++
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			e.users--
			if e.users == 0 && e.evicted {
				e.hold.Release()
			}
		})
	}, true
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
// cache for requests that name it ("thinkv": {"prefix": ID}).
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
	c, h, e := s.buildPrefix(g.req)
	if e != nil {
		writeError(w, e)
		return
	}
	id, ok := s.prefixes.add(c, h)
	if !ok {
		h.Release()
		writeError(w, badRequest("prompt", "the compressed prefix holds %d bytes, more than the server's prefix limit of %d (--prefix-bytes)", c.Bytes(), s.prefixes.limit))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "thinkv.prefix", "tokens": c.Next(),
		"kv_bytes": c.Bytes(), "kv_bytes_full": c.FullBytes()})
}

// buildPrefix prefills and compresses req's prompt into a prefix cache,
// returning it with a hold of its bytes of the KV budget. It runs on the
// caller's goroutine beside the scheduler, one prefix at a time: that is
// safe, as the model's weights are only read, the prefill has its own
// cache and scratch state, and the worker pool runs loops from several
// goroutines at once (kernels.Pool). While it runs it holds what the
// uncompressed prompt may take (engine.Reservation with no new tokens),
// then shrinks the hold to the compressed cache, so the build too stays
// within the budget. Without room in the budget even after evicting the
// prefixes no request uses, it answers 503 with Retry-After.
func (s *Server) buildPrefix(req engine.Request) (*kvcache.Cache, *engine.Hold, *apiError) {
	s.prefixes.build.Lock()
	defer s.prefixes.build.Unlock()
	h, err := s.prefixes.reserve(s.e.Reservation(engine.Request{Prompt: req.Prompt, Press: req.Press, KVType: req.KVType}))
	if err != nil {
		return nil, nil, holdError(err)
	}
	c, err := s.e.PrefillCache(req.Prompt, req.Press, req.KVType)
	if err != nil {
		h.Release()
		return nil, nil, errf(http.StatusInternalServerError, "server_error", "", "", "%v", err)
	}
	if err := s.prefixes.resize(h, c.Bytes()); err != nil {
		h.Release()
		return nil, nil, holdError(err)
	}
	return c, h, nil
}

// holdError answers a refused hold of the KV budget.
func holdError(err error) *apiError {
	switch {
	case errors.Is(err, engine.ErrNoRoom):
		e := errf(http.StatusServiceUnavailable, "server_error", "", "kv_budget_full",
			"the KV budget has no room for the prefix now: retry later (%v)", err)
		e.RetryAfter = 1
		return e
	case errors.Is(err, engine.ErrClosed):
		return errf(http.StatusServiceUnavailable, "server_error", "", "shutting_down", "the server is shutting down")
	case errors.Is(err, engine.ErrOverBudget):
		return badRequest("prompt", "the prefix may need more than the server's whole KV budget (--kv-budget): %v", err)
	}
	return badRequest("prompt", "%v", err)
}
