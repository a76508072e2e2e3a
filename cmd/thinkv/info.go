package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/thinkv/thinkv/model"
)

func runInfo(args []string, stdout io.Writer) error {
	fs := newFlags("info", "-m MODEL")
	modelPath := fs.String("m", "", "model: GGUF file, Hugging Face directory or llama2.c checkpoint")
	var ctx int
	fs.intVar(&ctx, "ctx", 0, 1, maxCtx, "context length override")
	fs.alias("ctx", "c")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *modelPath == "" {
		return fs.usagef("no model: give -m MODEL")
	}
	m, meta, err := model.Load(*modelPath, ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	format := "llama2.c checkpoint"
	if meta != nil {
		format = fmt.Sprintf("GGUF v%d", meta.Version)
	} else if st, err := os.Stat(*modelPath); err == nil && st.IsDir() {
		format = "Hugging Face directory"
	}
	c := m.Config
	w := func(k string, v any) { fmt.Fprintf(stdout, "%-22s %v\n", k+":", v) }
	w("file", *modelPath)
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
	w("kv bytes/token (f16)", c.KVBytesPerToken(2))
	w("kv bytes/token (f32)", c.KVBytesPerToken(4))
	counts := map[string]int{}
	for _, l := range m.Layers {
		for _, x := range []interface{ String() string }{l.Wq.Type, l.Wk.Type, l.Wv.Type, l.Wo.Type, l.Gate.Type, l.Up.Type, l.Down.Type} {
			counts[x.String()]++
		}
	}
	counts["embed "+m.Embed.Type.String()]++
	var types []string
	for t, n := range counts {
		types = append(types, fmt.Sprintf("%s×%d", t, n))
	}
	sort.Strings(types)
	w("weight types", strings.Join(types, ", "))
	return nil
}
