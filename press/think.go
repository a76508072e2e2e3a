package press

import (
	"fmt"
	"math"
	"sort"

	"github.com/thinkv/thinkv/kvcache"
)

// thinK prunes channels per KV head: keys (ThinK) scored by
// mean_t q[t,j]² · mean_s k[s,j]², or values scored by the norm over the window
// of channel j of the window's attention output. All cached tokens but the last
// recent keep only the unpruned channels: T = D − Pruned(ratio, D) in every
// head, rounded up to whole blocks for a cache type stored in blocks (q8_0,
// q4_0: see keptChannels), or with adaptive set as many in all per layer,
// shared out between the heads by their normalised scores with at least
// floorOf(floor, T) each (adaptive.go; in whole blocks for the blocked types).
//
// While decoding, every pack decoded tokens, the tokens that have left the
// recent window are packed to the channels chosen at Compress (Step), so that
// a long generation keeps the saving.
type thinK struct {
	a                    args
	ratio, floor         float64
	recent, window, pack int
	values               bool
	adaptive             bool
}

func newThinK(a args, values bool) (policy, error) {
	return &thinK{a: a, ratio: a.float("ratio"), recent: a.int("recent"), window: a.int("window"), pack: a.int("pack"), values: values,
		adaptive: a.int("adaptive") == 1, floor: a.float("floor")}, nil
}

// String returns the spec, "think:" or "think-v:" and every key.
func (p *thinK) String() string {
	if p.values {
		return p.a.spec("think-v")
	}
	return p.a.spec("think")
}

// Step packs decoded tokens: in every head whose full-width keys (ThinK-V:
// values) number recent + pack, all but the last recent move to the pruned
// segment, keeping the channels Compress chose for the head (Head.Pack). So
// a head holds at most recent + pack full-width rows, and decoded tokens are
// packed pack at a time, once each has left the recent window. The channels
// are not re-scored. With pack=0 decoded tokens stay full width (the paper's
// eager and flash variants).
func (p *thinK) Step(c *kvcache.Cache) {
	if p.pack == 0 {
		return
	}
	cfg := c.Config()
	for l := 0; l < cfg.Layers; l++ {
		for g := 0; g < cfg.KVHeads; g++ {
			h := c.Head(l, g)
			if p.kept(h) != nil && h.Len()-p.split(h) >= p.recent+p.pack {
				packOne(h, p.values, p.recent)
			}
		}
	}
}

// room returns the full rows to reserve, beyond those held, when a head of n
// tokens is pruned: the cache's reserve, but with packing no more than the
// full segment will ever hold, the recent window and one interval: the
// tokens past them are packed.
func (p *thinK) room(reserve, n int) int {
	if p.pack == 0 {
		return reserve
	}
	return min(reserve, p.recent+p.pack-min(n, p.recent))
}

// kept returns the channels the head keeps of what this press prunes (nil:
// not pruned yet).
func (p *thinK) kept(h *kvcache.Head) []int {
	if p.values {
		return h.ValKept
	}
	return h.KeyKept
}

// split returns how many leading tokens of h have this press's kind pruned.
func (p *thinK) split(h *kvcache.Head) int {
	keys, values := h.Split()
	if p.values {
		return values
	}
	return keys
}

// packOne packs h's keys (values: its values) alone, returning the rows
// moved. Head.Pack packs every kind that is pruned, so the other kind's kept
// channels are hidden from it for the call: a chain's think and think-v each
// pack by their own recent window and interval.
func packOne(h *kvcache.Head, values bool, recent int) int {
	if values {
		keys := h.KeyKept
		h.KeyKept = nil
		_, n := h.Pack(recent)
		h.KeyKept = keys
		return n
	}
	vals := h.ValKept
	h.ValKept = nil
	n, _ := h.Pack(recent)
	h.ValKept = vals
	return n
}

// Needs asks for the last window queries of the prompt.
func (p *thinK) Needs() *kvcache.Observation { return &kvcache.Observation{Window: p.window} }

// EvictsPerStep reports false: ThinK evicts no tokens.
func (p *thinK) EvictsPerStep() bool { return false }

// Prunes reports key channels for ThinK, value channels for ThinK-V.
func (p *thinK) Prunes() (keys, values bool) { return !p.values, p.values }

