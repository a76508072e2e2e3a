// Package engine owns text generation: it loads a model with its tokenizer,
// makes one KV cache per sequence, runs prefill, applies the requested cache
// compression, and decodes token by token with a sampler, timing each phase.
package engine

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/thinkv/thinkv/internal/memlimit"
	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/model"
	"github.com/thinkv/thinkv/press"
	"github.com/thinkv/thinkv/tokenizer"
)

// Engine is a loaded model, its tokenizer and the worker pool that runs it.
type Engine struct {
	Model *model.Model
	Tok   *tokenizer.Tokenizer
	Pool  *kernels.Pool
	// Limits, if set, replaces memlimit.Read as CheckMemory's source of
	// the bounds on available memory (for tests and embedders).
	Limits func() []memlimit.Limit
}

// Load opens a model (Hugging Face directory, GGUF or llama2.c checkpoint)
// and its tokenizer: the file at tokPath if given (a llama2.c tokenizer.bin, or
// a tokenizer.json or its directory), else the GGUF metadata or the
// directory's tokenizer.json. ctx > 0 overrides the model's context length.
func Load(modelPath, tokPath string, ctx int) (*Engine, error) {
	m, meta, err := model.Load(modelPath, ctx)
	if err != nil {
		return nil, err
	}
	tok, err := ModelTokenizer(modelPath, tokPath, meta, m.Vocab)
	if err != nil {
		m.Close()
		return nil, err
	}
	// Embeddings may have padding rows past the vocabulary (Qwen2), never fewer.
	if tok.VocabSize() > m.Vocab {
		m.Close()
		return nil, fmt.Errorf("tokenizer has %d tokens but the model's vocabulary is %d", tok.VocabSize(), m.Vocab)
	}
	return &Engine{Model: m, Tok: tok, Pool: kernels.NewPool(0)}, nil
}

// SetThreads replaces the worker pool by one of n workers (n <= 0: as many
// as GOMAXPROCS). No sequence may be running.
func (e *Engine) SetThreads(n int) {
	e.Pool.Close()
	e.Pool = kernels.NewPool(n)
}

// Close releases the model and stops the worker pool.
func (e *Engine) Close() error {
	e.Pool.Close()
	e.Pool = nil
	return e.Model.Close()
}

// Request describes one generation.
type Request struct {
	Prompt   []int // prompt token ids, BOS included if wanted
	MaxNew   int   // most tokens to generate
	Sampling Sampling
	KVType   kvcache.DType
	Press    press.Press // nil: full cache
	// ChunkedCompress > 0 prefills the prompt in chunks of that many
	// tokens and applies Press after each one to what is cached so far,
	// the chunk's last queries observed (see PrefillChunked): the cache
	// then holds about the press's budget plus a chunk at most, however
	// long the prompt, approximating the compression of the whole prompt
	// at once. 0: the whole prompt, then Press. Ignored without a Press.
	// The request reserves press.MaxBytesChunked of a scheduler's budget,
	// and CheckRequest counts that much memory for its cache.
	ChunkedCompress int
	// Prefix, if set, is a cache to go on from (one loaded with
	// kvcache.ReadCache, say: a document compressed once). The sequence
	// runs on a Fork of it, so Prefix itself is not changed and may serve
	// other requests (but must not be used elsewhere while they run);
	// Prompt holds only the tokens after it (at least one), Press must be
	// nil (the prefix is compressed already) and the cache type is the
	// prefix's.
	Prefix *kvcache.Cache
	// StopTokens end the generation (Stop "stop") when one is generated: it
	// is sent like any token, and no further token is computed.
	StopTokens []int
	// OnToken, if set, is called with each generated token as it is chosen.
	OnToken func(id int)
	// Logprobs > 0 makes each token's Event carry the log-probability of
	// the chosen token (Event.Logprob) and of the Logprobs most likely
	// tokens (Event.TopLogprobs, at most the vocabulary). The distribution
	// is the model's, the log-softmax of its raw logits, before the
	// sampler's temperature, logit bias and penalties, as OpenAI reports
	// logprobs. ≤ 0: none, unless LogprobChosen.
	Logprobs int
	// LogprobChosen makes each token's Event carry its Logprob even when
	// Logprobs asks for no alternatives.
	LogprobChosen bool
}

// context returns the tokens the request's sequence holds before it
// generates: the prefix's and the prompt's.
func (r *Request) context() int {
	if r.Prefix != nil {
		return r.Prefix.Next() + len(r.Prompt)
	}
	return len(r.Prompt)
}

// CacheType is the storage type of the request's cache: the prefix's when
// it goes on from one, else KVType.
func (r *Request) CacheType() kvcache.DType {
	if r.Prefix != nil {
		return r.Prefix.Config().Type
	}
	return r.KVType
}

// cacheConfig is the configuration of a cache for this engine's model.
func (e *Engine) cacheConfig(typ kvcache.DType, capacity int) kvcache.Config {
	m := e.Model
	return kvcache.Config{Layers: m.Config.Layers, KVHeads: m.KVHeads, HeadDim: m.HeadDim, Type: typ, Capacity: capacity}
}

// checkPrefix refuses a prefix the model cannot go on from.
func (e *Engine) checkPrefix(r *Request) error {
	if r.Prefix == nil {
		return nil
	}
	m, cfg := e.Model, r.Prefix.Config()
	switch {
	case len(r.Prompt) == 0:
		return fmt.Errorf("a request on a prefix needs at least one token after it")
	case r.Press != nil:
		return fmt.Errorf("a request on a prefix takes no press: the prefix is compressed already")
	case cfg.Layers != m.Config.Layers || cfg.KVHeads != m.KVHeads || cfg.HeadDim != m.HeadDim:
		return fmt.Errorf("the prefix cache has %d layers × %d KV heads × %d channels, the model %d × %d × %d",
			cfg.Layers, cfg.KVHeads, cfg.HeadDim, m.Config.Layers, m.KVHeads, m.HeadDim)
	}
	return nil
}

