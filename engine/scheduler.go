package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/thinkv/thinkv/internal/memlimit"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/model"
	"github.com/thinkv/thinkv/press"
)

// SchedulerConfig sizes a Scheduler.
type SchedulerConfig struct {
	// KVBudget is the most KV-cache bytes the admitted requests may reserve
	// together; each reserves press.MaxBytes for its prompt, press and MaxNew
	// (Reservation). ≤ 0: no limit.
	KVBudget int64
	// MaxSeqs is the most requests running (prefilling or decoding) at once,
	// at most TokenBudget. ≤ 0: TokenBudget.
	MaxSeqs int
	// TokenBudget is the most tokens one step runs through the model: one
	// for each decoding sequence, the rest for prompt chunks. It also sizes
	// the model's scratch state (model.State's Batch). ≤ 0: PrefillBatch.
	TokenBudget int
}

// Stop reasons, in Event.Stop and Result.Stop.
const (
	StopEOS       = "eos"       // an end-of-generation token (or BOS) was generated
	StopLength    = "length"    // MaxNew tokens were generated
	StopContext   = "context"   // the sequence reached the model's context
	StopCancelled = "cancelled" // the request's context was done, or the scheduler closed
	StopError     = "error"     // the model or the press failed (Event.Err says how)
)

// Event is one step of a request's stream: a generated token, or the end.
type Event struct {
	Token int    // the generated token id (when !Done)
	Piece string // its text, as Tokenizer.Piece gives it after the previous token (when !Done)
	Done  bool   // the final event: Stop, Usage and Err are set
	Stop  string // why the request ended: one of the Stop constants
	Usage Usage  // what the request used, on the final event
	// Err is set on the final event when the request did not complete: the
	// model's or press's error (Stop "error"), or the context's cause or
	// ErrClosed (Stop "cancelled").
	Err error
}

// Usage reports what a request used, on its final event.
type Usage struct {
	PromptTokens int
	Tokens       int           // generated tokens
	DecodeSteps  int           // tokens run through the model after prefill
	Queued       time.Duration // from submission to admission
	// Prefill runs from the step of the first prompt chunk to the end of
	// compression, Decode from there to the end: wall time, which includes
	// the other sequences of the same steps.
	Prefill, Decode time.Duration
	KVBytes         int64 // KV-cache bytes held at the end
	KVBytesFull     int64 // what an uncompressed cache of the same type would hold
	Reserved        int64 // the bytes reserved for the request while it ran
}

// Stats is a snapshot of a scheduler's load.
type Stats struct {
	KVBudget int64 // the configured budget (math.MaxInt64: no limit)
	Reserved int64 // bytes reserved by the running requests
	KVBytes  int64 // bytes their caches held after the last step
	Running  int   // admitted requests: prefilling or decoding
	Queued   int   // submitted requests waiting for admission
	Steps    int64 // model steps run so far
}

// ErrClosed ends the requests of a closed scheduler and refuses new ones.
var ErrClosed = errors.New("engine: scheduler closed")

// Scheduler runs many requests on one engine: one goroutine owns the model
// state and every cache, and each step decodes one token for every decoding
// sequence and spends the rest of the token budget on prompt chunks, so a
// long prompt does not stall the sequences already decoding. Requests are
// admitted first in, first out, while their reservations fit the KV budget
// and fewer than MaxSeqs run; a finished or cancelled request's reservation
// returns to the budget at once. Its methods are safe for concurrent use.
type Scheduler struct {
	e      *Engine
	cfg    SchedulerConfig
	state  *model.State
	wake   chan struct{} // a submission arrived (capacity 1)
	closed chan struct{} // Close was called
	done   chan struct{} // the loop has exited

	mu       sync.Mutex
	queue    []*seq // submitted, not admitted, in order
	reserved int64
	stats    Stats
	shut     bool

	running []*seq // admitted, in admission order: owned by the loop
	rows    []model.Row
	owners  []*seq
	onStep  func(*Scheduler) // for tests: runs on the loop after admission and after every step
}

