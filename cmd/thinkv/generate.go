package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/press"
)

const generateSynopsis = "-m MODEL [-t TOKENIZER] [-p TEXT | -f FILE | -f - | < FILE] [-n N] [--press SPEC [--chunked-compress [--chunk N]]] [flags]"

func runGenerate(args []string, stdout io.Writer) error {
	fs := newFlags("generate", generateSynopsis)
	var mf modelFlags
	mf.register(fs)
	prompt := fs.String("p", "", "prompt text")
	file := fs.String("f", "", "read the prompt from this file (-: standard input; with neither -p nor -f, a piped standard input is read)")
	var n, steps, topK int
	var seed int
	var temp, topP float64
	fs.intVar(&n, "n", -1, -1, maxCtx, "tokens to generate (-1: until end of generation or the context)")
	fs.intVar(&steps, "steps", 0, 0, maxCtx, "count as llama2.c does instead of -n: prompt tokens after BOS plus generated tokens")
	fs.floatVar(&temp, "temp", 1.0, 0, 100, "sampling temperature (0: greedy)")
	fs.intVar(&topK, "top-k", 0, 0, 1<<31-1, "sample from the k most likely tokens only (0: all)")
	fs.floatVar(&topP, "top-p", 0.9, 1e-9, 1, "nucleus sampling threshold in (0, 1] (1: off)")
	fs.intVar(&seed, "seed", -1, -1, 1<<62, "random seed (-1: a random one, reported by --json)")
	kvType := fs.String("kv-type", "f16", kvTypeHelp)
	pf := &pressFlag{spec: "none"}
	fs.Var(pf, "press", "cache compression, e.g. snapkv:budget=128+think:ratio=0.5 (see thinkv presses); compose presses with '+' in one --press, which may be given once")
	asJSON := fs.Bool("json", false, "print one JSON object instead of the text")
	var cf cacheFlags
	cf.register(fs)
	var ch chunkFlags
	ch.register(fs, "compress as the prompt is read")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := ch.check(fs); err != nil {
		return err
	}
	if ch.on && (cf.save != "" || cf.load != "") {
		return fs.usagef("--chunked-compress does not go with --save-cache or --load-cache")
	}
	if fs.isSet("n") && fs.isSet("steps") {
		return fs.usagef("give -n (tokens to generate) or --steps (llama2.c's count), not both")
	}
	if err := cf.check(fs); err != nil {
		return err
	}
	if err := mf.check(); err != nil {
		return err
	}
	typ, p, err := fs.cacheFlags(*kvType, pf.spec)
	if err != nil {
		return err
	}
	if ch.on && p == nil {
		return fs.usagef("--chunked-compress needs a compressing --press")
	}
	text, err := readPrompt(fs, *prompt, *file)
	if err != nil {
		return err
	}
	e, err := mf.load()
	if err != nil {
		return err
	}
	defer e.Close()
	if cf.save != "" {
		return saveCache(e, text, p, typ, cf.save, stdout, *asJSON)
	}
	prefix, err := cf.loadPrefix(e)
	if err != nil {
		return err
	}
	// A document's tokens were read into the prefix, BOS included: the
	// prompt goes on from it.
	ids := e.Tok.Encode(text, e.Tok.AddBOS() && prefix == nil)
	if len(ids) == 0 {
		return fmt.Errorf("empty prompt, and the model takes no BOS: give some text")
	}
	prev, shown := -1, ids
	if ids[0] == e.Tok.BOS() {
		prev, shown = ids[0], ids[1:]
	}
	before := 0 // tokens in the cache before the prompt
	if prefix != nil {
		before, typ = prefix.Next(), prefix.Config().Type
	}
	maxNew := n
	switch {
	case fs.isSet("steps"):
		maxNew = max(0, steps-len(shown))
	case n < 0:
		maxNew = max(0, e.Model.Context-before-len(ids)+1)
	}
	if seed < 0 {
		seed = int(rand.Int64N(1 << 62))
	}
	req := engine.Request{
		Prompt:   ids,
		MaxNew:   maxNew,
		Sampling: engine.Sampling{Temp: temp, TopK: topK, TopP: topP, Seed: uint64(seed)},
		KVType:   typ,
		Press:    p,
		Prefix:   prefix,

		ChunkedCompress: ch.size(),
	}
	// Everything that can refuse the request is checked before anything is
	// printed (with chunked compression, against the memory it will use).
	if err := e.CheckRequest(req); err != nil {
		return err
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	emit := func(id int) {
		if piece := e.Tok.Piece(prev, id); !*asJSON && printable(piece) {
			out.WriteString(piece)
			out.Flush()
		}
		prev = id
	}
	for _, id := range shown {
		emit(id)
	}
	req.OnToken = emit
	res, err := e.Generate(req)
	if err != nil {
		return err
	}
	if res.Stop == "length" && n < 0 && !fs.isSet("steps") {
		res.Stop = "context" // -n -1 has no limit but the context
	}
	if res.Stop == "context" {
		fmt.Fprintf(errOut, "thinkv: stopped at the context length %d (raise it with --ctx if the model allows)\n", e.Model.Context)
	}
	if !*asJSON {
		out.WriteString("\n")
		return nil
	}
	r := generateJSON(e, res, p, typ, seed)
	r.Chunk = ch.size()
	if prefix != nil {
		r.Press, r.PrefixTokens = "cache file "+cf.load, before
	}
	return json.NewEncoder(out).Encode(r)
}

// pressFlag is --press for a single generation: given twice it is an error
// that says how to compose, rather than the last one silently winning.
type pressFlag struct {
	spec string
	set  bool
}

func (f *pressFlag) String() string {
	if f == nil {
		return ""
	}
	return f.spec
}

func (f *pressFlag) Set(s string) error {
	if f.set {
		return fmt.Errorf("given twice (%q, then %q): compose presses with '+' in one spec, e.g. --press 'snapkv:budget=256+think:ratio=0.5'", f.spec, s)
	}
	f.spec, f.set = s, true
	return nil
}

func (*pressFlag) guarded() {}

type generateReport struct {
	Text         string        `json:"text"`
	PromptTokens int           `json:"prompt_tokens"`
	PrefixTokens int           `json:"prefix_tokens,omitempty"` // tokens of a --load-cache file before the prompt
	Tokens       []int         `json:"tokens"`
	Stop         string        `json:"stop"`
	Press        string        `json:"press"`
	Chunk        int           `json:"chunked_compress,omitempty"` // tokens per chunk of chunked compression
	Seed         int           `json:"seed"`
	Timings      timingsReport `json:"timings"`
	KV           kvReport      `json:"kv"`
	PeakRSS      int64         `json:"peak_rss_bytes"`
}

type timingsReport struct {
	PrefillMS      float64 `json:"prefill_ms"`
	DecodeMS       float64 `json:"decode_ms"`
	PrefillPerSec  float64 `json:"prefill_tokens_per_s"`
	DecodePerSec   float64 `json:"decode_tokens_per_s"`
	DecodeForwards int     `json:"decode_steps"`
}

type kvReport struct {
	Type      string `json:"type"`
	Bytes     int64  `json:"bytes"`
	BytesFull int64  `json:"bytes_full"`
}

func generateJSON(e *engine.Engine, r *engine.Result, p press.Press, typ kvcache.DType, seed int) generateReport {
	name := "none"
	if p != nil {
		name = p.String()
	}
	tokens := r.Tokens
	if tokens == nil {
		tokens = []int{}
	}
	return generateReport{
		Text:         e.Tok.Decode(r.Tokens),
		PromptTokens: r.PromptTokens,
		Tokens:       tokens,
		Stop:         r.Stop,
		Press:        name,
		Seed:         seed,
		Timings: timingsReport{
			PrefillMS: ms(r.Prefill), DecodeMS: ms(r.Decode),
			PrefillPerSec: r.PrefillTokensPerSec(), DecodePerSec: r.DecodeTokensPerSec(),
			DecodeForwards: r.DecodeSteps,
		},
		KV:      kvReport{Type: typ.String(), Bytes: r.KVBytes, BytesFull: r.KVBytesFull},
		PeakRSS: peakRSS(),
	}
}
