package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/model"
	"github.com/thinkv/thinkv/press"
)

const benchSynopsis = "-m MODEL [-p 512] [-n 128] [--depth 0,4096] [--press SPEC]... [--kv-type f16|f32|q8_0|q4_0] [--threads N] [-r 3] [--json]"

// bandwidthBytes is the buffer the read bandwidth is measured on: several
// times any last-level cache, so that the sum streams from memory.
const bandwidthBytes = 256 << 20

// benchOptions is a parsed bench command line.
type benchOptions struct {
	prompt, gen, reps, batch int
	depths                   []int
	typ                      kvcache.DType
	presses                  []press.Press // nil: none
	pressSpecs               []string      // their canonical specs, "none" for nil
	seed                     uint64
}

func runBench(args []string, stdout io.Writer) error {
	fs := newFlags("bench", benchSynopsis)
	var mf modelFlags
	mf.register(fs)
	var o benchOptions
	var seed int
	fs.intVar(&o.prompt, "p", 512, 0, maxCtx, "prompt tokens to prefill, on an empty cache and after each --depth above 0 (0: no prefill test)")
	fs.intVar(&o.gen, "n", 128, 0, maxCtx, "tokens to decode one at a time, at each --depth (0: no decode test)")
	fs.intVar(&o.reps, "r", 3, 1, 1000, "repetitions of each test (the rate is their mean ± standard deviation)")
	fs.intVar(&o.batch, "batch", engine.PrefillBatch, 1, 1<<16, "most prompt tokens run through the model in one step")
	fs.alias("batch", "b")
	depth := fs.String("depth", "0", "comma-separated cache depths to prefill -p more tokens and decode -n at: the cache is first filled with that many synthetic tokens (compressed by --press), untimed")
	fs.alias("depth", "d")
	kvType := fs.String("kv-type", "f16", kvTypeHelp)
	var specs multiFlag
	fs.Var(&specs, "press", "cache compression applied to each prefill (the -p prompt and each depth's fill) and while decoding, e.g. snapkv:budget=256; given more than once, every test runs with each press, one repetition of each in turn, so that they see the same machine")
	fs.intVar(&seed, "seed", 1, 0, 1<<62, "seed of the synthetic token ids")
	asJSON := fs.Bool("json", false, "print one JSON object instead of the table")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the tests (warm-up and fills included) to this file, for go tool pprof")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := mf.check(); err != nil {
		return err
	}
	if o.prompt == 0 && o.gen == 0 {
		return fs.usagef("nothing to run: -p and -n are both 0")
	}
	var err error
	if o.depths, err = parseDepths(*depth); err != nil {
		return fs.usagef("--depth: %v", err)
	}
	if len(specs) == 0 {
		specs = multiFlag{"none"}
	}
	for _, spec := range specs {
		typ, p, err := fs.cacheFlags(*kvType, spec)
		if err != nil {
			return err
		}
		o.typ, o.presses = typ, append(o.presses, p)
		o.pressSpecs = append(o.pressSpecs, "none")
		if p != nil {
			o.pressSpecs[len(o.pressSpecs)-1] = p.String()
		}
	}
	o.seed = uint64(seed)
	// The tokens are synthetic: -t is accepted (it is a shared model flag)
	// but no tokenizer is loaded.
	m, meta, err := model.Load(mf.path, mf.ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	pool := kernels.NewPool(mf.threads)
	e := &engine.Engine{Model: m, Pool: pool}
	defer pool.Close()
	if err := o.fits(e); err != nil {
		return err
	}
	stop, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	r, err := bench(e, o)
	if perr := stop(); err == nil {
		err = perr
	}
	if err != nil {
		return err
	}
	r.Model, r.Name = mf.path, fmt.Sprintf("%s %s", arch(m), countLabel(r.Params))
	r.Type = fileType(m, meta)
	r.Threads = pool.Workers()
	// Peak RSS is read before the bandwidth buffer is allocated: it is the
	// model's, not the measurement's.
	r.PeakRSS = peakRSS()
	r.Bandwidth = readBandwidth(r.Threads, bandwidthBytes, 5)
	r.roofline()
	if *asJSON {
		return json.NewEncoder(stdout).Encode(r)
	}
	return r.print(stdout)
}

