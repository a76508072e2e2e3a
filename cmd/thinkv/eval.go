package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/thinkv/thinkv/eval"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/press"
)

// runEval dispatches "eval fidelity", "eval merge" and task runs.
func runEval(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "fidelity":
			return runFidelity(args[1:], stdout)
		case "merge":
			return runMerge(args[1:], stdout)
		}
	}
	return runEvalTasks(args, stdout)
}

// runMerge combines the output directories of shards (or of separate runs
// of the same settings) into one report.
func runMerge(args []string, stdout io.Writer) error {
	fs := newFlags("eval merge", "[--out DIR] DIR…")
	out := fs.String("out", "eval-merged", "directory for the merged samples.jsonl, results and plots")
	dirs, err := fs.parseArgs(args)
	if err != nil {
		return err
	}
	if len(dirs) == 0 {
		return fs.usagef("no directories to merge: give the --out directories of the shards")
	}
	meta, recs, missing, err := eval.Merge(dirs)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		fmt.Fprintf(errOut, "thinkv eval merge: warning: shards %v are missing; the report covers the others\n", missing)
	}
	if err := eval.WriteMerged(*out, meta, recs, dirs); err != nil {
		return err
	}
	return writeReport(stdout, *out, meta, recs)
}

// runFidelity measures fidelity to the full cache under teacher forcing.
func runFidelity(args []string, stdout io.Writer) error {
	fs := newFlags("eval fidelity", "-m MODEL [-t TOKENIZER] -f TEXT [--prefix N] [--forced M] [--reference SPEC] [--chunked-compress [--chunk N]] [--repack-sim] --press A --press B …")
	var mf modelFlags
	mf.register(fs)
	file := fs.String("f", "", "text file to measure on (-: standard input)")
	var prefixN, forcedN int
	prefix, forced := &prefixN, &forcedN
	fs.intVar(prefix, "prefix", 0, 0, maxCtx, "tokens to prefill and compress (0: all but the forced tokens)")
	fs.intVar(forced, "forced", 128, 1, maxCtx, "tokens to teacher-force after the prefix")
	kvType := fs.String("kv-type", "f16", kvTypeHelp+"; a comma list (f16,q8_0,q4_0) runs every press with each, compared with the full cache of the first")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	var specs multiFlag
	fs.Var(&specs, "press", "a press to compare with the full cache (repeatable); see 'thinkv presses'")
	refSpec := fs.String("reference", "none", "what every press is compared with: the full cache, or a press compressing the whole prefix")
	var ch chunkFlags
	ch.register(fs, "also run each press with chunked compression of the prefix (a row after the press's)")
	repack := fs.Bool("repack-sim", false, "after each press that packs decoded keys (think with pack>0), simulate its packing on a zero-filled full-width cache, with the prefill's channels and with channels re-scored at every packing")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := ch.check(fs); err != nil {
		return err
	}
	switch {
	case mf.check() != nil:
		return mf.check()
	case *file == "":
		return fs.usagef("no text: give -f FILE")
	}
	var types []kvcache.DType
	for _, name := range strings.Split(*kvType, ",") {
		typ, err := kvcache.ParseDType(name)
		if err != nil {
			return fs.usagef("--kv-type: %v", err)
		}
		types = append(types, typ)
	}
	presses, err := parsePresses(specs)
	if err != nil {
		return fs.usagef("--press: %v", err)
	}
	ref, err := press.Parse(*refSpec)
	if err != nil {
		return fs.usagef("--reference: %v", err)
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
	ids := e.Tok.Encode(text, e.Tok.AddBOS())
	n := *prefix
	if n == 0 {
		n = min(len(ids), e.Model.Context+1) - *forced
	}
	if n+*forced > len(ids) {
		return fmt.Errorf("the text has %d tokens, fewer than prefix %d + forced %d", len(ids), n, *forced)
	}
	rep, err := eval.Fidelity(e, eval.FidelityConfig{Tokens: ids[:n+*forced], Prefix: n, KVType: types[0], Types: types[1:], Presses: presses,
		Reference: ref, Chunked: ch.size(), Repack: *repack})
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(rep)
	}
	to := "the full cache"
	if ref != nil {
		to = ref.String() + " (the whole prefix compressed at once)"
	}
	fmt.Fprintf(stdout, "fidelity to %s: %d-token prefix, %d teacher-forced tokens, %s cache\n\n", to, rep.PrefixTokens, rep.ForcedTokens, rep.KVType)
	tw := tabwriter.NewWriter(stdout, 2, 0, 2, ' ', 0)
	typeCol := func(r eval.FidelityResult) string { return "" }
	if len(types) > 1 { // a column for each row's type; "vs full" is against the first type's full cache
		fmt.Fprint(tw, "kv type\t")
		typeCol = func(r eval.FidelityResult) string { return r.KVType + "\t" }
	}
	fmt.Fprintln(tw, "press\tKV bytes (prefill)\tvs full\tKV bytes (end)\tvs full\tmean KL (nats)\tmax KL\ttop-1 agree\tperplexity\tdecode tok/s")
	for _, r := range rep.Results {
		name := r.Press
		if r.Chunk > 0 {
			name += fmt.Sprintf(" [chunks of %d]", r.Chunk)
		}
		if r.Simulated != "" {
			name += " [simulated, " + r.Simulated + "]"
		}
		fmt.Fprintf(tw, "%s%s\t%d\t%.3f\t%d\t%.3f\t%.5f\t%.4f\t%.3f\t%.3f\t%.0f\n", typeCol(r), name,
			r.KVBytesPrefill, float64(r.KVBytesPrefill)/float64(r.KVBytesPrefillFull),
			r.KVBytes, float64(r.KVBytes)/float64(r.KVBytesFull), r.KL, r.KLMax, r.Top1, r.Perplexity, r.DecodePerSec)
	}
	return tw.Flush()
}

func runPresses(args []string, stdout io.Writer) error {
	fs := newFlags("presses", "")
	if err := fs.parse(args); err != nil {
		return err
	}
	fmt.Fprint(stdout, "Presses compose left to right with '+', e.g. snapkv:budget=128+think:ratio=0.5\n\n"+press.Help())
	return nil
}