// NewScheduler starts a scheduler on e; Close stops it. e's worker pool must
// not be replaced (SetThreads) while it runs.
func (e *Engine) NewScheduler(cfg SchedulerConfig) *Scheduler {
	s := e.newScheduler(cfg, nil)
	go s.loop()
	return s
}

// newScheduler makes a scheduler whose loop (not started: go s.loop()) calls
// onStep (if set) after admission and after every step.
func (e *Engine) newScheduler(cfg SchedulerConfig, onStep func(*Scheduler)) *Scheduler {
	if cfg.KVBudget <= 0 {
		cfg.KVBudget = math.MaxInt64
	}
	if cfg.TokenBudget <= 0 {
		cfg.TokenBudget = PrefillBatch
	}
	if cfg.MaxSeqs <= 0 || cfg.MaxSeqs > cfg.TokenBudget {
		cfg.MaxSeqs = cfg.TokenBudget
	}
	s := &Scheduler{
		e: e, cfg: cfg,
		state:  e.Model.NewState(e.Pool, cfg.TokenBudget),
		wake:   make(chan struct{}, 1),
		closed: make(chan struct{}),
		done:   make(chan struct{}),
		onStep: onStep,
	}
	s.stats.KVBudget = cfg.KVBudget
	return s
}

// seq is one request from submission to its final event.
type seq struct {
	ctx     context.Context
	req     Request
	st      *Stream
	reserve int64
	limit   int // the cache's capacity
	cache   *kvcache.Cache
	obs     *kvcache.Observation
	sampler *Sampler
	done    int  // prompt tokens prefilled
	pending int  // the token to run next while decoding
	prev    int  // the token before the next one, for its piece
	ended   bool // the final event was sent
	usage   Usage

	submitted, admitted, prefillStart, decodeStart time.Time
}

// Reservation returns the KV-cache bytes a request reserves from a
// scheduler's budget while it runs: press.MaxBytes for its press, prompt and
// new tokens (MaxNew, at most what the context leaves), in a cache of its
// type.
func (e *Engine) Reservation(req Request) int64 {
	return e.reservation(req, press.MaxBytes)
}

// CompressedReservation is what a request's reservation shrinks to once its
// prompt is compressed: press.MaxBytesAfterCompress. The full cache a
// press holds while it prefills is transient; the bytes it saves after
// become room for more requests.
func (e *Engine) CompressedReservation(req Request) int64 {
	return e.reservation(req, press.MaxBytesAfterCompress)
}

func (e *Engine) reservation(req Request, bound func(press.Press, kvcache.Config, int, int) int64) int64 {
	m := e.Model
	if req.Prefix != nil {
		// The fork reads the whole prefix and grows a tail for the rest,
		// never past its limit.
		cfg := req.Prefix.Config()
		return req.Prefix.Bytes() + cfg.TokenBytes()*int64(e.SequenceLimit(req.context(), req.MaxNew)-req.Prefix.Next())
	}
	n := len(req.Prompt)
	newTokens := min(max(req.MaxNew, 0), max(m.Context-n, 0)+1)
	cfg := kvcache.Config{Layers: m.Config.Layers, KVHeads: m.KVHeads, HeadDim: m.HeadDim, Type: req.KVType,
		Capacity: e.SequenceLimit(n, req.MaxNew)}
	return bound(req.Press, cfg, n, newTokens)
}

