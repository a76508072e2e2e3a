package eval

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"

	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/press"
)

// DefaultRatios are the key-channel pruning ratios λ Analyze reports.
var DefaultRatios = []float64{0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}

// Analysis holds ThinK's two observations on one model and text, measured on
// the post-RoPE keys of the whole text and the queries of its last Window
// positions (the observation window).
//
// Indices are [layer][KV head] for keys and channel scores, and
// [layer][query head] for attention scores.
type Analysis struct {
	Tokens  int       `json:"tokens"`
	Window  int       `json:"window"`
	Layers  int       `json:"layers"`
	Heads   int       `json:"heads"`
	KVHeads int       `json:"kv_heads"`
	HeadDim int       `json:"head_dim"`
	Ratios  []float64 `json:"ratios"`
	// KeyMagnitude[l][g][j] is the root mean square of key channel j over
	// the text's tokens: a few channels are much larger than the rest.
	KeyMagnitude [][][]float64 `json:"key_magnitude"`
	// QueryMagnitude[l][h][j] is the same for the window's queries.
	QueryMagnitude [][][]float64 `json:"query_magnitude"`
	// Singular[l][h] holds the singular values, largest first, of the
	// window's attention scores Q·Kᵀ/√D ([Window × Tokens]), and Rank90[l][h]
	// how many of them hold 90% of its energy (Σσ²): the scores are of low
	// rank.
	Singular [][][]float64 `json:"singular_values"`
	Rank90   [][]int       `json:"rank90"`
	// Energy[l][g][r] is the share of ThinK's channel scores (mean q_j² over
	// the group's window queries times mean k_j² over the keys) held by
	// the channels ThinK keeps at ratio Ratios[r]; ScoreError[l][g][r] is
	// the relative error ‖QKᵀ − Q_S K_Sᵀ‖_F / ‖QKᵀ‖_F of the group's window
	// attention scores when only those channels S are kept.
	Energy     [][][]float64 `json:"energy_kept"`
	ScoreError [][][]float64 `json:"score_error"`
}

// Analyze runs tokens (BOS included, at most the model's context) through the
// model once, observing the last window queries, and measures every layer
// and head. ratios nil means DefaultRatios.
func Analyze(e *engine.Engine, tokens []int, window int, ratios []float64) (*Analysis, error) {
	m := e.Model
	n := len(tokens)
	if n < 2 || window < 1 {
		return nil, fmt.Errorf("need at least 2 tokens and a window of 1: have %d and %d", n, window)
	}
	if ratios == nil {
		ratios = DefaultRatios
	}
	c, s, err := e.NewSequence(n, n, kvcache.F32)
	if err != nil {
		return nil, err
	}
	obs := &kvcache.Observation{Window: window}
	if _, err := m.Forward(s, c, tokens, false, obs); err != nil {
		return nil, err
	}
	d, heads, group := m.HeadDim, m.Heads, m.Heads/m.KVHeads
	w := len(obs.Queries[0]) / (heads * d)
	a := &Analysis{Tokens: n, Window: w, Layers: m.Config.Layers, Heads: heads, KVHeads: m.KVHeads, HeadDim: d, Ratios: ratios}
	for l := 0; l < a.Layers; l++ {
		var keyMag, qMag, sing, energy, errs [][]float64
		var rank []int
		for g := 0; g < a.KVHeads; g++ {
			k := denseKeys(c.Head(l, g), d)
			keyMag = append(keyMag, rms(k, d))
			qs := make([][]float64, group)
			for i := range qs {
				qh := g*group + i
				qs[i] = windowQueries(obs.Queries[l], qh, heads, d)
				qMag = append(qMag, rms(qs[i], d))
				sv := singularValues(qs[i], k, d)
				sing = append(sing, sv)
				rank = append(rank, rankFor(sv, 0.9))
			}
			en, er := channelEnergy(qs, k, d, ratios)
			energy, errs = append(energy, en), append(errs, er)
		}
		a.KeyMagnitude = append(a.KeyMagnitude, keyMag)
		a.QueryMagnitude = append(a.QueryMagnitude, qMag)
		a.Singular, a.Rank90 = append(a.Singular, sing), append(a.Rank90, rank)
		a.Energy, a.ScoreError = append(a.Energy, energy), append(a.ScoreError, errs)
	}
	return a, nil
}

