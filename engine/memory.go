package engine

import (
	"fmt"
	"math"

	"github.com/thinkv/thinkv/internal/memlimit"
	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/press"
)

// MemoryNeed is what one sequence needs in memory, in bytes.
type MemoryNeed struct {
	// Weights is the model's weights: all of them must be resident, those
	// memory-mapped from the file included, since every token reads them.
	Weights int64
	// Tokens is the most tokens the sequence may hold: the prompt and every
	// new token but the last (which is sampled, never run), within the context.
	Tokens int
	// KV is an uncompressed cache of Tokens tokens of the requested type
	// (kvcache.Config.TokenBytes·Tokens): the most it can grow to; with
	// chunked compression, press.MaxBytesChunked.
	KV int64
	// Scratch is the State's buffers (model.Model.StateBytes), with what
	// attention's scratch grows by over a cache of a blocked type.
	Scratch int64
	// Chunk is the chunk size of chunked compression, whose KV is then
	// press.MaxBytesChunked (RequestNeed); 0: the prompt prefilled whole.
	Chunk int
}

// Total returns Weights + KV + Scratch (saturating at the largest int64).
func (n MemoryNeed) Total() int64 { return addSat(addSat(n.Weights, n.KV), n.Scratch) }

// String lists the parts: "205.3 GB (weights 3.6 MB + KV cache for
// 1000000010 tokens 205.3 GB + scratch 1.2 MB)".
// With chunked compression it says so: "KV cache for 65209 tokens
// (compressed in chunks of 256) 1.2 MB".
func (n MemoryNeed) String() string {
	chunks := ""
	if n.Chunk > 0 {
		chunks = fmt.Sprintf(" (compressed in chunks of %d)", n.Chunk)
	}
	return fmt.Sprintf("%s (weights %s + KV cache for %d tokens%s %s + scratch %s)",
		memlimit.FormatBytes(n.Total()), memlimit.FormatBytes(n.Weights), n.Tokens, chunks,
		memlimit.FormatBytes(n.KV), memlimit.FormatBytes(n.Scratch))
}

// SequenceLimit returns the most tokens a sequence with a prompt of promptLen
// tokens and up to maxNew new ones holds: promptLen + maxNew − 1 (the last
// new token is sampled, never run through the model), at most the context
// (MaxNew is a most), at least the prompt. It cannot overflow.
func (e *Engine) SequenceLimit(promptLen, maxNew int) int {
	room := max(e.Model.Context-promptLen, 0)
	return promptLen + min(max(maxNew-1, 0), room)
}

// MemoryNeed estimates what a sequence with a prompt of promptLen tokens and
// up to maxNew new ones needs with a cache of type typ, before anything is
// allocated for it.
func (e *Engine) MemoryNeed(promptLen, maxNew int, typ kvcache.DType) MemoryNeed {
	m := e.Model
	tokens := e.SequenceLimit(promptLen, maxNew)
	cfg := e.cacheConfig(typ, 0)
	return MemoryNeed{
		Weights: e.WeightBytes(),
		Tokens:  tokens,
		KV:      mulSat(cfg.TokenBytes(), int64(tokens)),
		Scratch: m.StateBytes(e.Pool.Workers(), max(1, min(PrefillBatch, promptLen)), tokens, typ),
	}
}

// RequestNeed is MemoryNeed for a request: its context (a prefix's tokens
// and the prompt), MaxNew and cache type. With chunked compression
// (ChunkedCompress > 0 and a Press, no Prefix) the KV part is
// press.MaxBytesChunked, the most the cache holds while the prompt is
// compressed chunk by chunk and while it decodes, rather than an
// uncompressed cache of every token: a prompt longer than memory is
// refused only for what it will use.
func (e *Engine) RequestNeed(req Request) MemoryNeed {
	n := req.context()
	need := e.MemoryNeed(n, req.MaxNew, req.CacheType())
	if req.ChunkedCompress > 0 && req.Press != nil && req.Prefix == nil {
		cfg := e.cacheConfig(req.KVType, need.Tokens)
		need.KV = press.MaxBytesChunked(req.Press, cfg, n, need.Tokens-n, req.ChunkedCompress)
		need.Chunk = req.ChunkedCompress
	}
	return need
}

// WeightBytes returns the bytes of the model's weights: every matrix's data
// (the embedding once when the output head is tied to it), norms, biases and
// RoPE factors.
func (e *Engine) WeightBytes() int64 {
	m := e.Model
	var n int64
	mat := func(w *kernels.Matrix) {
		if w != nil {
			n += int64(len(w.Data))
		}
	}
	vec := func(v ...[]float32) {
		for _, x := range v {
			n += 4 * int64(len(x))
		}
	}
	mat(m.Embed)
	if m.Output != m.Embed {
		mat(m.Output)
	}
	vec(m.Norm, m.RopeFactors)
	for i := range m.Layers {
		l := &m.Layers[i]
		for _, w := range []*kernels.Matrix{l.Wq, l.Wk, l.Wv, l.Wo, l.Gate, l.Up, l.Down} {
			mat(w)
		}
		vec(l.AttnNorm, l.FFNNorm, l.Bq, l.Bk, l.Bv)
	}
	return n
}

