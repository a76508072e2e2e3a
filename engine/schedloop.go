package engine

import (
	"context"
	"slices"
	"time"

	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/model"
)

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
			s.publish() // Stats show no running sequence while the loop waits
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
		s.stats.Queued, s.stats.Reserved = len(s.queue), s.reserved-s.pinned
		s.mu.Unlock()

		q.admitted = time.Now()
		q.usage.Queued = q.admitted.Sub(q.submitted)
		var c *kvcache.Cache
		var err error
		if q.req.Prefix != nil {
			c = q.req.Prefix.Fork()
			err = c.SetLimit(q.limit)
		} else {
			c, err = kvcache.New(s.e.cacheConfig(q.req.KVType, q.limit))
		}
		if err == nil {
			q.obs, q.chunks, err = startPrompt(c, &q.req)
		}
		if err != nil {
			s.finish(q, StopError, err)
			continue
		}
		q.cache = c
		q.sampler = NewSampler(q.req.Sampling, m.Vocab)
		q.lp = newLogprober(&q.req, m.Vocab)
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
		if q.chunks != nil { // a step never passes a compression's chunk
			chunk = min(chunk, q.chunks.end()-q.done)
		}
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
		switch {
		case q.decoding():
			s.prefilled(q, logits[i])
		case q.chunks != nil && q.done == q.chunks.end():
			if err := q.chunks.compress(s.e.Model, q.cache); err != nil {
				s.finish(q, StopError, err)
			}
		}
	}
}

// prefilled compresses q's prefilled cache and samples its first token from
// logits, those of the prompt's last token.
func (s *Scheduler) prefilled(q *seq, logits []float32) {
	if q.req.Press != nil {
		var err error
		if q.chunks != nil {
			err = q.chunks.compress(s.e.Model, q.cache) // the last chunk's
		} else {
			err = q.req.Press.Compress(q.cache, q.obs, s.e.Model.Heads)
		}
		if err != nil {
			s.finish(q, StopError, err)
			return
		}
		// The transient full cache is gone: what the press saves goes
		// back to the budget for the requests waiting.
		if after := s.e.CompressedReservation(q.req); after < q.reserve {
			s.mu.Lock() // holds change s.reserved from other goroutines
			s.reserved -= q.reserve - after
			q.reserve = after
			s.stats.Reserved = s.reserved - s.pinned
			s.mu.Unlock()
		}
	}
	q.obs, q.chunks = nil, nil
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
// Generate always has: at an end-of-generation token or BOS, at one of its
// StopTokens, at MaxNew tokens, or at the context. An ended sequence runs no
// further step.
func (s *Scheduler) sample(q *seq, logits []float32) {
	next := q.sampler.Sample(logits)
	q.usage.Tokens++
	ev := Event{Token: next, Piece: s.e.Tok.Piece(q.prev, next)}
	if q.lp != nil {
		ev.Logprob, ev.TopLogprobs = q.lp.of(logits, next)
	}
	q.st.push(ev)
	q.prev, q.pending = next, next
	switch {
	case s.e.Tok.IsEOG(next) || next == s.e.Tok.BOS():
		s.finish(q, StopEOS, nil)
	case slices.Contains(q.req.StopTokens, next):
		s.finish(q, StopToken, nil)
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
		s.stats.Reserved = s.reserved - s.pinned
		s.mu.Unlock()
	}
	q.cache, q.obs, q.chunks, q.sampler, q.lp = nil, nil, nil, nil, nil
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
