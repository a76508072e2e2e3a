// Package eval owns quality measurement of KV-cache compression: fidelity of
// compressed caches to the full cache under teacher forcing (KL divergence,
// top-1 agreement, perplexity); long-context benchmark tasks (NIAH, RULER,
// LongBench) with their official metrics; the runner that puts every press
// on the same samples, with its reports and plots; and the analysis of key
// channel magnitudes and attention spectra behind ThinK.
package eval

import (
	"fmt"
	"math"
	"time"

	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/press"
)

// FidelityConfig describes a fidelity run.
type FidelityConfig struct {
	Tokens  []int // the whole text, BOS included
	Prefix  int   // tokens prefilled (and compressed); the rest are teacher-forced
	KVType  kvcache.DType
	Presses []press.Press // nil entries mean the full cache
	// Types are further cache types: the full cache and every press run
	// with each of them too, compared with the full cache of KVType.
	Types []kvcache.DType
	// Reference is what every row is compared with: a press compressing
	// the whole prefix, with a cache of type KVType (nil: the full cache).
	// It takes the full cache's place as each type's first row.
	Reference press.Press
	// Chunked > 0 adds, after each press's row, a row for the press with
	// chunked compression of the prefix in chunks of Chunked tokens
	// (engine.PrefillChunked).
	Chunked int
	// Repack adds, after each press that packs decoded tokens' keys
	// (press.KeyPacking) and prunes no values, with a cache type not
	// stored in blocks (f16, f32), two rows simulating its packing on a
	// full-width cache (repackRun): with the channels chosen at prefill, as
	// the press packs, and with channels re-scored at every packing.
	Repack bool
}

// FidelityResult is one press's row.
type FidelityResult struct {
	Press  string `json:"press"`
	KVType string `json:"kv_type"` // the cache type of this row
	// KV-cache bytes after prefill and compression, and what a full cache
	// of the prompt holds (of the reference type, KVType); then both at the
	// end, with the forced tokens.
	KVBytesPrefill     int64   `json:"kv_bytes_prefill"`
	KVBytesPrefillFull int64   `json:"kv_bytes_prefill_full"`
	KVBytes            int64   `json:"kv_bytes"`
	KVBytesFull        int64   `json:"kv_bytes_full"`
	KL                 float64 `json:"kl_mean"`    // mean KL(full ‖ press) of the next-token distribution, nats
	KLMax              float64 `json:"kl_max"`     // worst step
	Top1               float64 `json:"top1_agree"` // fraction of steps whose argmax matches the full cache's
	Perplexity         float64 `json:"perplexity"` // of the forced tokens
	DecodePerSec       float64 `json:"decode_tokens_per_s"`
	// Chunk is the chunk size of chunked compression (0: the whole prefix
	// compressed at once).
	Chunk int `json:"chunk,omitempty"`
	// Simulated says which simulation of packing the row is ("prefill
	// channels", "re-scored channels"; empty: none). Its bytes are the
	// press's, which packs its cache to the same shapes.
	Simulated string `json:"simulated,omitempty"`
}

// FidelityReport is the outcome of a fidelity run.
type FidelityReport struct {
	PrefixTokens int              `json:"prefix_tokens"`
	ForcedTokens int              `json:"forced_tokens"`
	KVType       string           `json:"kv_type"` // the reference's
	Results      []FidelityResult `json:"results"`
}