// MaxBytes bounds Cache.Bytes() under ThinK (ThinK-V): per head, with
// T = keptChannels(ratio, cfg) channels kept and R recent tokens, the
// prefill's
// R0 = max(P, min(64, P+N)) full rows of keys and values, then for keys
// (values) max(0, P−R) pruned rows of T channels and F = min(P, R) full
// rows with room for H = min(N, max(P, 64)) more, the other half staying a
// full cache (P+N rows at the end). With pack=0 the full rows grow to F + N
// by the last decoded token. With pack=K > 0 the room is min(H, R+K−F), a
// head never holds more than F + min(N, max(1, R+K−F)) full rows (the
// full segment grows by doubling only if that is more), and the pruned
// rows grow as decoded tokens are packed, K at a time (the first packing
// at token R+K−F), by doubling from max(0, P−R) (at least 64 rows, at most
// P+N) until they hold them all. The most is the larger of the prefill and
// the end. Adaptive
// budgets keep as many channels per layer, so the bound is the same
// (bound.go).
func (p *thinK) MaxBytes(cfg kvcache.Config, prompt, newTokens int) int64 {
	return boundOf(p, cfg, prompt, newTokens)
}

func (p *thinK) reshape(ls *layout) {
	pruned := ls.cfg.HeadDim - keptChannels(p.ratio, ls.cfg)
	if pruned == 0 {
		return
	}
	for l := range ls.layers {
		// Adaptive budgets keep as many channels per layer: the same shape at
		// the mean width, with widths that differ between heads.
		ls.prune(l, p.values, pruned, p.recent, p.room(ls.reserve(), ls.layers[l].n))
		if p.adaptive {
			ls.unequalWidths(l, p.values)
		}
		ls.packs(l, p.values, p.recent, p.pack)
	}
}

// Pruned returns how many of d channels a ratio prunes: floor(ratio·d). The
// ratio is below 1, so at least one channel is always kept, even where the 1e-9
// that absorbs decimal rounding (0.29·100) would round up to d.
func Pruned(ratio float64, d int) int {
	return min(int(math.Floor(ratio*float64(d)+1e-9)), d-1)
}

// keptChannels returns the channels ThinK keeps per head of a cache
// configured as cfg at ratio: T = D − Pruned(ratio, D), rounded up to a
// whole number of the type's blocks (kvcache.DType.Block: 32 channels for
// q8_0 and q4_0), at most D. A blocked row is padded to whole blocks, so the
// channels of a partial block would cost their bytes anyway: keeping them
// is free. Below one block's worth of pruning nothing is pruned (a head
// dimension of 8 keeps all 8).
func keptChannels(ratio float64, cfg kvcache.Config) int {
	d, b := cfg.HeadDim, cfg.Type.Block()
	t := d - Pruned(ratio, d)
	return min(d, (t+b-1)/b*b)
}