// Result reports a finished generation.
type Result struct {
	PromptTokens int
	Tokens       []int // generated ids
	Stop         string
	Prefill      time.Duration
	Decode       time.Duration
	DecodeSteps  int   // forward passes made after prefill
	KVBytes      int64 // KV-cache bytes held at the end
	KVBytesFull  int64 // what an uncompressed cache of the same type would hold
}

// PrefillTokensPerSec returns the prompt throughput.
func (r *Result) PrefillTokensPerSec() float64 { return rate(r.PromptTokens, r.Prefill) }

// DecodeTokensPerSec returns the decode throughput.
func (r *Result) DecodeTokensPerSec() float64 { return rate(r.DecodeSteps, r.Decode) }

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// PrefillBatch is the most prompt tokens run through the model in one pass.
const PrefillBatch = 256

// NewSequence makes the cache and scratch state for a sequence of up to
// capacity tokens, checking it against the model's context. capacity is a
// limit: the cache grows as tokens arrive, so nothing is allocated for it up
// front (CheckMemory says whether it could grow that far).
func (e *Engine) NewSequence(promptLen, capacity int, typ kvcache.DType) (*kvcache.Cache, *model.State, error) {
	m := e.Model
	if err := e.checkPrompt(promptLen); err != nil {
		return nil, nil, err
	}
	capacity = min(capacity, m.Context)
	c, err := kvcache.New(e.cacheConfig(typ, capacity))
	if err != nil {
		return nil, nil, err
	}
	return c, m.NewState(e.Pool, min(PrefillBatch, promptLen)), nil
}

// Check refuses, before anything is allocated or printed, a request the
// engine cannot run: an empty prompt, one longer than the context, or a
// sequence of promptLen + maxNew tokens that would not fit in memory
// (CheckMemory).
func (e *Engine) Check(promptLen, maxNew int, typ kvcache.DType) error {
	if maxNew < 0 {
		return fmt.Errorf("negative token count %d", maxNew)
	}
	if err := e.checkPrompt(promptLen); err != nil {
		return err
	}
	return e.CheckMemory(promptLen, maxNew, typ)
}

func (e *Engine) checkPrompt(promptLen int) error {
	m := e.Model
	if promptLen == 0 {
		return fmt.Errorf("empty prompt: at least one token (BOS) is needed")
	}
	if promptLen > m.Context {
		why := ""
		if m.SlidingWindow > 0 {
			why = " (the model's sliding attention window: thinkv runs such models within one window)"
		}
		return fmt.Errorf("prompt of %d tokens is longer than the context of %d tokens%s", promptLen, m.Context, why)
	}
	return nil
}

// Prefill runs the prompt into c and applies p (nil: none), returning the last
// prompt token's logits.
func (e *Engine) Prefill(s *model.State, c *kvcache.Cache, prompt []int, p press.Press) ([]float32, error) {
	var obs *kvcache.Observation
	if p != nil {
		obs = p.Needs()
	}
	logits, err := e.Model.Forward(s, c, prompt, false, obs)
	if err != nil || p == nil {
		return logits, err
	}
	return logits, p.Compress(c, obs, e.Model.Heads)
}

// Decode runs one token through the model and lets p (nil: none) keep its
// budget, returning the logits for the next token.
func (e *Engine) Decode(s *model.State, c *kvcache.Cache, token int, p press.Press) ([]float32, error) {
	s.Token[0] = token
	logits, err := e.Model.Forward(s, c, s.Token[:], false, nil)
	if err == nil && p != nil {
		p.Step(c)
	}
	return logits, err
}

// Generate runs a request to completion: until an end-of-generation token
// (EOS, end of turn, or BOS, which ends llama2.c stories), MaxNew tokens, or
// the end of the context. MaxNew is a most: the cache's limit is
// SequenceLimit(prompt, MaxNew), within the context. It first refuses, with
// CheckRequest, a request that cannot run, such as a sequence whose cache
// could not grow that far. It submits the request to a scheduler of its own and reads
// its stream to the end, calling OnToken on the caller's goroutine.
func (e *Engine) Generate(req Request) (*Result, error) {
	n := len(req.Prompt)
	if err := e.CheckRequest(req); err != nil {
		return nil, err
	}
	s := e.NewScheduler(SchedulerConfig{MaxSeqs: 1, TokenBudget: min(PrefillBatch, n)})
	defer s.Close()
	st, err := s.Submit(context.Background(), req)
	if err != nil {
		return nil, err
	}
	return Collect(st, req.OnToken)
}

// Collect reads a stream to its end and returns the generation as Generate
// does, calling onToken (if set) with each token as it arrives. A request
// that ended with an error (cancelled included) returns that error.
func Collect(st *Stream, onToken func(id int)) (*Result, error) {
	res := &Result{}
	for {
		ev, ok := st.Next()
		if !ok {
			return nil, fmt.Errorf("engine: stream ended without a final event")
		}
		if !ev.Done {
			res.Tokens = append(res.Tokens, ev.Token)
			if onToken != nil {
				onToken(ev.Token)
			}
			continue
		}
		if ev.Err != nil {
			return nil, ev.Err
		}
		u := ev.Usage
		res.PromptTokens, res.Stop = u.PromptTokens, ev.Stop
		res.Prefill, res.Decode, res.DecodeSteps = u.Prefill, u.Decode, u.DecodeSteps
		res.KVBytes, res.KVBytesFull = u.KVBytes, u.KVBytesFull
		return res, nil
	}
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}