// denseKeys returns a head's keys as [tokens×d] float64.
func denseKeys(h *kvcache.Head, d int) []float64 {
	row := make([]float32, d)
	out := make([]float64, 0, h.Len()*d)
	for i := 0; i < h.Len(); i++ {
		h.Key(row, i)
		for _, v := range row {
			out = append(out, float64(v))
		}
	}
	return out
}

// windowQueries returns query head qh's observed queries as [w×d] float64.
func windowQueries(q []float32, qh, heads, d int) []float64 {
	w := len(q) / (heads * d)
	out := make([]float64, 0, w*d)
	for t := 0; t < w; t++ {
		for _, v := range q[t*heads*d+qh*d : t*heads*d+(qh+1)*d] {
			out = append(out, float64(v))
		}
	}
	return out
}

// rms returns the root mean square of each column of x [rows×d].
func rms(x []float64, d int) []float64 {
	out := make([]float64, d)
	rows := len(x) / d
	for i := 0; i < rows; i++ {
		for j, v := range x[i*d : (i+1)*d] {
			out[j] += v * v
		}
	}
	for j := range out {
		out[j] = math.Sqrt(out[j] / float64(rows))
	}
	return out
}

// singularValues returns the singular values of q·kᵀ/√d, largest first.
func singularValues(q, k []float64, d int) []float64 {
	w, n := len(q)/d, len(k)/d
	scores := mat.NewDense(w, n, nil)
	scores.Mul(mat.NewDense(w, d, q), mat.NewDense(n, d, k).T())
	scores.Scale(1/math.Sqrt(float64(d)), scores)
	var svd mat.SVD
	if !svd.Factorize(scores, mat.SVDNone) {
		return make([]float64, min(w, n)) // does not happen for finite scores
	}
	return svd.Values(nil)
}

// rankFor returns how many of the singular values sv hold share of Σσ².
func rankFor(sv []float64, share float64) int {
	var total, acc float64
	for _, s := range sv {
		total += s * s
	}
	for i, s := range sv {
		if acc += s * s; acc >= share*total {
			return i + 1
		}
	}
	return len(sv)
}

// channelEnergy scores the channels of one KV head as ThinK does, from its
// group's window queries qs and its keys k, and returns for each ratio the
// share of the score mass that the kept channels hold and the relative error
// of the group's attention scores with only those channels.
func channelEnergy(qs [][]float64, k []float64, d int, ratios []float64) (energy, scoreErr []float64) {
	kn := rms(k, d)
	score := make([]float64, d)
	for _, q := range qs {
		for j, v := range rms(q, d) {
			score[j] += v * v * kn[j] * kn[j] / float64(len(qs))
		}
	}
	var total float64
	for _, s := range score {
		total += s
	}
	all := make([]int, d)
	for j := range all {
		all[j] = j
	}
	full := partNorm2(qs, k, d, all)
	for _, r := range ratios {
		kept := press.KeptChannels(score, press.Pruned(r, d))
		var e float64
		for _, j := range kept {
			e += score[j]
		}
		energy = append(energy, e/math.Max(total, math.SmallestNonzeroFloat64))
		pruned := make([]int, 0, d-len(kept))
		for j := 0; j < d; j++ {
			if !slices.Contains(kept, j) {
				pruned = append(pruned, j)
			}
		}
		var e2 float64
		if full > 0 {
			e2 = math.Sqrt(partNorm2(qs, k, d, pruned) / full)
		}
		scoreErr = append(scoreErr, e2)
	}
	return energy, scoreErr
}

// partNorm2 returns Σ_t,s (Σ_{j∈idx} q[t,j]·k[s,j])² summed over the queries
// qs: the squared Frobenius norm of the scores the channels idx contribute.
func partNorm2(qs [][]float64, k []float64, d int, idx []int) float64 {
	n := len(k) / d
	var sum float64
	for _, q := range qs {
		for t := 0; t < len(q)/d; t++ {
			qt := q[t*d : (t+1)*d]
			for s := 0; s < n; s++ {
				ks := k[s*d : (s+1)*d]
				var dot float64
				for _, j := range idx {
					dot += qt[j] * ks[j]
				}
				sum += dot * dot
			}
		}
	}
	return sum
}
