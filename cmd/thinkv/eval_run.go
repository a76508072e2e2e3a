package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/thinkv/thinkv/eval"
	"github.com/thinkv/thinkv/kvcache"
)

const evalSynopsis = "-m MODEL [-t TOK] --task T[,T…] --press A --press B … [--lengths 1024,2048] [--samples N] [--seed S]\n" +
	"       [--query-aware|--query-agnostic] [--out DIR] [--shard I/N] [--resume] [--truncate]\n" +
	"   or: thinkv eval merge [--out DIR] DIR…\n" +
	"   or: thinkv eval fidelity --help"

// runEvalTasks runs benchmark tasks under every press and the full cache.
func runEvalTasks(args []string, stdout io.Writer) error {
	fs := newFlags("eval", evalSynopsis)
	var mf modelFlags
	mf.register(fs)
	kvType := fs.String("kv-type", "f16", kvTypeHelp)
	var tasks, specs multiFlag
	fs.Var(&tasks, "task", "tasks, comma-separated or repeated: "+strings.Join(eval.TaskNames(), ", "))
	fs.Var(&specs, "press", "a press to compare with the full cache (repeatable); see 'thinkv presses'")
	lengths := fs.String("lengths", "", "comma-separated prompt lengths in tokens (default: each task's own)")
	var samples, seed int
	fs.intVar(&samples, "samples", 0, 0, 1<<30, "samples per length (and depth, for niah); 0: each task's default")
	fs.intVar(&seed, "seed", 0, -1, 1<<62, "seed for the generated samples (-1: a random one, recorded in run.json)")
	aware := fs.Bool("query-aware", false, "compress with the question at the end of the prompt (the default)")
	agnostic := fs.Bool("query-agnostic", false, "compress the context first, then ask the question")
	out := fs.String("out", "eval-out", "output directory: samples.jsonl, results.json, results.csv, PNG plots")
	shard := fs.String("shard", "", "run only shard I of N (0 ≤ I < N), e.g. 0/4; combine with 'thinkv eval merge'")
	resume := fs.Bool("resume", false, "continue a run in --out, skipping finished samples")
	truncate := fs.Bool("truncate", false, "cut the middle of a context that does not fit the model (default: such a prompt is an error)")
	data := fs.String("data", "", "data directory for the tasks (LongBench jsonl, RULER jsonl; default: the shared copy)")
	haystack := fs.String("haystack", "", "directory of haystack essays for niah and RULER (default: the shared Paul Graham essays)")
	wordlists := fs.String("wordlists", "", "directory of RULER's word lists (default: the shared copy)")
	needle := fs.String("needle", "", "niah: the needle sentence (default: the standard San Francisco needle)")
	question := fs.String("question", "", "niah: the question (default: the standard one)")
	if err := fs.parse(args); err != nil {
		return err
	}
	switch {
	case mf.check() != nil:
		return mf.check()
	case len(tasks) == 0:
		return fs.usagef("no task: give --task T (one of %s)", strings.Join(eval.TaskNames(), ", "))
	case *aware && *agnostic:
		return fs.usagef("give --query-aware or --query-agnostic, not both")
	case seed < 0 && *resume:
		return fs.usagef("--seed -1 picks a new seed: to resume, give the seed in run.json")
	}
	if seed < 0 {
		seed = int(rand.Int64N(1 << 62))
	}
	protocol := eval.QueryAware
	if *agnostic {
		protocol = eval.QueryAgnostic
	}
	typ, err := kvcache.ParseDType(*kvType)
	if err != nil {
		return fs.usagef("--kv-type: %v", err)
	}
	ps, err := evalPresses(specs)
	if err != nil {
		return fs.usagef("--press: %v", err)
	}
	opts := eval.Options{Samples: samples, Seed: uint64(seed), DataDir: *data}
	if opts.Lengths, err = parseInts(*lengths); err != nil {
		return fs.usagef("--lengths: %v", err)
	}
	var ts []eval.Task
	for _, spec := range tasks {
		for _, name := range strings.Split(spec, ",") {
			t, err := eval.TaskByName(strings.TrimSpace(name))
			if err != nil {
				return fs.usagef("--task: %v", err)
			}
			switch t := t.(type) {
			case *eval.NIAH:
				t.Dir = *haystack
				if *needle != "" {
					t.Needle, t.Keys = *needle, nil
				}
				if *question != "" {
					t.Question = *question
				}
			case *eval.Ruler:
				t.WordlistDir, t.EssayDir = *wordlists, *haystack
			}
			ts = append(ts, t)
		}
	}
	cfg := eval.RunConfig{Tasks: ts, Options: opts, Presses: ps, Protocol: protocol, KVType: typ, Truncate: *truncate}
	if cfg.Shard, cfg.Shards, err = parseShard(*shard); err != nil {
		return fs.usagef("--shard: %v", err)
	}
	// Check everything, then create the output directory.
	e, err := mf.load()
	if err != nil {
		return err
	}
	defer e.Close()
	modelID, err := eval.IdentifyModel(mf.path)
	if err != nil {
		return err
	}
	tokID, err := eval.IdentifyTokenizer(mf.tok)
	if err != nil {
		return err
	}
	plan, err := eval.Prepare(e, cfg)
	if err != nil {
		return err
	}
	meta := eval.Meta{Model: modelID.Name, ModelID: &modelID, Tokenizer: &tokID, Context: e.Model.Context, TaskSamples: plan.TaskSamples,
		Protocol: protocol, Lengths: opts.Lengths, Samples: opts.Samples, Seed: opts.Seed, KVType: typ.String(), Truncate: *truncate,
		Shard: cfg.Shard, Shards: cfg.Shards}
	for _, t := range ts {
		meta.Tasks = append(meta.Tasks, t.Name())
	}
	for _, p := range ps {
		meta.Presses = append(meta.Presses, eval.PressInfo{Label: p.Label, Spec: p.Spec()})
	}
	st, err := eval.OpenStore(*out, meta, *resume)
	if err != nil {
		return err
	}
	defer st.Close()
	runErr := runWithProgress(plan, st)
	if len(st.Records()) > 0 {
		if err := writeReport(stdout, st.Dir, st.Meta, st.Records()); err != nil {
			return fmt.Errorf("%w\n%d results are safe in %s; 'thinkv eval merge --out DIR %s' writes the report elsewhere",
				err, len(st.Records()), filepath.Join(st.Dir, eval.SamplesFile), st.Dir)
		}
	}
	if errors.Is(runErr, context.Canceled) {
		return fmt.Errorf("interrupted: %d results are saved in %s; rerun the same command with --resume to continue", len(st.Records()), st.Dir)
	}
	return runErr
}