// CheckMemory refuses a sequence that would not fit: it compares MemoryNeed
// with the tightest bound on the memory still available (Limits, by default
// memlimit.Read: MemAvailable, the cgroup's limit less its usage, RLIMIT_AS
// less the address space mapped). The weights are already in the address
// space once loaded, so against RLIMIT_AS they count as available too. With
// no bound readable it refuses nothing. The refusal advises a --kv-type
// with smaller rows when there is one (see typeAdvice). Call it before
// printing anything; Generate calls it too, through CheckRequest, which
// also counts what chunked compression saves.
func (e *Engine) CheckMemory(promptLen, maxNew int, typ kvcache.DType) error {
	return e.checkNeed(typ, func(t kvcache.DType) MemoryNeed { return e.MemoryNeed(promptLen, maxNew, t) }, true)
}

// CheckRequest refuses, before anything is allocated or printed, a request
// the engine cannot run: Check's refusals, a prefix the model cannot go on
// from, a negative chunk size, and a sequence whose RequestNeed would not
// fit in memory (as CheckMemory decides; a request on a prefix is not
// advised another cache type, which is the prefix's). Generate calls it.
func (e *Engine) CheckRequest(req Request) error {
	if err := e.checkPrefix(&req); err != nil {
		return err
	}
	switch {
	case req.MaxNew < 0:
		return fmt.Errorf("negative token count %d", req.MaxNew)
	case req.ChunkedCompress < 0:
		return fmt.Errorf("negative chunk size %d for chunked compression", req.ChunkedCompress)
	}
	if err := e.checkPrompt(req.context()); err != nil {
		return err
	}
	return e.checkNeed(req.CacheType(), func(t kvcache.DType) MemoryNeed {
		r := req
		r.KVType = t
		return e.RequestNeed(r)
	}, req.Prefix == nil)
}

// checkNeed is CheckMemory for a sequence that needs needOf(t) with a cache
// of type t, asked for with type typ; advise says whether the refusal may
// name another type.
func (e *Engine) checkNeed(typ kvcache.DType, needOf func(kvcache.DType) MemoryNeed, advise bool) error {
	read := e.Limits
	if read == nil {
		read = memlimit.Read
	}
	need := needOf(typ)
	var tightest memlimit.Limit
	avail, found := int64(0), false
	for _, l := range read() {
		a := l.Bytes
		if l.AddressSpace {
			a = addSat(a, need.Weights)
		}
		if !found || a < avail {
			tightest, avail, found = l, a, true
		}
	}
	if !found || need.Total() <= avail {
		return nil
	}
	what := tightest.String()
	if tightest.AddressSpace {
		what += ", the weights among it"
	}
	advice := "lower --ctx or -n, or use a compressing --press"
	if advise {
		advice += e.typeAdvice(typ, avail, func(t kvcache.DType) int64 { return needOf(t).Total() })
	}
	return fmt.Errorf("this sequence needs about %s but %s is available (%s); %s",
		need, memlimit.FormatBytes(avail), what, advice)
}

// kvTypesByPrecision lists the storage types from the most precise to the
// least.
var kvTypesByPrecision = [...]kvcache.DType{kvcache.F32, kvcache.F16, kvcache.Q8_0, kvcache.Q4_0}

// typeAdvice returns what CheckMemory adds to its advice about --kv-type
// for a sequence refused with a cache of type typ when avail bytes are
// available, need(t) being what it needs with type t. Only the types whose
// rows are smaller than typ's at the model's head dimension are named: the
// most precise of them whose need fits (" or --kv-type q8_0 (about 1.1
// GB)"), else the smallest, with what it would still need alone; "" when
// no type has smaller rows.
func (e *Engine) typeAdvice(typ kvcache.DType, avail int64, need func(kvcache.DType) int64) string {
	d := e.Model.HeadDim
	smallest := typ
	for _, t := range kvTypesByPrecision {
		if t.RowBytes(d) >= typ.RowBytes(d) {
			continue
		}
		n := need(t)
		if n <= avail {
			return fmt.Sprintf(" or --kv-type %s (about %s)", t, memlimit.FormatBytes(n))
		}
		if t.RowBytes(d) < smallest.RowBytes(d) {
			smallest = t
		}
	}
	if smallest == typ {
		return ""
	}
	return fmt.Sprintf(" (--kv-type %s alone would still need about %s)", smallest, memlimit.FormatBytes(need(smallest)))
}

func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func mulSat(a, b int64) int64 {
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}
