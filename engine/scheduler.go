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
	// MaxQueue is the most submitted requests waiting for admission: Submit
	// refuses one more with ErrQueueFull. ≤ 0: no limit.
	MaxQueue int
}

// Stop reasons, in Event.Stop and Result.Stop.
const (
	StopEOS       = "eos"       // an end-of-generation token (or BOS) was generated
	StopLength    = "length"    // MaxNew tokens were generated
	StopToken     = "stop"      // one of Request.StopTokens was generated
	StopContext   = "context"   // the sequence reached the model's context
	StopCancelled = "cancelled" // the request's context was done, or the scheduler closed
	StopError     = "error"     // the model or the press failed (Event.Err says how)
)

// Stats is a snapshot of a scheduler's load.
type Stats struct {
	KVBudget int64 // the configured budget (math.MaxInt64: no limit)
	Reserved int64 // bytes reserved by the running requests
	Pinned   int64 // bytes held outside any request (Reserve, Pin): Reserved+Pinned ≤ KVBudget
	KVBytes  int64 // bytes their caches held after the last step
	Running  int   // admitted requests: prefilling or decoding
	Queued   int   // submitted requests waiting for admission
	Steps    int64 // model steps run so far
}

// ErrClosed ends the requests of a closed scheduler and refuses new ones.
var ErrClosed = errors.New("engine: scheduler closed")

// ErrQueueFull is Submit's refusal of a request when MaxQueue requests are
// already waiting for admission: the caller may retry once some are admitted.
var ErrQueueFull = errors.New("engine: scheduler queue full")

// ErrNoRoom is Reserve's and Pin's refusal of bytes that fit the KV budget
// but not the part of it that is free now.
var ErrNoRoom = errors.New("engine: not enough of the KV budget is free now")

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
	reserved int64  // by running requests and holds (pinned): at most cfg.KVBudget
	pinned   int64  // by holds
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
	chunks  *chunker // chunked compression (nil: none)
	sampler *Sampler
	lp      *logprober // nil: no logprobs asked
	done    int        // prompt tokens prefilled
	pending int        // the token to run next while decoding
	prev    int        // the token before the next one, for its piece
	ended   bool       // the final event was sent
	usage   Usage

	submitted, admitted, prefillStart, decodeStart time.Time
}

// Reservation returns the KV-cache bytes a request reserves from a
// scheduler's budget while it runs: press.MaxBytes for its press, prompt and
// new tokens (MaxNew, at most what the context leaves), in a cache of its
// type; with chunked compression (Request.ChunkedCompress),
// press.MaxBytesChunked, about the press's budget plus a chunk rather than
// the whole prompt.
func (e *Engine) Reservation(req Request) int64 {
	return e.reservation(req, false)
}

// CompressedReservation is what a request's reservation shrinks to once its
// prompt is compressed: press.MaxBytesAfterCompress (with chunked
// compression, press.MaxBytesChunkedAfterCompress). The full cache a press
// holds while it prefills is transient; the bytes it saves after become
// room for more requests.
func (e *Engine) CompressedReservation(req Request) int64 {
	return e.reservation(req, true)
}

func (e *Engine) reservation(req Request, afterCompress bool) int64 {
	m := e.Model
	if req.Prefix != nil {
		// The fork reads the whole prefix and grows a tail for the rest,
		// never past its limit.
		cfg := req.Prefix.Config()
		return req.Prefix.Bytes() + cfg.TokenBytes()*int64(e.SequenceLimit(req.context(), req.MaxNew)-req.Prefix.Next())
	}
	n := len(req.Prompt)
	newTokens := min(max(req.MaxNew, 0), max(m.Context-n, 0)+1)
	cfg := e.cacheConfig(req.KVType, e.SequenceLimit(n, req.MaxNew))
	switch chunk := req.ChunkedCompress; {
	case chunk > 0 && afterCompress:
		return press.MaxBytesChunkedAfterCompress(req.Press, cfg, n, newTokens, chunk)
	case chunk > 0:
		return press.MaxBytesChunked(req.Press, cfg, n, newTokens, chunk)
	case afterCompress:
		return press.MaxBytesAfterCompress(req.Press, cfg, n, newTokens)
	}
	return press.MaxBytes(req.Press, cfg, n, newTokens)
}

// Submit queues a request and returns its stream of events. It refuses at
// once a request that cannot run (an empty prompt, one longer than the
// context, a token outside the vocabulary, a negative MaxNew) or whose
// reservation alone exceeds the KV budget, any request after Close
// (ErrClosed), and one that finds MaxQueue requests already waiting
// (ErrQueueFull: the check and the queueing are one step under the
// scheduler's lock, so the queue never holds more than MaxQueue).
// When ctx is done the request stops at the next step and its stream ends
// with Stop "cancelled". Request.OnToken is not called (Generate calls it).
func (s *Scheduler) Submit(ctx context.Context, req Request) (*Stream, error) {
	n := len(req.Prompt)
	if req.MaxNew < 0 {
		return nil, fmt.Errorf("negative token count %d", req.MaxNew)
	}
	if req.ChunkedCompress < 0 {
		return nil, fmt.Errorf("negative chunk size %d for chunked compression", req.ChunkedCompress)
	}
	if req.Prefix != nil {
		// Frozen here, on the caller's goroutine, before the loop can
		// fork it for this request: the loop's Forks then only read the
		// prefix, while later Submits read it too (Reservation).
		req.Prefix.Freeze()
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
			n, req.MaxNew, name, req.CacheType(), memlimit.FormatBytes(reserve), memlimit.FormatBytes(s.cfg.KVBudget))
	}
	q := &seq{ctx: ctx, req: req, st: newStream(), reserve: reserve, limit: s.e.SequenceLimit(req.context(), req.MaxNew),
		prev: req.Prompt[n-1], submitted: time.Now()}
	q.usage = Usage{PromptTokens: n, Reserved: reserve}
	s.mu.Lock()
	if s.shut {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	if s.cfg.MaxQueue > 0 && len(s.queue) >= s.cfg.MaxQueue {
		s.mu.Unlock()
		return nil, ErrQueueFull
	}
	s.queue = append(s.queue, q)
	s.stats.Queued = len(s.queue)
	s.mu.Unlock()
	s.poke()
	return q.st, nil
}

// poke wakes the loop if it waits for work.
func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
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
