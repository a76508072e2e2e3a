package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/press"
)

func runGenerate(args []string, stdout io.Writer) error {
	fs := newFlags("generate", "-m MODEL [-t TOKENIZER] (-p TEXT | -f FILE) [flags]")
	var mf modelFlags
	mf.register(fs)
	prompt := fs.String("p", "", "prompt text")
	file := fs.String("f", "", "read the prompt from this file")
	steps := fs.Int("n", 256, "steps, as llama2.c counts them: prompt tokens after BOS plus generated tokens")
	temp := fs.Float64("temp", 1.0, "sampling temperature (0: greedy)")
	topK := fs.Int("top-k", 0, "sample from the k most likely tokens only (0: all)")
	topP := fs.Float64("top-p", 0.9, "nucleus sampling threshold (1: off)")
	seed := fs.Uint64("seed", 0, "random seed (0: from the clock)")
	kvType := fs.String("kv-type", "f16", "KV-cache storage type: f16 or f32")
	pressSpec := fs.String("press", "none", "cache compression, e.g. snapkv:budget=128+think:ratio=0.5 (see thinkv presses)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of the text")
	if err := parse(fs, args); err != nil {
		return err
	}
	text, err := promptText(*prompt, isSet(fs, "p"), *file)
	if err != nil {
		return err
	}
	switch {
	case mf.check() != nil:
		return mf.check()
	case *temp < 0:
		return fmt.Errorf("--temp must be ≥ 0, got %v", *temp)
	case *topK < 0:
		return fmt.Errorf("--top-k must be ≥ 0, got %d", *topK)
	case *topP <= 0 || *topP > 1:
		return fmt.Errorf("--top-p must be in (0, 1], got %v", *topP)
	case *steps < 0:
		return fmt.Errorf("-n must be ≥ 0, got %d", *steps)
	}
	typ, err := kvcache.ParseDType(*kvType)
	if err != nil {
		return err
	}
	p, err := press.Parse(*pressSpec)
	if err != nil {
		return err
	}
	e, err := mf.load()
	if err != nil {
		return err
	}
	defer e.Close()
	ids := e.Tok.Encode(text, e.Tok.AddBOS())
	if len(ids) == 0 {
		return fmt.Errorf("empty prompt, and the model takes no BOS: give some text")
	}
	if *seed == 0 {
		*seed = clockSeed()
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	prev, shown := -1, ids
	if ids[0] == e.Tok.BOS() {
		prev, shown = ids[0], ids[1:]
	}
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
	res, err := e.Generate(engine.Request{
		Prompt:   ids,
		MaxNew:   max(0, *steps-len(shown)),
		Sampling: engine.Sampling{Temp: *temp, TopK: *topK, TopP: *topP, Seed: *seed},
		KVType:   typ,
		Press:    p,
		OnToken:  emit,
	})
	if err != nil {
		return err
	}
	if res.Stop == "context" {
		fmt.Fprintf(errOut, "thinkv: stopped at the context length %d (raise it with --ctx if the model allows)\n", e.Model.Context)
	}
	if !*asJSON {
		out.WriteString("\n")
		return nil
	}
	return json.NewEncoder(out).Encode(generateJSON(e, res, p, typ))
}

type generateReport struct {
	Text         string        `json:"text"`
	PromptTokens int           `json:"prompt_tokens"`
	Tokens       []int         `json:"tokens"`
	Stop         string        `json:"stop"`
	Press        string        `json:"press"`
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

func generateJSON(e *engine.Engine, r *engine.Result, p press.Press, typ kvcache.DType) generateReport {
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
		Timings: timingsReport{
			PrefillMS: ms(r.Prefill), DecodeMS: ms(r.Decode),
			PrefillPerSec: r.PrefillTokensPerSec(), DecodePerSec: r.DecodeTokensPerSec(),
			DecodeForwards: r.DecodeSteps,
		},
		KV:      kvReport{Type: typ.String(), Bytes: r.KVBytes, BytesFull: r.KVBytesFull},
		PeakRSS: peakRSS(),
	}
}