// runWithProgress runs the plan, storing each record as it completes. A progress
// bar is drawn on stderr when it is a terminal. The first interrupt lets the
// sample in progress finish; a second one kills the process.
func runWithProgress(plan *eval.Plan, st *eval.Store) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		select {
		case <-sig:
			signal.Stop(sig) // back to the default: the next interrupt kills
			fmt.Fprintln(errOut, "\nstopping after the current sample (interrupt again to stop now)")
			cancel()
		case <-ctx.Done():
		}
	}()
	var bar *eval.Progress
	cfg := &plan.Config
	if f, ok := errOut.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		cfg.OnStart = func(total int) { bar = eval.NewProgress(f, total) }
		defer func() {
			if bar != nil {
				bar.Finish()
			}
		}()
	}
	cfg.Done = st.Done
	cfg.OnRecord = func(r eval.Record) error {
		if err := st.Add(r); err != nil {
			return err
		}
		if bar != nil {
			bar.Step(r.Task + " " + r.ID)
		}
		return nil
	}
	return plan.Run(ctx)
}

// writeReport prints the table and writes results.json, results.csv and the
// plots into dir.
func writeReport(stdout io.Writer, dir string, meta eval.Meta, recs []eval.Record) error {
	rep := eval.Summarize(meta, recs)
	fmt.Fprintf(stdout, "%s, %s, %d results (scores in %%, KV bytes mean per sample)\n\n", meta.Model, meta.Protocol, len(recs))
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if err := rep.WriteFiles(dir); err != nil {
		return err
	}
	files, err := rep.WritePlots(dir, recs)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nwrote %s: results.json, results.csv, %s and %d plots\n", dir, eval.SamplesFile, len(files))
	return nil
}

// evalPresses parses --press values, with the full cache first.
func evalPresses(specs []string) ([]eval.PressSpec, error) {
	presses, err := parsePresses(specs)
	if err != nil {
		return nil, err
	}
	out := []eval.PressSpec{{Label: "none"}}
	for i, p := range presses {
		ps := eval.PressSpec{Label: specs[i], Press: p}
		if slices.ContainsFunc(out, func(q eval.PressSpec) bool { return q.Spec() == ps.Spec() }) {
			continue // "none" is always run, and each press once
		}
		out = append(out, ps)
	}
	return out, nil
}

// parseInts parses a comma-separated list of positive integers.
func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseShard parses "I/N" with 0 ≤ I < N; "" is the whole run.
func parseShard(s string) (int, int, error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("--shard %q: want I/N with 0 ≤ I < N, e.g. 0/4", s)
	}
	return i, n, nil
}
