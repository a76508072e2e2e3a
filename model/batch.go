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

// Step runs one batched forward step over rows from different sequences
// (each sequence at most once) and returns, for each row that asked for them,
// the logits of its last token ([Vocab], valid until the next step; nil for
// the other rows). Each row's logits are bit-identical to running that row
// alone.
//
// This first version runs the rows one after the other through Forward; a
// batched implementation reads every weight matrix once per step for all rows.
func (m *Model) Step(s *State, rows []Row) ([][]float32, error) {
	out := make([][]float32, len(rows))
	for i, r := range rows {
		if len(r.Tokens) == 0 {
			return nil, fmt.Errorf("model: row %d has no tokens", i)
		}
		logits, err := m.Forward(s, r.Cache, r.Tokens, false, r.Obs)
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", i, err)
		}
		if r.Logits {
			out[i] = append([]float32(nil), logits...)
		}
	}
	return out, nil
}
