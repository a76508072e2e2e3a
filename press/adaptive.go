package press

import (
	"math"
	"slices"
	"sort"
)

// Per-head channel budgets (think:…,adaptive=1; think-v too). Uniform ThinK
// keeps T = D − Pruned(ratio, D) channels in every KV head. The adaptive
// variant keeps the same total, KVHeads·T channels per layer, but lets a head
// whose score is spread over many channels keep more of them than a head
// whose score sits in a few:
//
//   - each head's channel scores are normalised to shares of the head's score
//     sum (share_j = score_j / Σ_i score_i). Raw scores are not comparable
//     across heads: ThinK's key score is a product of query and key energies
//     (‖Q[:,j]‖²·‖K[:,j]‖²), whose scale differs between heads by orders of
//     magnitude, so ranking raw scores would hand every channel to the
//     loudest head. A share is the fraction of the head's own score a channel
//     holds, what pruning it costs the head relative to the rest of it, which
//     is scale-free and comparable;
//   - every head keeps at least floor channels (its top floor by score), and
//     the rest of the layer's KVHeads·T go, one at a time, to the head whose
//     best channel not yet kept has the largest share. Within a head channels
//     are taken in ThinK's own order (score descending, the lower channel
//     index first on ties), so a head keeps exactly its top k channels, as
//     KeptChannels chooses them. Between heads, equal shares go to the lower
//     channel index, then to the lower head index: heads with identical
//     scores then keep identical channels, T each, which is uniform ThinK.
//
// Shares along one head's order never increase, so this greedy keeps the
// layer's KVHeads·T pairs of largest share subject to the floor, which
// maximises the total share kept (tested against exhaustive search).
//
// The layer's total kept channels, and so its bytes, equal uniform ThinK's
// (a pruned row's bytes are linear in its channels): see unequalWidths in
// bound.go.
//
// Measured with "thinkv eval fidelity" at equal bytes (issue 12): on
// stories260K (D = 8) adaptive key budgets cut the mean KL from the full
// cache by 15–25% at ratio 0.5 and 0.75 on every text; on needle (D = 64,
// two KV heads a layer, whose shares differ little: heads keep 31–33
// channels of 64) by 5% at ratio 0.75 and not at all at 0.5 or after
// snapkv; for values (think-v) it is no better, 5% worse on needle. The
// floor was never reached in these runs. It is an option, off by default.

// allotByShare returns how many channels each of the heads whose channel scores are
// scores keeps, total in all, at least floor and at most D (len of a score)
// each. It needs floor·len(scores) ≤ total ≤ D·len(scores).
func allotByShare(scores [][]float64, total, floor int) []int {
	heads := len(scores)
	order := make([][]int, heads)
	share := make([][]float64, heads)
	kept := make([]int, heads)
	for h, s := range scores {
		order[h], share[h] = channelOrder(s), shares(s)
		kept[h] = floor
	}
	for left := total - heads*floor; left > 0; left-- {
		best := -1
		for h := range heads {
			if kept[h] == len(order[h]) {
				continue
			}
			if best < 0 || ahead(share[h], order[h][kept[h]], share[best], order[best][kept[best]]) {
				best = h
			}
		}
		kept[best]++
	}
	return kept
}

// ahead reports whether channel j of a head with shares s comes before
// channel i of a later head with shares r: a larger share, or an equal share
// and a lower channel index.
func ahead(s []float64, j int, r []float64, i int) bool {
	if s[j] != r[i] {
		return s[j] > r[i]
	}
	return j < i
}

// shares returns score divided by its sum. A head whose scores sum to zero
// (or overflow) has no preference: every share is 0.
func shares(score []float64) []float64 {
	var sum float64
	for _, x := range score {
		sum += x
	}
	out := make([]float64, len(score))
	if !(sum > 0) || math.IsInf(sum, 0) {
		return out
	}
	for j, x := range score {
		out[j] = x / sum
	}
	return out
}

// channelOrder returns the channels by score, highest first, the lower
// index first among equal scores: KeptChannels(score, D−k) is the first k.
func channelOrder(score []float64) []int {
	idx := make([]int, len(score))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return score[idx[a]] > score[idx[b]] })
	return idx
}

// pruneOrder returns the heads by how many channels they keep, fewest first
// (the lower head first on ties). Pruning them in this order keeps the
// bytes of a half-pruned layer between those before and after: a head
// keeping k channels changes the layer's bytes by an amount that grows with
// k, so the running total is convex in the heads done and peaks at an end.
func pruneOrder(kept []int) []int {
	idx := make([]int, len(kept))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return kept[a] - kept[b] })
	return idx
}

// floorOf returns the fewest channels a head keeps under adaptive budgets of
// t channels per head on average: the fraction floor of t, rounded up, at
// least 1 and at most t.
func floorOf(floor float64, t int) int {
	return max(1, min(t, int(math.Ceil(floor*float64(t)-1e-9))))
}
