package engine

import (
	"sync"
	"time"
)

// Event is one step of a request's stream: a generated token, or the end.
type Event struct {
	Token int    // the generated token id (when !Done)
	Piece string // its text, as Tokenizer.Piece gives it after the previous token (when !Done)
	// Logprob is the token's log-probability, and TopLogprobs the most
	// likely tokens' best first, when the request asks for them
	// (Request.Logprobs, Request.LogprobChosen; else 0 and nil).
	Logprob     float32
	TopLogprobs []TokenLogprob
	Done        bool   // the final event: Stop, Usage and Err are set
	Stop        string // why the request ended: one of the Stop constants
	Usage       Usage  // what the request used, on the final event
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
