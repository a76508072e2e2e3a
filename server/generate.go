package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/thinkv/thinkv/engine"
)

// genResult is a finished generation as the API reports it.
type genResult struct {
	text         string
	finish       string // "stop" or "length"
	promptTokens int
	tokens       int
	kvBytes      int64
	kvBytesFull  int64
}

// generate submits g and reads its stream, calling emit with each piece of
// text that is safe to send: text that could still become a stop string,
// or an incomplete UTF-8 character, is held back until it cannot. A stop
// string or stop token ends the request (its sequence is cancelled and its
// cache freed at the next step). emit returning an error (the client has
// gone) cancels the request too. A request that cannot be queued returns an
// *apiError before emit is called.
func (s *Server) generate(ctx context.Context, g *genParams, emit func(string) error) (*genResult, error) {
	if q := s.sched.Stats().Queued; s.cfg.MaxQueue > 0 && q >= s.cfg.MaxQueue {
		e := errf(http.StatusTooManyRequests, "rate_limit_error", "", "queue_full",
			"the server's queue is full (%d requests waiting): retry later", q)
		e.RetryAfter = 1
		return nil, e
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	st, err := s.sched.Submit(ctx, g.req)
	if errors.Is(err, engine.ErrClosed) {
		return nil, errf(http.StatusServiceUnavailable, "server_error", "", "shutting_down", "the server is shutting down")
	}
	if err != nil {
		return nil, badRequest("", "%v", err)
	}
	res := &genResult{promptTokens: len(g.req.Prompt)}
	var b strings.Builder
	sent, stopped, last := 0, false, start
	var emitErr error
	for {
		ev, ok := st.Next()
		if !ok {
			return nil, errors.New("engine: stream ended without a final event")
		}
		if ev.Done {
			res.kvBytes, res.kvBytesFull = ev.Usage.KVBytes, ev.Usage.KVBytesFull
			if !stopped {
				switch ev.Stop {
				case engine.StopEOS:
					res.finish = "stop"
				case engine.StopLength, engine.StopContext:
					res.finish = "length"
				default:
					if emitErr != nil {
						return nil, emitErr
					}
					if ev.Err != nil {
						return nil, ev.Err
					}
					return nil, errors.New("engine: request ended: " + ev.Stop)
				}
			}
			break
		}
		if stopped {
			continue // tokens already in flight when the request was cancelled
		}
		now := time.Now()
		if res.tokens == 0 {
			s.metrics.ttft.Observe(now.Sub(start).Seconds())
		} else {
			s.metrics.itl.Observe(now.Sub(last).Seconds())
		}
		last = now
		res.tokens++
		if g.stopIDs[ev.Token] {
			stopped, res.finish = true, "stop"
			cancel()
			continue
		}
		from := max(0, b.Len()-maxLen(g.stops)+1)
		b.WriteString(ev.Piece)
		text := b.String()
		if i := firstStop(text, from, g.stops); i >= 0 {
			b.Reset()
			b.WriteString(text[:i])
			stopped, res.finish = true, "stop"
			cancel()
			continue
		}
		if safe := safeEnd(text, g.stops); safe > sent && emitErr == nil {
			if emitErr = emit(text[sent:safe]); emitErr != nil {
				cancel()
			}
			sent = safe
		}
	}
	res.text = b.String()
	if len(res.text) > sent && emitErr == nil {
		emitErr = emit(res.text[sent:])
	}
	s.metrics.tokens(res.promptTokens, res.tokens)
	return res, emitErr
}

// maxLen returns the length of the longest stop string.
func maxLen(stops []string) int {
	n := 0
	for _, s := range stops {
		n = max(n, len(s))
	}
	return n
}

// firstStop returns where the earliest stop string in text begins, looking
// at matches that end after from, or -1.
func firstStop(text string, from int, stops []string) int {
	best := -1
	for _, s := range stops {
		if i := strings.Index(text[from:], s); i >= 0 && (best < 0 || from+i < best) {
			best = from + i
		}
	}
	return best
}

// safeEnd returns how much of text may be sent: all of it but a suffix that
// is the start of a stop string, and an incomplete UTF-8 character at the end.
func safeEnd(text string, stops []string) int {
	end := len(text)
	for _, s := range stops {
		for k := min(len(s)-1, len(text)); k > 0; k-- {
			if strings.HasSuffix(text, s[:k]) {
				end = min(end, len(text)-k)
				break
			}
		}
	}
	// Back off a character whose bytes have not all arrived.
	for i := end - 1; i >= 0 && i >= end-utf8.UTFMax; i-- {
		if utf8.RuneStart(text[i]) {
			if !utf8.FullRuneInString(text[i:end]) {
				end = i
			}
			break
		}
	}
	return end
}
