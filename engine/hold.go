package engine

import (
	"errors"
	"fmt"

	"github.com/thinkv/thinkv/internal/memlimit"
	"github.com/thinkv/thinkv/kvcache"
)

// ErrOverBudget is Reserve's and Pin's refusal of more bytes than the
// scheduler's whole KV budget: they could never be held.
var ErrOverBudget = errors.New("engine: more than the scheduler's whole KV budget")

// A Hold is bytes of a scheduler's KV budget reserved outside any request,
// for a cache that lives beside the scheduler's own (a stored prefix, say, or
// one being prefilled): while it is held, the running requests' reservations
// and the holds together stay within the budget. Its methods are safe for
// concurrent use.
type Hold struct {
	s *Scheduler
	n int64 // guarded by s.mu; 0 once released
}

// Reserve holds n bytes of the KV budget until Release. It never waits: it
// refuses at once, with an error wrapping ErrOverBudget, bytes that exceed
// the whole budget, and with one wrapping ErrNoRoom bytes that do not fit
// now, in what the running requests and the other holds leave, beside the
// largest reservation still queued (a hold never takes bytes a waiting
// request needs, so it cannot starve one; the caller may free holds of its
// own, or retry later). After Close it returns ErrClosed.
func (s *Scheduler) Reserve(n int64) (*Hold, error) {
	h := &Hold{s: s}
	if err := h.Resize(n); err != nil {
		return nil, err
	}
	return h, nil
}

// Pin holds c.Bytes() of the KV budget for c, a cache that lives outside any
// request, until release is called (more than once is allowed). It refuses
// as Reserve does: at once, never waiting.
func (s *Scheduler) Pin(c *kvcache.Cache) (release func(), err error) {
	h, err := s.Reserve(c.Bytes())
	if err != nil {
		return nil, err
	}
	return h.Release, nil
}

// Bytes returns the bytes h holds.
func (h *Hold) Bytes() int64 {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	return h.n
}

// Resize changes the bytes h holds to n: shrinking always succeeds (it frees
// bytes for the requests waiting), growing is refused as Reserve refuses,
// leaving h as it was. Resizing a released hold holds bytes again.
func (h *Hold) Resize(n int64) error {
	s := h.s
	if n < 0 {
		return fmt.Errorf("engine: a hold of %d bytes", n)
	}
	if n > s.cfg.KVBudget {
		return fmt.Errorf("%w: %s of KV cache, the budget is %s", ErrOverBudget,
			memlimit.FormatBytes(n), memlimit.FormatBytes(s.cfg.KVBudget))
	}
	s.mu.Lock()
	if grow := n - h.n; grow > 0 {
		if s.shut {
			s.mu.Unlock()
			return ErrClosed
		}
		var queued int64
		for _, q := range s.queue {
			queued = max(queued, q.reserve)
		}
		if free := s.cfg.KVBudget - s.reserved; grow > free-queued {
			s.mu.Unlock()
			return fmt.Errorf("%w: %s more of KV cache, %s free beside %s a queued request needs", ErrNoRoom,
				memlimit.FormatBytes(grow), memlimit.FormatBytes(free), memlimit.FormatBytes(queued))
		}
	}
	s.reserved += n - h.n
	s.pinned += n - h.n
	shrunk := n < h.n
	h.n = n
	s.stats.Reserved, s.stats.Pinned = s.reserved-s.pinned, s.pinned
	s.mu.Unlock()
	if shrunk {
		s.poke() // a queued request may fit now
	}
	return nil
}

// Release returns h's bytes to the budget; releasing twice is allowed.
func (h *Hold) Release() {
	if err := h.Resize(0); err != nil {
		panic(err) // shrinking cannot fail
	}
}
