package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"

	"github.com/thinkv/thinkv/eval"
)

func runAnalyze(args []string, stdout io.Writer) error {
	fs := newFlags("analyze", "-m MODEL [-t TOKENIZER] -f TEXT [--out DIR] [--tokens N] [--window W]")
	var mf modelFlags
	mf.register(fs)
	file := fs.String("f", "", "text file to analyze (-: standard input)")
	out := fs.String("out", "analyze-out", "directory for analysis.json and the PNG figures")
	var tokensN, windowN int
	tokens, window := &tokensN, &windowN
	fs.intVar(tokens, "tokens", 0, 0, maxCtx, "tokens of the text to use, BOS included (0: as many as the context holds)")
	fs.intVar(window, "window", 32, 1, 4096, "observation window: the last queries the attention scores are taken over")
	if err := fs.parse(args); err != nil {
		return err
	}
	switch {
	case mf.check() != nil:
		return mf.check()
	case *file == "":
		return fs.usagef("no text: give -f FILE")
	}
	text, err := readPrompt(fs, "", *file)
	if err != nil {
		return err
	}
	e, err := mf.load()
	if err != nil {
		return err
	}
	defer e.Close()
	ids := e.Tok.Encode(text, true)
	n := min(len(ids), e.Model.Context)
	if *tokens > 0 {
		n = min(n, *tokens)
	}
	if n <= *window {
		return fmt.Errorf("the text has %d tokens: need more than the window of %d", n, *window)
	}
	a, err := eval.Analyze(e, ids[:n], *window, nil)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	files, err := a.WriteFiles(*out)
	if err != nil {
		return err
	}
	return printAnalysis(stdout, a, *out, files)
}

// printAnalysis summarizes each layer: how unbalanced its key channels are,
// how low the rank of its window scores is, and what ThinK keeps at λ = 0.5.
func printAnalysis(w io.Writer, a *eval.Analysis, dir string, files []string) error {
	fmt.Fprintf(w, "%d tokens, window %d, %d layers × %d KV heads × %d channels\n\n", a.Tokens, a.Window, a.Layers, a.KVHeads, a.HeadDim)
	half := slices.Index(a.Ratios, 0.5)
	tw := tabwriter.NewWriter(w, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "layer\tkey channel max/median RMS\trank for 90% of QKᵀ energy\tenergy kept at λ=0.5\tQKᵀ error at λ=0.5\t")
	for l := range a.Layers {
		var ratio, rank, energy, serr float64
		for g := range a.KVHeads {
			mag := slices.Clone(a.KeyMagnitude[l][g])
			slices.Sort(mag)
			if med := mag[len(mag)/2]; med > 0 {
				ratio += mag[len(mag)-1] / med / float64(a.KVHeads)
			}
			if half >= 0 {
				energy += a.Energy[l][g][half] / float64(a.KVHeads)
				serr += a.ScoreError[l][g][half] / float64(a.KVHeads)
			}
		}
		for _, r := range a.Rank90[l] {
			rank += float64(r) / float64(a.Heads)
		}
		fmt.Fprintf(tw, "%d\t%.1f×\t%.1f of %d\t%.1f%%\t%.3f\t\n", l, ratio, rank, min(a.Window, a.Tokens), 100*energy, serr)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nwrote %s/analysis.json and %d figures:\n", dir, len(files))
	for _, f := range files {
		fmt.Fprintln(w, " ", f)
	}
	return nil
}
