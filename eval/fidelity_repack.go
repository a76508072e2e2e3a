package eval

import (
	"fmt"
	"slices"

	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/press"
)

// repackRun is run for a press p that packs decoded tokens' keys as pk
// says, simulated on a full-width cache of type typ (f16 or f32: a blocked
// type would quantize zero-filled rows otherwise than packed ones). After prefill and compression
// every head is rewritten full width, its pruned keys zero-filled outside
// the head's kept channels (the numbers a packed cache holds), and once a
// head holds pk.Recent + pk.Every full-width keys, all but the last
// pk.Recent are zero-filled outside a set of channels: the head's, chosen
// at prefill (rescore false: what the press does), or channels re-scored
// then, as many as the head kept at prefill, by ThinK's score with the
// latest pk.Window queries (those of the tokens just decoded): the mean
// over the window and the group's query heads of q[j]², times the mean of
// k[j]² over the head's full-width keys (the tokens being packed and the
// recent window). A real cache would store each packed block with its own
// channels; zero-filling gives the same attention without one.
func repackRun(e *engine.Engine, cfg FidelityConfig, typ kvcache.DType, p press.Press, pk press.Packing, rescore bool) ([]float64, error) {
	m := e.Model
	n, total, vocab := cfg.Prefix, len(cfg.Tokens), m.Vocab
	c, s, err := e.NewSequence(n, total-1, typ)
	if err != nil {
		return nil, err
	}
	obs := p.Needs() // the press's own observation: it asks for ThinK's window
	logits, err := m.Forward(s, c, cfg.Tokens[:n], false, obs)
	if err != nil {
		return nil, err
	}
	if err := p.Compress(c, obs, m.Heads); err != nil {
		return nil, err
	}
	cc := c.Config()
	heads := make([]simHead, cc.Layers*cc.KVHeads)
	for i := range heads {
		h := c.Head(i/cc.KVHeads, i%cc.KVHeads)
		nk, _ := h.Split()
		heads[i] = simHead{kept: slices.Clone(h.KeyKept), last: -1}
		if nk > 0 {
			heads[i].last = h.Pos[nk-1]
		}
		if err := rewrite(h, cc.HeadDim, nil, 0, 0); err != nil {
			return nil, err
		}
		h.KeyKept = nil
	}
	out := make([]float64, (total-n)*vocab)
	logSoftmax(out[:vocab], logits)
	for i := n; i < total-1; i++ {
		if err := m.ExtendObservation(obs, c.Next()+1); err != nil {
			return nil, err
		}
		if logits, err = m.Forward(s, c, cfg.Tokens[i:i+1], false, obs); err != nil {
			return nil, err
		}
		p.Step(c) // evictions, if the press has any: its ThinK sees no pruned keys
		logSoftmax(out[(i-n+1)*vocab:(i-n+2)*vocab], logits)
		for j := range heads {
			l, g := j/cc.KVHeads, j%cc.KVHeads
			sh, h := &heads[j], c.Head(l, g)
			first := 0 // the first full-width token
			for first < h.Len() && h.Pos[first] <= sh.last {
				first++
			}
			if sh.kept == nil || h.Len()-first < pk.Recent+pk.Every {
				continue
			}
			kept := sh.kept
			if rescore {
				kept = rescored(obs.Queries[l], h, first, g, m.Heads, cc.KVHeads, cc.HeadDim, pk.Window, len(sh.kept))
			}
			end := h.Len() - pk.Recent
			if err := rewrite(h, cc.HeadDim, kept, first, end); err != nil {
				return nil, err
			}
			sh.last = h.Pos[end-1]
		}
	}
	return out, nil
}

// simHead is one head of repackRun's simulation: the channels its keys kept
// at prefill (nil: not pruned), and the position of its last packed token.
type simHead struct {
	kept []int
	last int32
}

// rewrite rewrites h full width (no pruned segment), its keys [lo, hi)
// zero-filled outside kept, keeping positions and scores.
func rewrite(h *kvcache.Head, d int, kept []int, lo, hi int) error {
	n := h.Len()
	keys, vals := make([]float32, n*d), make([]float32, n*d)
	for i := range n {
		h.Key(keys[i*d:(i+1)*d], i)
		h.Value(vals[i*d:(i+1)*d], i)
	}
	for i := lo; i < hi; i++ {
		row := keys[i*d : (i+1)*d]
		for j := range row {
			if _, in := slices.BinarySearch(kept, j); !in {
				row[j] = 0
			}
		}
	}
	pos, score := slices.Clone(h.Pos), slices.Clone(h.Score)
	if err := h.Keep(nil, n); err != nil {
		return fmt.Errorf("eval: emptying a head to rewrite it: %w", err)
	}
	for i := range n {
		h.Append(int(pos[i]), keys[i*d:(i+1)*d], vals[i*d:(i+1)*d])
	}
	copy(h.Score, score)
	return nil
}

// rescored returns the t channels of KV head g that ThinK's score keeps,
// with the last w queries of q ([rows][heads·d]) and the keys of h from
// token first on.
func rescored(q []float32, h *kvcache.Head, first, g, heads, kvHeads, d, w, t int) []int {
	group := heads / kvHeads
	rows := len(q) / (heads * d)
	w = min(w, rows)
	qn := make([]float64, d)
	for r := rows - w; r < rows; r++ {
		for qh := g * group; qh < (g+1)*group; qh++ {
			for j, x := range q[(r*heads+qh)*d : (r*heads+qh+1)*d] {
				qn[j] += float64(x) * float64(x) / float64(w*group)
			}
		}
	}
	kn, row := make([]float64, d), make([]float32, d)
	for i := first; i < h.Len(); i++ {
		h.Key(row, i)
		for j, x := range row {
			kn[j] += float64(x) * float64(x) / float64(h.Len()-first)
		}
	}
	for j := range qn {
		qn[j] *= kn[j]
	}
	return press.KeptChannels(qn, d-t)
}
