package main

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
	"unsafe"

	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/eval"
	"github.com/thinkv/thinkv/gguf"
	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/model"
	"github.com/thinkv/thinkv/press"
	"github.com/thinkv/thinkv/tokenizer"
)

// demoModel is thinkv's own needle model (v1), converted to Q8_0 with
//
//	thinkv convert ../shared/models/needle/needle.bin cmd/thinkv/demo/needle-q8_0.gguf --type q8_0 -t ../shared/models/needle/tok512.bin
//
//go:embed demo/needle-q8_0.gguf
var demoModel []byte

// demoText is Genesis 1 in the King James Version (public domain).
//
//go:embed demo/genesis.txt
var demoText string

// demoSize sizes the demo: a prompt of prefix tokens compressed, then forced
// tokens teacher-forced; needles retrieval prompts of needleLen tokens. The
// presses keep a quarter of the prompt's tokens and prune half of the
// remaining key (and value) channels. Tests shrink it.
var demoSize = struct{ prefix, forced, needles, needleLen int }{1024, 256, 4, 768}

func demoPresses() []string {
	b := demoSize.prefix / 4
	return []string{
		fmt.Sprintf("snapkv:budget=%d", b),
		fmt.Sprintf("snapkv:budget=%d+think:ratio=0.5", b),
		fmt.Sprintf("snapkv:budget=%d+think:ratio=0.5+think-v:ratio=0.5", b),
	}
}

func runDemo(args []string, stdout io.Writer) error {
	fs := newFlags("demo", "")
	if err := fs.parse(args); err != nil {
		return err
	}
	start := time.Now()
	e, err := loadEmbedded(demoModel)
	if err != nil {
		return err
	}
	defer e.Close()
	m := e.Model
	fmt.Fprintf(stdout, "thinkv demo: a thin KV cache, side by side with the full one.\n\n"+
		"A press compresses the KV cache (the keys and values a model keeps for every token it has read) after the\n"+
		"prompt: snapkv drops whole tokens the last prompt queries hardly attend to; think (ThinK) drops half of the\n"+
		"key channels, the ones those queries need least; think-v does the same for value channels.\n\n"+
		"Model: thinkv's needle v1, embedded (%.1fM parameters, Llama architecture, Q8_0): %d layers, %d query heads,\n"+
		"%d KV heads of %d channels, context %d. Cache: f16, %d bytes per token uncompressed.\n\n",
		float64(m.ParamCount())/1e6, m.Config.Layers, m.Heads, m.KVHeads, m.HeadDim, m.Context, m.KVBytesPerToken(2))

	var presses []press.Press
	for _, s := range demoPresses() {
		p, err := press.Parse(s)
		if err != nil {
			return err
		}
		presses = append(presses, p)
	}
	ids := e.Tok.Encode(demoText, true)[:demoSize.prefix+demoSize.forced]
	rep, err := eval.Fidelity(e, eval.FidelityConfig{Tokens: ids, Prefix: demoSize.prefix, KVType: kvcache.F16, Presses: presses})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "1. Fidelity to the full cache: Genesis 1 (KJV); %d prompt tokens are prefilled and compressed,\n"+
		"   then %d more are teacher-forced and each next-token distribution is compared with the full cache's.\n"+
		"   Teacher forcing: the model is fed the text's real next token, not its own guess: every press sees the same tokens.\n"+
		"   KL: how far (in nats) a press's next-token distribution is from the full cache's; 0 is identical.\n"+
		"   Top-1 agree: how often a press's most likely next token is the full cache's.\n\n", demoSize.prefix, demoSize.forced)
	tw := tabwriter.NewWriter(stdout, 2, 0, 2, ' ', tabwriter.AlignRight)
	names := append([]string{"full cache"}, demoPresses()...)
	fmt.Fprintf(tw, "%s\tKV bytes after prefill\tvs full\tmean KL (nats)\ttop-1 agree\tperplexity\tdecode tok/s\t\n", eval.PadRight("press", names))
	for i, r := range rep.Results {
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.4f\t%.1f%%\t%.2f\t%.0f\t\n", eval.PadRight(names[i], names), r.KVBytesPrefill,
			float64(r.KVBytesPrefill)/float64(r.KVBytesPrefillFull), r.KL, 100*r.Top1, r.Perplexity, r.DecodePerSec)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\n   KV bytes after prefill: held once the prompt is compressed, before the forced tokens.\n"+
		"   Perplexity may fall under compression on this small model: that makes it no better a model (dropping\n"+
		"   distant tokens can happen to suit this text); KL against the full cache is the measure of the damage.")
	if err := demoRetrieval(e, stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nDone in %.1f s. Next: 'thinkv presses', 'thinkv eval --help', 'thinkv analyze --help'.\n", time.Since(start).Seconds())
	return nil
}

// demoRetrieval runs the built-in needle task under every press.
func demoRetrieval(e *engine.Engine, stdout io.Writer) error {
	ps := []eval.PressSpec{{Label: "full cache"}}
	for _, s := range demoPresses() {
		p, err := press.Parse(s)
		if err != nil {
			return err
		}
		ps = append(ps, eval.PressSpec{Label: s, Press: p})
	}
	meta := eval.Meta{Tasks: []string{needleTask{}.Name()}}
	for _, p := range ps {
		meta.Presses = append(meta.Presses, eval.PressInfo{Label: p.Label, Spec: p.Spec()})
	}
	var recs []eval.Record
	cfg := eval.RunConfig{Tasks: []eval.Task{needleTask{}}, Options: eval.Options{Lengths: []int{demoSize.needleLen}, Samples: demoSize.needles},
		Presses: ps, Protocol: eval.QueryAware, KVType: kvcache.F16,
		OnRecord: func(r eval.Record) error { recs = append(recs, r); return nil }}
	if err := eval.Run(context.Background(), e, cfg); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n2. Retrieval: %d generated needle-in-a-haystack prompts of about %d tokens (a seven-digit number\n"+
		"   hidden in filler, then asked for), compressed with the question in view, answered greedily.\n"+
		"   KV bytes at the end: held after the answer, averaged over the prompts.\n\n", demoSize.needles, demoSize.needleLen)
	rep := eval.Summarize(meta, recs)
	tw := tabwriter.NewWriter(stdout, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\taccuracy\tKV bytes at the end (mean)\tvs full\tdecode tok/s\t\n", eval.PadRight("press", rep.Presses))
	for _, p := range rep.Presses {
		s, _ := rep.Find(p, needleTask{}.Name())
		fmt.Fprintf(tw, "%s\t%.0f%%\t%.0f\t%.3f\t%.0f\t\n", eval.PadRight(p, rep.Presses), 100*s.Score, s.KVBytes, s.KVRatio, s.DecodePerSec)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n   This model version has not learned retrieval (its README: about 0%% with the full cache),\n"+
		"   so accuracy does not separate the presses here; fidelity above does. For example, the first answer\n"+
		"   was %q for %q.\n", recs[0].Prediction, recs[0].Answers[0])
	return nil
}

// loadEmbedded builds an engine from a GGUF file held in memory. The bytes
// are copied to 8-byte-aligned memory the weights can alias.
func loadEmbedded(data []byte) (*engine.Engine, error) {
	buf := make([]uint64, (len(data)+7)/8)
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(buf))), len(data))
	copy(b, data)
	f, err := gguf.Parse(b)
	if err != nil {
		return nil, err
	}
	m, err := model.FromGGUF(f, 0)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		return nil, err
	}
	return &engine.Engine{Model: m, Tok: tok, Pool: kernels.NewPool(0)}, nil
}