// Submit queues a request and returns its stream of events. It refuses at
// once a request that cannot run (an empty prompt, one longer than the
// context, a token outside the vocabulary, a negative MaxNew) or whose
// reservation alone exceeds the KV budget, and any request after Close.
// When ctx is done the request stops at the next step and its stream ends
// with Stop "cancelled". Request.OnToken is not called (Generate calls it).
func (s *Scheduler) Submit(ctx context.Context, req Request) (*Stream, error) {
	n := len(req.Prompt)
	if req.MaxNew < 0 {
		return nil, fmt.Errorf("negative token count %d", req.MaxNew)
	}
	if err := s.e.checkPrefix(&req); err != nil {
		return nil, err
	}
	if err := s.e.checkPrompt(req.context()); err != nil {
		return nil, err
	}
	for _, t := range req.Prompt {
		if t < 0 || t >= s.e.Model.Vocab {
			return nil, fmt.Errorf("prompt token id %d outside the vocabulary of %d", t, s.e.Model.Vocab)
		}
	}
	reserve := s.e.Reservation(req)
	if reserve > s.cfg.KVBudget {
		name := "no press"
		if req.Press != nil {
			name = "press " + req.Press.String()
		}
		return nil, fmt.Errorf("a request of %d prompt and up to %d new tokens (%s, %s cache) may need %s of KV cache, more than the scheduler's whole budget of %s",
			n, req.MaxNew, name, req.KVType, memlimit.FormatBytes(reserve), memlimit.FormatBytes(s.cfg.KVBudget))
	}
	q := &seq{ctx: ctx, req: req, st: newStream(), reserve: reserve, limit: s.e.SequenceLimit(req.context(), req.MaxNew),
		prev: req.Prompt[n-1], submitted: time.Now()}
	q.usage = Usage{PromptTokens: n, Reserved: reserve}
	s.mu.Lock()
	if s.shut {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	s.queue = append(s.queue, q)
	s.stats.Queued = len(s.queue)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return q.st, nil
}

// Stats returns a snapshot of the scheduler's load.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Close stops the scheduler: it refuses new requests, ends every queued and
// running request with Stop "cancelled" and Err ErrClosed (a step in
// progress finishes first), and returns once the loop has exited. To drain
// instead, read every stream to its end before calling Close. Closing twice
// is allowed.
func (s *Scheduler) Close() {
	s.mu.Lock()
	if !s.shut {
		s.shut = true
		close(s.closed)
	}
	s.mu.Unlock()
	<-s.done
}

// loop is the scheduler's goroutine: it owns the model state, the running
// sequences and their caches.
func (s *Scheduler) loop() {
	defer close(s.done)
	for {
		select {
		case <-s.closed:
			s.shutdown()
			return
		default:
		}
		s.cancelDone()
		s.admit()
		if s.onStep != nil {
			s.onStep(s)
		}
		s.cancelDone() // those cancelled while admitting do not run
		if len(s.running) == 0 {
			select {
			case <-s.wake:
			case <-s.closed:
			}
			continue
		}
		s.step()
		s.publish()
		if s.onStep != nil {
			s.onStep(s)
		}
	}
}

// shutdown ends every request with ErrClosed.
func (s *Scheduler) shutdown() {
	for _, q := range s.running {
		s.finish(q, StopCancelled, ErrClosed)
	}
	s.running = s.running[:0]
	s.mu.Lock()
	queue := s.queue
	s.queue = nil
	s.mu.Unlock()
	for _, q := range queue {
		s.finish(q, StopCancelled, ErrClosed)
	}
	s.publish()
}

// cancelDone ends the queued and running requests whose context is done.
func (s *Scheduler) cancelDone() {
	s.running = s.sweep(s.running, func(q *seq) bool {
		if q.ctx.Err() == nil {
			return false
		}
		s.finish(q, StopCancelled, context.Cause(q.ctx))
		return true
	})
	s.mu.Lock()
	var gone []*seq
	s.queue = s.sweep(s.queue, func(q *seq) bool {
		if q.ctx.Err() == nil {
			return false
		}
		gone = append(gone, q)
		return true
	})
	s.stats.Queued = len(s.queue)
	s.mu.Unlock()
	for _, q := range gone {
		s.finish(q, StopCancelled, context.Cause(q.ctx))
	}
}

// sweep removes, in place and in order, the sequences drop says to.
func (s *Scheduler) sweep(list []*seq, drop func(*seq) bool) []*seq {
	out := list[:0]
	for _, q := range list {
		if !drop(q) {
			out = append(out, q)
		}
	}
	clear(list[len(out):])
	return out
}

// admit moves queued requests to running, first in first out, while the head
// of the queue fits the budget and fewer than MaxSeqs run.
func (s *Scheduler) admit() {
	m := s.e.Model
	for {
		s.mu.Lock()
		if len(s.queue) == 0 || len(s.running) >= s.cfg.MaxSeqs || s.queue[0].reserve > s.cfg.KVBudget-s.reserved {
			s.mu.Unlock()
			return
		}
		q := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		s.reserved += q.reserve
		s.stats.Queued, s.stats.Reserved = len(s.queue), s.reserved
		s.mu.Unlock()

		q.admitted = time.Now()
		q.usage.Queued = q.admitted.Sub(q.submitted)
		var c *kvcache.Cache
		var err error
		if q.req.Prefix != nil {
			c = q.req.Prefix.Fork()
			err = c.SetLimit(q.limit)
		} else {
			c, err = kvcache.New(kvcache.Config{Layers: m.Config.Layers, KVHeads: m.KVHeads, HeadDim: m.HeadDim,
				Type: q.req.KVType, Capacity: q.limit})
		}
		if err == nil {
			// Room for the whole prompt now, as a single Forward would make:
			// the chunks then append without reallocating, so the cache
			// holds exactly what an unchunked prefill holds.
			err = c.Grow(len(q.req.Prompt))
		}
		if err != nil {
			s.finish(q, StopError, err)
			continue
		}
		q.cache = c
		if q.req.Press != nil {
			q.obs = q.req.Press.Needs()
		}
		if q.obs != nil {
			q.obs.Prompt = len(q.req.Prompt) // it accumulates across the chunks
		}
		q.sampler = NewSampler(q.req.Sampling, m.Vocab)
		s.running = append(s.running, q)
		s.mu.Lock()
		s.stats.Running = len(s.running)
		s.mu.Unlock()
	}
}

// step runs one model step: a token for every decoding sequence, then prompt
// chunks in admission order with the rest of the token budget (a press's
// observation accumulates across a prompt's chunks).
func (s *Scheduler) step() {
	s.rows, s.owners = s.rows[:0], s.owners[:0]
	for _, q := range s.running {
		if q.decoding() {
			s.rows = append(s.rows, model.Row{Cache: q.cache, Tokens: []int{q.pending}, Logits: true})
			s.owners = append(s.owners, q)
		}
	}
	// At most TokenBudget sequences run, so a prompt waiting for a chunk
	// always finds room.
	left := s.cfg.TokenBudget - len(s.rows)
	now := time.Now()
	for _, q := range s.running {
		if q.decoding() || left == 0 {
			continue
		}
		n := len(q.req.Prompt)
		chunk := min(n-q.done, left)
		left -= chunk
		if q.done == 0 {
			q.prefillStart = now
		}
		s.rows = append(s.rows, model.Row{Cache: q.cache, Tokens: q.req.Prompt[q.done : q.done+chunk], Obs: q.obs, Logits: q.done+chunk == n})
		s.owners = append(s.owners, q)
	}
	s.run(s.rows, s.owners)
	clear(s.owners)
	s.running = s.sweep(s.running, func(q *seq) bool { return q.ended })
}

func (s *Scheduler) countStep() {
	s.mu.Lock()
	s.stats.Steps++
	s.mu.Unlock()
}

// run runs one model.Step over rows (row i belongs to owners[i]) and moves
// each owner on: a decoded token, a prompt chunk, or a finished prompt.
func (s *Scheduler) run(rows []model.Row, owners []*seq) {
	logits, err := s.e.Model.Step(s.state, rows)
	s.countStep()
	if err != nil {
		for _, q := range owners {
			s.finish(q, StopError, err)
		}
		return
	}
	for i, q := range owners {
		if q.decoding() {
			if q.req.Press != nil {
				q.req.Press.Step(q.cache)
			}
			q.usage.DecodeSteps++
			s.sample(q, logits[i])
			continue
		}
		q.done += len(rows[i].Tokens)
		if q.decoding() {
			s.prefilled(q, logits[i])
		}
	}
}

// prefilled compresses q's prefilled cache and samples its first token from
// logits, those of the prompt's last token.
func (s *Scheduler) prefilled(q *seq, logits []float32) {
	if q.req.Press != nil {
		if err := q.req.Press.Compress(q.cache, q.obs, s.e.Model.Heads); err != nil {
			s.finish(q, StopError, err)
			return
		}
		// The transient full cache is gone: what the press saves goes
		// back to the budget for the requests waiting.
		if after := s.e.CompressedReservation(q.req); after < q.reserve {
			s.reserved -= q.reserve - after
			q.reserve = after
			s.stats.Reserved = s.reserved
		}
	}
	q.obs = nil
	q.decodeStart = time.Now()
	q.usage.Prefill = q.decodeStart.Sub(q.prefillStart)
	if q.req.MaxNew == 0 {
		s.finish(q, StopLength, nil)
		return
	}
	s.sample(q, logits)
}

// decoding says whether q's prompt is prefilled (it has a token to run).
func (q *seq) decoding() bool { return q.done == len(q.req.Prompt) }

// sample chooses q's next token from logits and sends it, ending q as
// Generate always has: at an end-of-generation token or BOS, at MaxNew
// tokens, or at the context.
func (s *Scheduler) sample(q *seq, logits []float32) {
	next := q.sampler.Sample(logits)
	q.usage.Tokens++
	q.st.push(Event{Token: next, Piece: s.e.Tok.Piece(q.prev, next)})
	q.prev, q.pending = next, next
	switch {
	case s.e.Tok.IsEOG(next) || next == s.e.Tok.BOS():
		s.finish(q, StopEOS, nil)
	case q.usage.Tokens == q.req.MaxNew:
		s.finish(q, StopLength, nil)
	case q.cache.Next() >= s.e.Model.Context:
		s.finish(q, StopContext, nil)
	}
}

// finish sends q's final event and returns its reservation to the budget (if
// it was admitted). The loop drops ended sequences from running.
func (s *Scheduler) finish(q *seq, stop string, err error) {
	if q.ended {
		return
	}
	q.ended = true
	now := time.Now()
	if !q.decodeStart.IsZero() {
		q.usage.Decode = now.Sub(q.decodeStart)
	} else if !q.prefillStart.IsZero() {
		q.usage.Prefill = now.Sub(q.prefillStart)
	}
	if q.cache != nil {
		q.usage.KVBytes, q.usage.KVBytesFull = q.cache.Bytes(), q.cache.FullBytes()
	}
	if !q.admitted.IsZero() {
		s.mu.Lock()
		s.reserved -= q.reserve
		s.stats.Reserved = s.reserved
		s.mu.Unlock()
	}
	q.cache, q.obs, q.sampler = nil, nil, nil
	q.st.push(Event{Done: true, Stop: stop, Usage: q.usage, Err: err})
}

// publish updates the snapshot Stats returns.
func (s *Scheduler) publish() {
	var kv int64
	for _, q := range s.running {
		if q.cache != nil {
			kv += q.cache.Bytes()
		}
	}
	s.mu.Lock()
	s.stats.Running, s.stats.KVBytes = len(s.running), kv
	s.mu.Unlock()
}

// Stream is the events of one submitted request, in order: one per generated
// token, then a final one with Done set. Events are buffered without limit,
// so a slow reader never holds the scheduler up.
type Stream struct {
	mu     sync.Mutex
	events []Event
	ready  chan struct{} // an event was pushed (capacity 1)
	over   bool          // the final event was returned
}

func newStream() *Stream { return &Stream{ready: make(chan struct{}, 1)} }

// Next waits for the next event and returns it; ok is false, with no event,
// once the final event has been returned. The final event always comes: the
// request finishes, or its context is done, or the scheduler closes.
func (st *Stream) Next() (ev Event, ok bool) {
	for {
		st.mu.Lock()
		if len(st.events) > 0 {
			ev = st.events[0]
			st.events[0] = Event{}
			st.events = st.events[1:]
			st.over = st.over || ev.Done
			st.mu.Unlock()
			return ev, true
		}
		over := st.over
		st.mu.Unlock()
		if over {
			return Event{}, false
		}
		<-st.ready
	}
}

func (st *Stream) push(ev Event) {
	st.mu.Lock()
	st.events = append(st.events, ev)
	st.mu.Unlock()
	select {
	case st.ready <- struct{}{}:
	default:
	}
}
