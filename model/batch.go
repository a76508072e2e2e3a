package model

import (
	"fmt"

	"github.com/thinkv/thinkv/kvcache"
)

// Row is one sequence's part of a batched step: Tokens run at positions
// Cache.Next(), Cache.Next()+1, … of that sequence and are appended to its
// cache.
type Row struct {
	Cache  *kvcache.Cache
	Tokens []int
	// Obs, if set, gathers what compression needs while prefilling, possibly
	// across several steps (chunks): see kvcache.Observation.
	Obs *kvcache.Observation
	// Logits asks for the logits of the row's last token.
	Logits bool
}

// seq is a row as the forward pass sees it: its tokens fill the slots
// [off, off+n) of the step's activations.
type seq struct {
	c      *kvcache.Cache
	tokens []int
	obs    *kvcache.Observation
	off, n int
	start  int  // position of the first token
	logits bool // the last token's logits are wanted
}

// Step runs one batched forward step over rows from different sequences
// (each sequence at most once, at most s.Batch tokens in all) and returns,
// for each row that asked for them, the logits of its last token ([Vocab];
// nil for the other rows). The returned slices are valid until the next
// step on s. Every weight matrix is read once for all the rows' tokens;
// attention runs per row, KV head and block of queries on the pool. Each
// row's logits, cache and observation are bit-identical to running that row
// alone, whatever the other rows.
func (m *Model) Step(s *State, rows []Row) ([][]float32, error) {
	if len(rows) == 0 {
		return nil, fmt.Errorf("model: a step needs at least one row")
	}
	total := 0
	for i, r := range rows {
		if err := m.check(r.Cache, r.Tokens, r.Obs); err != nil {
			return nil, fmt.Errorf("row %d: %w", i, err)
		}
		for j, p := range rows[:i] {
			if p.Cache == r.Cache {
				return nil, fmt.Errorf("model: rows %d and %d are the same sequence (one cache may appear once per step)", j, i)
			}
		}
		total += len(r.Tokens)
	}
	if total > s.Batch {
		return nil, fmt.Errorf("model: a step of %d tokens exceeds the state's batch of %d", total, s.Batch)
	}
	if err := m.plan(s, rows); err != nil {
		return nil, err
	}
	m.forward(s)
	m.logits(s, false)
	return s.out[:len(rows)], nil
}

// check validates one row's input, changing nothing.
func (m *Model) check(c *kvcache.Cache, tokens []int, obs *kvcache.Observation) error {
	if c == nil {
		return fmt.Errorf("model: no cache to run into")
	}
	if len(tokens) == 0 {
		return fmt.Errorf("model: no tokens to run")
	}
	n, at := len(tokens), c.Next()
	if end := at + n; end > m.Context || end > c.Config().Capacity {
		return fmt.Errorf("model: %d tokens at position %d exceed the context of %d tokens (cache limit %d)",
			n, at, m.Context, c.Config().Capacity)
	}
	for _, t := range tokens {
		if t < 0 || t >= m.Vocab {
			return fmt.Errorf("model: token id %d outside the vocabulary of %d", t, m.Vocab)
		}
	}
	if obs == nil {
		return nil
	}
	switch {
	case obs.Window < 0:
		return fmt.Errorf("model: observation window %d is negative", obs.Window)
	case at == 0 && obs.Prompt != 0 && (obs.Prompt < n || obs.Prompt > min(m.Context, c.Config().Capacity)):
		return fmt.Errorf("model: an observed prompt of %d tokens cannot start with %d tokens in a context of %d (cache limit %d)",
			obs.Prompt, n, m.Context, c.Config().Capacity)
	case at > 0 && (obs.Queries == nil || obs.Done != at):
		return fmt.Errorf("model: an observation follows a prompt from position 0 in order: it has seen %d tokens, the cache is at position %d", obs.Done, at)
	case at > 0 && at+n > obs.Prompt:
		return fmt.Errorf("model: %d tokens at position %d run past the observed prompt of %d tokens", n, at, obs.Prompt)
	}
	return nil
}

// plan lays the checked rows out in s.seqs, makes room in their caches and
// starts the observations of prompts that begin here.
func (m *Model) plan(s *State, rows []Row) error {
	s.seqs = s.seqs[:0]
	off := 0
	for _, r := range rows {
		n, c := len(r.Tokens), r.Cache
		if err := c.Grow(m.growth(c, n, r.Obs)); err != nil {
			return err
		}
		if r.Obs != nil && c.Next() == 0 {
			m.startObservation(r.Obs, n)
		}
		s.seqs = append(s.seqs, seq{c: c, tokens: r.Tokens, obs: r.Obs, off: off, n: n, start: c.Next(), logits: r.Logits})
		off += n
	}
	return nil
}

// growth returns how many tokens c must make room for before n more: the
// whole prompt when an observed prompt starts, so that a prompt is allocated
// exactly however it is chunked.
func (m *Model) growth(c *kvcache.Cache, n int, obs *kvcache.Observation) int {
	if obs != nil && c.Next() == 0 {
		return max(n, obs.Prompt)
	}
	return n
}

// startObservation readies obs for a prompt whose first chunk has n tokens.
func (m *Model) startObservation(obs *kvcache.Observation, n int) {
	if obs.Prompt == 0 {
		obs.Prompt = n
	}
	obs.Done = 0
	w := min(obs.Window, obs.Prompt)
	obs.Queries = make([][]float32, m.Config.Layers)
	for l := range obs.Queries {
		obs.Queries[l] = make([]float32, w*m.Dim)
	}
	obs.ColSums = nil
	if obs.WantColSums {
		obs.ColSums = make([][]float32, m.Config.Layers)
		for l := range obs.ColSums {
			obs.ColSums[l] = make([]float32, m.Heads*obs.Prompt)
		}
	}
}

// ExtendObservation readies obs, complete for a prompt of obs.Prompt tokens
// (obs.Done == obs.Prompt), to observe that prompt on to its first prompt
// tokens, fed to the forward pass from position obs.Done on: chunked
// compression compresses the cache after each chunk of a prompt, each time
// with the queries of the last Window positions up to the chunk's end. The
// queries of positions still in the new window (a chunk shorter than the
// window) are kept. Column sums are gathered for the first chunk only, and
// no longer (WantColSums is cleared): a press that asked for them has
// scored the cached tokens by then, and the forward pass adds every later
// query's attention to the heads' scores (kvcache.Head.Score).
func (m *Model) ExtendObservation(obs *kvcache.Observation, prompt int) error {
	switch {
	case obs.Queries == nil || obs.Done != obs.Prompt:
		return fmt.Errorf("model: an observation is extended once complete: it has seen %d of %d tokens", obs.Done, obs.Prompt)
	case prompt <= obs.Prompt || prompt > m.Context:
		return fmt.Errorf("model: an observed prompt of %d tokens cannot grow to %d in a context of %d", obs.Prompt, prompt, m.Context)
	}
	w := min(obs.Window, prompt)
	for l, old := range obs.Queries {
		// The old rows hold positions [Prompt−wo, Prompt), the new ones
		// [prompt−w, prompt), which start no earlier: the old rows from
		// prompt−w on move to the front (copy handles the overlap when
		// the rows stay in place).
		wo := len(old) / m.Dim
		q := old
		if wo != w {
			q = make([]float32, w*m.Dim)
		}
		if first := prompt - w; first < obs.Prompt {
			copy(q, old[(first-(obs.Prompt-wo))*m.Dim:])
		}
		obs.Queries[l] = q
	}
	obs.Prompt, obs.WantColSums, obs.ColSums = prompt, false, nil
	return nil
}
