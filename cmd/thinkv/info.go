package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/model"
	"github.com/thinkv/thinkv/tokenizer"
)

func runInfo(args []string, stdout io.Writer) error {
	fs := newFlags("info", "-m MODEL [-t TOKENIZER] [-c N]")
	var mf modelFlags
	mf.register(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := mf.check(); err != nil {
		return err
	}
	m, meta, err := model.Load(mf.path, mf.ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	// The tokenizer is described when there is one: -t, or the model's own.
	var tok *tokenizer.Tokenizer
	if mf.tok != "" || meta != nil || isDir(mf.path) {
		if tok, err = engine.ModelTokenizer(mf.path, mf.tok, meta, m.Vocab); err != nil {
			return err
		}
	}
	format := "llama2.c checkpoint"
	if meta != nil {
		format = fmt.Sprintf("GGUF v%d", meta.Version)
	} else if isDir(mf.path) {
		format = "Hugging Face directory"
	}
	c := m.Config
	w := func(k string, v any) { fmt.Fprintf(stdout, "%-22s %v\n", k+":", v) }
	w("file", mf.path)
	w("format", format)
	w("architecture", c.Arch)
	w("parameters", m.ParamCount())
	w("embedding", c.Dim)
	w("feed forward", c.Hidden)
	w("layers", c.Layers)
	w("heads", c.Heads)
	w("kv heads", c.KVHeads)
	w("head dim", c.HeadDim)
	w("vocabulary", c.Vocab)
	w("context", c.Context)
	if c.SlidingWindow > 0 {
		w("sliding window", fmt.Sprintf("%d (context capped to it)", c.SlidingWindow))
	}
	w("rope base", c.RopeTheta)
	w("rope dims", c.RopeDim)
	w("rope layout", map[bool]string{false: "adjacent pairs", true: "neox (halves)"}[c.RopeNeoX])
	if c.RopeScale > 0 {
		w("rope linear scale", c.RopeScale)
	}
	if m.RopeFactors != nil {
		w("rope factors", len(m.RopeFactors))
	}
	w("rms epsilon", c.NormEps)
	w("tied output", m.Output == m.Embed)
	for _, t := range []kvcache.DType{kvcache.F16, kvcache.F32, kvcache.Q8_0, kvcache.Q4_0} {
		w("kv bytes/token ("+t.String()+")", kvcache.Config{Layers: c.Layers, KVHeads: c.KVHeads, HeadDim: c.HeadDim, Type: t}.TokenBytes())
	}
	counts := map[string]int{}
	for _, l := range m.Layers {
		for _, x := range []interface{ String() string }{l.Wq.Type, l.Wk.Type, l.Wv.Type, l.Wo.Type, l.Gate.Type, l.Up.Type, l.Down.Type} {
			counts[x.String()]++
		}
	}
	counts["embed "+m.Embed.Type.String()]++
	if m.Output != m.Embed {
		counts["output "+m.Output.Type.String()]++
	}
	var types []string
	for t, n := range counts {
		types = append(types, fmt.Sprintf("%s×%d", t, n))
	}
	sort.Strings(types)
	w("weight types", strings.Join(types, ", "))
	if tok == nil {
		w("tokenizer", "none (a llama2.c checkpoint: give -t tokenizer.bin)")
		return nil
	}
	src := "the model's own"
	if mf.tok != "" {
		src = mf.tok
	}
	w("tokenizer", fmt.Sprintf("%s, %d tokens", src, tok.VocabSize()))
	w("bos / eos", fmt.Sprintf("%d / %d (BOS added: %v)", tok.BOS(), tok.EOS(), tok.AddBOS()))
	return nil
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}
