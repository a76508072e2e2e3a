package server

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/tokenizer"
)

// genResult is a finished generation as the API reports it.
type genResult struct {
	text         string
	finish       string // "stop" or "length"
	promptTokens int
	tokens       int
	kvBytes      int64
	kvBytesFull  int64
	// logprobs are the tokens' logprobs when asked (genParams.logprobs):
	// those of the tokens whose text is in the answer, a stop token's and
	// the end of generation's left out.
	logprobs []tokenLogprob
}

// generate submits g and reads its stream through a tokenizer.StreamDecoder
// with the request's stop strings, calling emit with each piece of text it
// releases: valid UTF-8, and never a part of a stop string. A stop string
// ends the request (its sequence is cancelled and its cache freed at the
// next step); the scheduler ends it at a stop token (Request.StopTokens).
// emit returning an error (the client has gone) cancels the request too. A
// request that cannot be queued returns an *apiError before emit is called.
//
// With logprobs each emit also gets the logprobs of the tokens taken since
// the last (their text is released then or held back), and a last emit, with
// no text if need be, those of the tokens left.
func (s *Server) generate(ctx context.Context, g *genParams, emit func(string, []tokenLogprob) error) (*genResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	st, e := s.submit(ctx, g.req)
	if e != nil {
		return nil, e
	}
	res := &genResult{promptTokens: len(g.req.Prompt)}
	dec := newDecoder(s.e.Tok, g.req.Prompt, g.stops)
	var b strings.Builder
	var emitErr error
	sent, offset, prev := 0, 0, g.req.Prompt[len(g.req.Prompt)-1] // logprobs emitted; text offset; previous token
	send := func(text string, final bool) {
		b.WriteString(text)
		if (text != "" || final && sent < len(res.logprobs)) && emitErr == nil {
			if emitErr = emit(text, res.logprobs[sent:]); emitErr != nil {
				cancel()
			}
			sent = len(res.logprobs)
		}
	}
	stopped, last := false, start
	for {
		ev, ok := st.Next()
		if !ok {
			return nil, errors.New("engine: stream ended without a final event")
		}
		if ev.Done {
			res.kvBytes, res.kvBytesFull = ev.Usage.KVBytes, ev.Usage.KVBytesFull
			if !stopped {
				switch ev.Stop {
				case engine.StopEOS, engine.StopToken:
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
		if slices.Contains(g.req.StopTokens, ev.Token) { // the scheduler ends the request
			stopped, res.finish = true, "stop"
			continue
		}
		if g.logprobs && !s.e.Tok.IsEOG(ev.Token) && ev.Token != s.e.Tok.BOS() {
			res.logprobs = append(res.logprobs, tokenLogprob{text: ev.Piece, prev: prev, offset: offset,
				logprob: ev.Logprob, top: ev.TopLogprobs})
			offset += len(ev.Piece)
		}
		prev = ev.Token
		text, stop := dec.Add(ev.Token)
		send(text, false)
		if stop {
			stopped, res.finish = true, "stop"
			cancel()
		}
	}
	// The text held back (a possible start of a stop string, an incomplete
	// character) is part of the answer once nothing can follow it.
	text, stop := dec.Flush()
	send(text, true)
	if stop {
		res.finish = "stop"
	}
	res.text = b.String()
	s.metrics.tokens(res.promptTokens, res.tokens)
	return res, emitErr
}

// newDecoder returns a stream decoder, with the stop strings, for the
// tokens generated after prompt. They continue the prompt, so the first
// one keeps its leading space, as Tokenizer.Piece (and the engine's
// Event.Piece) keeps it after any token but BOS.
func newDecoder(tok *tokenizer.Tokenizer, prompt []int, stops []string) *tokenizer.StreamDecoder {
	d := tok.NewStreamDecoder(stops...)
	if len(prompt) == 0 || prompt[len(prompt)-1] != tok.BOS() {
		d.Continue()
	}
	return d
}