// Compress prunes, per head, the lowest-scoring channels of every token but
// the last recent. The heads of a layer are scored first, then pruned, those
// keeping the fewest channels first (pruneOrder).
//
// On a layer it has pruned before (chunked compression: Compress runs again
// after each chunk of a prompt), it keeps the channels it chose then: the
// tokens that have arrived and left the recent window are packed to them
// (Head.Pack), and each head is reallocated as a first Compress leaves it,
// pruned rows exactly, full rows with room for Cache.Reserve() more.
//
// With packing, the full rows have room for no more than recent + pack
// tokens: decoding never holds more of them.
func (p *thinK) Compress(c *kvcache.Cache, obs *kvcache.Observation, heads int) error {
	cfg := c.Config()
	pruned := cfg.HeadDim - keptChannels(p.ratio, cfg)
	if pruned == 0 {
		return nil
	}
	var sc scratch
	var all []int
	scores := make([][]float64, cfg.KVHeads)
	for l := 0; l < cfg.Layers; l++ {
		if p.kept(c.Head(l, 0)) != nil {
			for g := range scores {
				h := c.Head(l, g)
				packOne(h, p.values, p.recent)
				for len(all) < h.Len() {
					all = append(all, len(all))
				}
				if err := h.Keep(all[:h.Len()], p.room(c.Reserve(), h.Len())); err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
			}
			continue
		}
		for g := range scores {
			h := c.Head(l, g)
			v := view{obs: obs, layer: l, kv: g, heads: heads, group: heads / cfg.KVHeads, d: cfg.HeadDim, prompt: c.Next(), sc: &sc}
			if p.values {
				scores[g] = v.valueScores(h, p.window)
			} else {
				scores[g] = v.keyScores(h, p.window)
			}
		}
		kept := p.allot(scores, cfg.HeadDim-pruned, cfg.Type.Block())
		for _, g := range pruneOrder(kept) {
			h, ch := c.Head(l, g), KeptChannels(scores[g], cfg.HeadDim-kept[g])
			var err error
			if p.values {
				err = h.PruneValues(ch, p.recent, p.room(c.Reserve(), h.Len()))
			} else {
				err = h.PruneKeys(ch, p.recent, p.room(c.Reserve(), h.Len()))
			}
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
	}
	return nil
}

// allot returns how many channels each head of a layer keeps: t each, or
// with adaptive budgets t on average (allotByShare). For a blocked cache
// type (block > 1 channels, t a multiple of it) the adaptive budgets are
// shared out in whole blocks, so that the layer's pruned rows take the same
// bytes as uniform ThinK's: a head's k-th block is its k-th group of block
// channels in ThinK's order, scored by their sum.
func (p *thinK) allot(scores [][]float64, t, block int) []int {
	if p.adaptive && block > 1 {
		d := len(scores[0])
		sums := make([][]float64, len(scores))
		for g, s := range scores {
			order, sh := channelOrder(s), shares(s)
			sums[g] = make([]float64, (d+block-1)/block)
			for i, c := range order {
				sums[g][i/block] += sh[c]
			}
		}
		kept := allotByShare(sums, len(scores)*t/block, floorOf(p.floor, t/block))
		for g := range kept {
			kept[g] = min(d, kept[g]*block)
		}
		return kept
	}
	if p.adaptive {
		return allotByShare(scores, len(scores)*t, floorOf(p.floor, t))
	}
	kept := make([]int, len(scores))
	for g := range kept {
		kept[g] = t
	}
	return kept
}

// view locates one KV head of one layer in a prefill observation.
type view struct {
	obs             *kvcache.Observation
	layer, kv       int
	heads, group, d int
	prompt          int // prompt length: the window queries end at prompt-1
	sc              *scratch
}

// keyScores returns ThinK's score of each key channel: the query term
// mean_t q[t,j]² over the last w observed queries, averaged over the group's
// query heads, times mean_s k[s,j]² over the head's cached keys.
func (v view) keyScores(h *kvcache.Head, w int) []float64 {
	d := v.d
	qn := make([]float64, d)
	for qh := v.kv * v.group; qh < (v.kv+1)*v.group; qh++ {
		q, _ := window(v.obs, v.layer, qh, v.heads, d, w, v.prompt)
		rows := len(q) / d
		for t := 0; t < rows; t++ {
			for j := 0; j < d; j++ {
				x := float64(q[t*d+j])
				qn[j] += x * x / float64(rows*v.group)
			}
		}
	}
	k, n := v.sc.keys(h, d), h.Len()
	score := make([]float64, d)
	for j := range score {
		var kn float64
		for s := 0; s < n; s++ {
			x := float64(k[s*d+j])
			kn += x * x
		}
		score[j] = qn[j] * kn / float64(n)
	}
	return score
}

// valueScores returns the value-channel score: the L2 norm over the window of
// channel j of softmax(Q_w Kᵀ/√D)·V, averaged over the group's query heads.
func (v view) valueScores(h *kvcache.Head, w int) []float64 {
	d, n := v.d, h.Len()
	k, vals := v.sc.keys(h, d), v.sc.values(h, d)
	score := make([]float64, d)
	for qh := v.kv * v.group; qh < (v.kv+1)*v.group; qh++ {
		q, first := window(v.obs, v.layer, qh, v.heads, d, w, v.prompt)
		probs := v.sc.windowProbs(q, first, k, h.Pos, d)
		norm := make([]float64, d)
		for t := 0; t < len(q)/d; t++ {
			for j := 0; j < d; j++ {
				var o float64
				for s := 0; s < n; s++ {
					o += float64(probs[t*n+s]) * float64(vals[s*d+j])
				}
				norm[j] += o * o
			}
		}
		for j := range score {
			score[j] += math.Sqrt(norm[j]) / float64(v.group)
		}
	}
	return score
}

// KeptChannels returns, sorted, the channels left after pruning the pruned
// lowest-scoring ones (ties: the lower channel index is kept).
func KeptChannels(score []float64, pruned int) []int {
	idx := make([]int, len(score))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		if score[idx[a]] != score[idx[b]] {
			return score[idx[a]] < score[idx[b]]
		}
		return idx[a] > idx[b]
	})
	kept := append([]int(nil), idx[pruned:]...)
	sort.Ints(kept)
	return kept
}