// Fidelity prefills cfg.Prefix tokens under each press, teacher-forces the
// rest, and compares every next-token distribution with the full cache's
// (of type cfg.KVType; cfg.Reference's if set), for cfg.KVType and then
// each of cfg.Types. The first forced token is predicted from the prefill,
// which attends over the full prompt under every press, so only later
// steps can differ (at the reference's type: another type's prefill attends
// over its own rows; chunked compression's over the chunks compressed).
func Fidelity(e *engine.Engine, cfg FidelityConfig) (*FidelityReport, error) {
	n, forced := cfg.Prefix, len(cfg.Tokens)-cfg.Prefix
	if n < 1 || forced < 1 {
		return nil, fmt.Errorf("need at least one prefix token and one token to force: have %d tokens, prefix %d", len(cfg.Tokens), n)
	}
	if len(cfg.Tokens) > e.Model.Context+1 {
		return nil, fmt.Errorf("%d tokens exceed the context of %d", len(cfg.Tokens), e.Model.Context)
	}
	ref, refRow, err := run(e, cfg, cfg.KVType, cfg.Reference, 0)
	if err != nil {
		return nil, err
	}
	rep := &FidelityReport{PrefixTokens: n, ForcedTokens: forced, KVType: cfg.KVType.String()}
	for ti, typ := range append([]kvcache.DType{cfg.KVType}, cfg.Types...) {
		if err := fidelityRows(e, cfg, typ, ti == 0, ref, refRow, rep); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// fidelityRows adds the rows of the reference (the full cache, or
// cfg.Reference) and every press with caches of type typ to rep, compared
// with the reference's log-probabilities ref; isRef says typ is the
// reference's type (its first row is refRow).
func fidelityRows(e *engine.Engine, cfg FidelityConfig, typ kvcache.DType, isRef bool, ref []float64, refRow *FidelityResult, rep *FidelityReport) error {
	for i, p := range append([]press.Press{cfg.Reference}, cfg.Presses...) {
		logp, r := ref, refRow
		if i > 0 || !isRef {
			var err error
			if logp, r, err = run(e, cfg, typ, p, 0); err != nil {
				return err
			}
		}
		rep.add(cfg, ref, logp, r, refRow)
		if i == 0 || p == nil {
			continue
		}
		if cfg.Chunked > 0 {
			logp, r, err := run(e, cfg, typ, p, cfg.Chunked)
			if err != nil {
				return err
			}
			rep.add(cfg, ref, logp, r, refRow)
		}
		if err := repackRows(e, cfg, typ, p, ref, refRow, rep); err != nil {
			return err
		}
	}
	return nil
}

// repackRows adds, when cfg.Repack asks and p packs decoded keys of a
// type not stored in blocks, the rows simulating p's packing.
func repackRows(e *engine.Engine, cfg FidelityConfig, typ kvcache.DType, p press.Press, ref []float64, refRow *FidelityResult, rep *FidelityReport) error {
	pk, packs := press.KeyPacking(p)
	if _, values := p.Prunes(); !cfg.Repack || !packs || values || typ.Block() > 1 {
		return nil
	}
	whole := rep.Results[len(rep.Results)-1-min(cfg.Chunked, 1)] // the press's own row
	for _, rescore := range []bool{false, true} {
		logp, err := repackRun(e, cfg, typ, p, pk, rescore)
		if err != nil {
			return err
		}
		sim := whole
		sim.Simulated = "prefill channels"
		if rescore {
			sim.Simulated = "re-scored channels"
		}
		sim.KL, sim.KLMax, sim.DecodePerSec = 0, 0, 0
		rep.add(cfg, ref, logp, &sim, refRow)
	}
	return nil
}

// add compares the log-probabilities logp of row r with the reference's,
// ref, and appends the row to the report, its full-cache bytes those of
// the reference's type (refRow's).
func (rep *FidelityReport) add(cfg FidelityConfig, ref, logp []float64, r, refRow *FidelityResult) {
	n, forced := cfg.Prefix, len(cfg.Tokens)-cfg.Prefix
	vocab := len(ref) / forced
	r.KVBytesPrefillFull, r.KVBytesFull = refRow.KVBytesPrefillFull, refRow.KVBytesFull
	var agree int
	var nll float64
	for i := 0; i < forced; i++ {
		a, b := ref[i*vocab:(i+1)*vocab], logp[i*vocab:(i+1)*vocab]
		var kl float64
		for j := range a {
			if pa := math.Exp(a[j]); pa > 0 {
				kl += pa * (a[j] - b[j])
			}
		}
		r.KL += kl / float64(forced)
		r.KLMax = math.Max(r.KLMax, kl)
		if engine.Argmax(a) == engine.Argmax(b) {
			agree++
		}
		nll -= b[cfg.Tokens[n+i]]
	}
	r.Top1 = float64(agree) / float64(forced)
	r.Perplexity = math.Exp(nll / float64(forced))
	rep.Results = append(rep.Results, *r)
}

// run prefills under p with a cache of type typ (in chunks of chunk tokens
// if chunk > 0) and teacher-forces the rest, returning the log-softmax of
// every next-token prediction, [forced×vocab].
func run(e *engine.Engine, cfg FidelityConfig, typ kvcache.DType, p press.Press, chunk int) ([]float64, *FidelityResult, error) {
	n, total, vocab := cfg.Prefix, len(cfg.Tokens), e.Model.Vocab
	c, s, err := e.NewSequence(n, total-1, typ)
	if err != nil {
		return nil, nil, err
	}
	logits, err := e.PrefillChunked(s, c, cfg.Tokens[:n], p, chunk)
	if err != nil {
		return nil, nil, err
	}
	// Bytes after prefill are those held, as a cache sized for the prompt
	// alone would allocate; this one reserves room for the forced tokens.
	cc := c.Config()
	cc.Capacity = n
	prefill, prefillFull := c.HeldBytes(), kvcache.FullBytes(cc)
	out := make([]float64, (total-n)*vocab)
	logSoftmax(out[:vocab], logits)
	start := time.Now()
	for i := n; i < total-1; i++ {
		if logits, err = e.Decode(s, c, cfg.Tokens[i], p); err != nil {
			return nil, nil, err
		}
		logSoftmax(out[(i-n+1)*vocab:(i-n+2)*vocab], logits)
	}
	name := "none"
	if p != nil {
		name = p.String()
	}
	r := &FidelityResult{Press: name, KVType: typ.String(), KVBytesPrefill: prefill, KVBytesPrefillFull: prefillFull, KVBytes: c.Bytes(), KVBytesFull: c.FullBytes()}
	if p != nil {
		r.Chunk = max(chunk, 0)
	}
	if steps := total - 1 - n; steps > 0 {
		r.DecodePerSec = float64(steps) / time.Since(start).Seconds()
	}
	return out, r, nil
}

func logSoftmax(dst []float64, x []float32) {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, float64(v))
	}
	var sum float64
	for _, v := range x {
		sum += math.Exp(float64(v) - m)
	}
	lse := m + math.Log(sum)
	for i, v := range x {
		dst[i] = float64(v) - lse
	}
}
