package eval

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/thinkv/thinkv/tokenizer"
)

// TaskNames lists the task names TaskByName accepts; "ruler-jsonl:PATH" and
// "longbench:DATASET" are patterns.
func TaskNames() []string {
	names := []string{"niah"}
	for _, t := range RulerTasks() {
		names = append(names, "ruler:"+t)
	}
	names = append(names, "ruler-jsonl:PATH")
	for _, d := range LongBenchDatasets() {
		names = append(names, "longbench:"+d)
	}
	return names
}

// TaskByName returns the benchmark task called name:
//   - "niah": Needle-in-a-Haystack over the Paul Graham essays;
//   - "ruler:TASK": a generated RULER task (niah_single_1, vt, cwe, ...);
//   - "ruler-jsonl:PATH": samples from a RULER jsonl file;
//   - "longbench:DATASET": a LongBench dataset (DATASET_e for LongBench-E).
func TaskByName(name string) (Task, error) {
	kind, arg, _ := strings.Cut(name, ":")
	switch kind {
	case "niah":
		if arg == "" {
			return NewNIAH(), nil
		}
	case "ruler":
		if _, ok := rulerConfigs[arg]; ok {
			return &Ruler{Task: arg}, nil
		}
	case "ruler-jsonl":
		if arg != "" {
			return &RulerJSONL{Path: arg}, nil
		}
	case "longbench":
		if _, ok := longBenchMetrics[strings.TrimSuffix(arg, "_e")]; ok {
			return &LongBench{Dataset: arg}, nil
		}
	}
	return nil, fmt.Errorf("unknown task %q; valid tasks: %s", name, strings.Join(TaskNames(), ", "))
}

// findDir returns the first directory among the candidates for given
// (given/sub, given/BASE where BASE is sub's last element, given itself,
// given/../sub) that holds a file matching the
// glob pattern marker; given itself only with self. With fallback, or when
// given is empty, it also tries the shared data: $THINKV_SHARED/data/sub,
// ../shared/data/sub and shared/data/sub. When none does, the error says
// how to give the directory: the flags in flags, or THINKV_SHARED.
func findDir(given, sub, marker string, self, fallback bool, flags string) (string, error) {
	var cands []string
	if given != "" {
		cands = append(cands, filepath.Join(given, sub), filepath.Join(given, filepath.Base(sub)))
		if self {
			cands = append(cands, given)
		}
		cands = append(cands, filepath.Join(given, "..", sub))
	}
	if given == "" || fallback {
		if env := os.Getenv("THINKV_SHARED"); env != "" {
			cands = append(cands, filepath.Join(env, "data", sub))
		}
		cands = append(cands, filepath.Join("..", "shared", "data", sub), filepath.Join("shared", "data", sub))
	}
	for _, c := range cands {
		if m, _ := filepath.Glob(filepath.Join(c, marker)); len(m) > 0 {
			return filepath.Clean(c), nil
		}
	}
	msg := fmt.Sprintf("no %s found in %s: give its directory with %s", marker, strings.Join(cands, ", "), flags)
	if given == "" || fallback {
		msg += fmt.Sprintf(", or set THINKV_SHARED to the shared data directory (which holds data/%s)", sub)
	}
	return "", errors.New(msg)
}

// readLines returns the non-empty, trimmed lines of a file.
func readLines(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out, nil
}

// sortedUnique returns the distinct strings of in, sorted.
func sortedUnique(in []string) []string {
	set := map[string]bool{}
	var out []string
	for _, s := range in {
		if !set[s] {
			set[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// newRand returns a generator that depends only on seed and the labels, so
// a sample is the same whichever others are made with it.
func newRand(seed uint64, labels ...any) *rand.Rand {
	h := fnv.New64a()
	fmt.Fprintf(h, "%#v", labels)
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// sampleInts returns k distinct integers from [0, n) in random order, as
// Python's random.sample(range(n), k).
func sampleInts(r *rand.Rand, n, k int) []int {
	if k > n {
		k = n
	}
	if 4*k >= n {
		return r.Perm(n)[:k]
	}
	seen := make(map[int]bool, k)
	out := make([]int, 0, k)
	for len(out) < k {
		if v := r.IntN(n); !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// promptLen is a prompt's length as the runner feeds it: with BOS.
func promptLen(tok *tokenizer.Tokenizer, s string) int { return len(tok.Encode(s, true)) }

// sampleCount is opts.Samples, or def when unset.
func sampleCount(opts Options, def int) int {
	if opts.Samples > 0 {
		return opts.Samples
	}
	return def
}

// optLengths is opts.Lengths, or def when unset.
func optLengths(opts Options, def ...int) []int {
	if len(opts.Lengths) > 0 {
		return opts.Lengths
	}
	return def
}