// startCPUProfile starts a CPU profile written to path (nothing when path
// is empty) and returns the function that stops it and closes the file.
func startCPUProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// parseDepths parses a comma-separated list of depths (non-negative
// integers), sorted, without repeats.
func parseDepths(s string) ([]int, error) {
	seen := map[int]bool{}
	var out []int
	for _, f := range strings.Split(s, ",") {
		d, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || d < 0 || d > maxCtx {
			return nil, fmt.Errorf("%q is not a depth (a whole number of tokens, 0 or more)", f)
		}
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Ints(out)
	return out, nil
}

// fits refuses, before anything runs, tests longer than the model's context
// or whose cache would not fit in memory.
func (o *benchOptions) fits(e *engine.Engine) error {
	m := e.Model
	longest := o.prompt
	if deepest := o.depths[len(o.depths)-1]; o.gen > 0 || deepest > 0 {
		longest = max(longest, deepest+max(o.gen, o.prompt))
	}
	if longest > m.Context {
		return fmt.Errorf("a test of %d tokens (the -p prompt, or the deepest --depth plus -p or -n) exceeds the model's context of %d tokens: lower them or raise --ctx if the model allows",
			longest, m.Context)
	}
	return e.CheckMemory(longest, 1, o.typ)
}

// benchTest is one test's result: a prefill (pp) or decode (tg) of Tokens
// tokens on a cache already holding Depth tokens, repeated.
type benchTest struct {
	Name    string    `json:"name"` // as llama-bench names it: pp512, tg128, tg128 @ d4096
	Kind    string    `json:"kind"` // "pp" or "tg"
	Press   string    `json:"press"`
	Tokens  int       `json:"tokens"`
	Depth   int       `json:"depth"`
	Samples []float64 `json:"samples_tokens_per_s"`
	Mean    float64   `json:"mean_tokens_per_s"`
	SD      float64   `json:"sd_tokens_per_s"`
	// KVTokens is what the cache held at the end of the test (Depth +
	// Tokens), KVBytes the bytes it allocated for them (after the press, if
	// any) and KVBytesFull an uncompressed cache of KVTokens tokens.
	KVTokens    int   `json:"kv_tokens"`
	KVBytes     int64 `json:"kv_bytes"`
	KVBytesFull int64 `json:"kv_bytes_full"`
	// KVReadBytes is the mean of the cache bytes held before and after the
	// test: what a decode step reads of the cache, on average (tg only).
	KVReadBytes int64 `json:"kv_read_bytes_per_token,omitempty"`
	// Roofline is the read bandwidth over the bytes a decode step must read
	// (the weights plus KVReadBytes), Fraction Mean over it (tg only).
	Roofline float64 `json:"roofline_tokens_per_s,omitempty"`
	Fraction float64 `json:"roofline_fraction,omitempty"`
	// AttentionShare (tg at a depth d > 0 when depth 0 is measured too) is
	// 1 − Mean / Mean at depth 0: the share of a decode step's time at depth
	// d spent on the d cached tokens more, which is attention's (reading the
	// cache, scores, softmax, weighted values).
	AttentionShare *float64 `json:"attention_share,omitempty"`
	// AttentionMS (tg only) is the wall time a decode step spent in
	// attention, per token, in milliseconds: measured around every layer's
	// attention (model.State.AttentionTime), the mean over repetitions.
	AttentionMS float64 `json:"attention_ms_per_token,omitempty"`
}

// benchReport is what bench prints.
type benchReport struct {
	Model      string  `json:"model"`
	Name       string  `json:"model_name"`
	Type       string  `json:"type"`
	SizeBytes  int64   `json:"size_bytes"`
	Params     int64   `json:"params"`
	KVType     string  `json:"kv_type"`
	Press      string  `json:"press"` // the tests' presses, separated by " | "
	Threads    int     `json:"threads"`
	Batch      int     `json:"batch"`
	Tier       string  `json:"kernel_tier"`
	Reps       int     `json:"reps"`
	TokenBytes int64   `json:"kv_token_bytes"` // an uncompressed cache's bytes per token
	Bandwidth  float64 `json:"read_bandwidth_bytes_per_s"`
	// WeightRead is the bytes of weights a decode step reads: every layer's
	// matrices and norms, the final norm, the output head and one embedding row.
	WeightRead int64       `json:"weight_bytes_per_token"`
	PeakRSS    int64       `json:"peak_rss_bytes"`
	Tests      []benchTest `json:"tests"`
}

// bench runs the tests: a prefill of o.prompt tokens, then decodes of o.gen
// tokens at each depth, each after one untimed warm-up.
func bench(e *engine.Engine, o benchOptions) (*benchReport, error) {
	m := e.Model
	cfg := kvcache.Config{Layers: m.Config.Layers, KVHeads: m.KVHeads, HeadDim: m.HeadDim, Type: o.typ}
	r := &benchReport{
		SizeBytes: e.WeightBytes(), Params: m.ParamCount(), KVType: o.typ.String(), Press: strings.Join(o.pressSpecs, " | "),
		Batch: o.batch, Tier: kernels.Tier(), Reps: o.reps, TokenBytes: cfg.TokenBytes(), WeightRead: weightReadBytes(e),
	}
	rng := rand.New(rand.NewPCG(o.seed, 2))
	ids := func(n int) []int {
		t := make([]int, n)
		for i := range t {
			t[i] = rng.IntN(m.Vocab)
		}
		return t
	}
	newCache := func(capacity int) (*kvcache.Cache, error) {
		c := cfg
		c.Capacity = max(capacity, 1)
		return kvcache.New(c)
	}
	batch := min(o.batch, max(o.prompt, o.depths[len(o.depths)-1], 1))
	prefillState := m.NewState(e.Pool, batch)
	decodeState := m.NewState(e.Pool, 1)
	// Warm up as llama-bench does: a short prompt and one decoded token,
	// which read every weight once (mapped pages are faulted in).
	c, err := newCache(33)
	if err != nil {
		return nil, err
	}
	if _, err := m.Forward(prefillState, c, ids(min(32, batch)), false, nil); err != nil {
		return nil, err
	}
	if _, err := e.Decode(decodeState, c, ids(1)[0], nil); err != nil {
		return nil, err
	}

	// run runs a test once per press, the presses' repetitions taking
	// turns, each turn of a repetition on the same synthetic tokens: step
	// runs press i's tokens on the cache that start(i) makes, timed. A
	// decode test (tg) also records the cache bytes a step reads.
	run := func(name, kind string, tokens, depth int, start func(i int) (*kvcache.Cache, error),
		step func(c *kvcache.Cache, toks []int, p press.Press) error) error {
		ts := make([]benchTest, len(o.presses))
		for i := range ts {
			ts[i] = benchTest{Name: name, Kind: kind, Tokens: tokens, Depth: depth, Press: o.pressSpecs[i]}
		}
		for range o.reps {
			toks := ids(tokens)
			for i, p := range o.presses {
				c, err := start(i)
				if err != nil {
					return err
				}
				before, a0, t0 := c.HeldBytes(), decodeState.AttentionTime(), time.Now()
				if err := step(c, toks, p); err != nil {
					return err
				}
				t := &ts[i]
				t.Samples = append(t.Samples, rate(tokens, time.Since(t0)))
				t.KVTokens, t.KVBytes, t.KVBytesFull = c.Next(), c.Bytes(), c.FullBytes()
				if kind == "tg" {
					t.KVReadBytes = (before + c.HeldBytes()) / 2
					attn := decodeState.AttentionTime() - a0
					t.AttentionMS += float64(attn.Nanoseconds()) / 1e6 / float64(tokens) / float64(o.reps)
				}
			}
		}
		r.Tests = append(r.Tests, ts...)
		return nil
	}
	prefill := func(c *kvcache.Cache, toks []int, p press.Press) error {
		_, err := e.Prefill(prefillState, c, toks, p)
		return err
	}
	decode := func(c *kvcache.Cache, toks []int, p press.Press) error {
		for _, tok := range toks {
			if _, err := e.Decode(decodeState, c, tok, p); err != nil {
				return err
			}
		}
		return nil
	}
	if o.prompt > 0 {
		empty := func(int) (*kvcache.Cache, error) { return newCache(o.prompt) }
		if err := run(fmt.Sprintf("pp%d", o.prompt), "pp", o.prompt, 0, empty, prefill); err != nil {
			return nil, err
		}
	}
	for _, d := range o.depths {
		if o.gen == 0 && d == 0 {
			continue
		}
		at := ""
		if d > 0 {
			at = fmt.Sprintf(" @ d%d", d)
		}
		// The cache is filled to the depth once per press, untimed, and
		// each repetition runs on a copy of it.
		bases := make([]*kvcache.Cache, len(o.presses))
		fill := ids(d)
		for i, p := range o.presses {
			if bases[i], err = newCache(d + o.gen); err != nil {
				return nil, err
			}
			if d > 0 {
				if _, err := e.Prefill(prefillState, bases[i], fill, p); err != nil {
					return nil, err
				}
			}
		}
		// Prefill at a depth, as llama-bench's pp @ d: o.prompt more
		// prompt tokens after the depth's (compressed, with a press), not
		// compressed again.
		if o.prompt > 0 && d > 0 {
			deeper := func(i int) (*kvcache.Cache, error) {
				c := bases[i].Clone()
				return c, c.SetLimit(d + o.prompt)
			}
			uncompressed := func(c *kvcache.Cache, toks []int, _ press.Press) error { return prefill(c, toks, nil) }
			if err := run(fmt.Sprintf("pp%d", o.prompt)+at, "pp", o.prompt, d, deeper, uncompressed); err != nil {
				return nil, err
			}
		}
		if o.gen > 0 {
			clone := func(i int) (*kvcache.Cache, error) { return bases[i].Clone(), nil }
			if err := run(fmt.Sprintf("tg%d", o.gen)+at, "tg", o.gen, d, clone, decode); err != nil {
				return nil, err
			}
		}
	}
	for i := range r.Tests {
		r.Tests[i].Mean, r.Tests[i].SD = meanSD(r.Tests[i].Samples)
	}
	return r, nil
}
