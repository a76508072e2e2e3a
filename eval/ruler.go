package eval

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/thinkv/thinkv/tokenizer"
)

// rulerConfig is one RULER task as scripts/synthetic.yaml defines it.
type rulerConfig struct {
	family string // niah, vt, cwe, fwe (RULER's niah, variable_tracking, ...)
	// niah
	haystack, keyType, valueType string // noise|essay|needle; words|numbers|uuids
	numK, numV, numQ             int
}

var rulerConfigs = map[string]rulerConfig{
	"niah_single_1":   {family: "niah", haystack: "noise", keyType: "words", valueType: "numbers", numK: 1, numV: 1, numQ: 1},
	"niah_single_2":   {family: "niah", haystack: "essay", keyType: "words", valueType: "numbers", numK: 1, numV: 1, numQ: 1},
	"niah_single_3":   {family: "niah", haystack: "essay", keyType: "words", valueType: "uuids", numK: 1, numV: 1, numQ: 1},
	"niah_multikey_1": {family: "niah", haystack: "essay", keyType: "words", valueType: "numbers", numK: 4, numV: 1, numQ: 1},
	"niah_multikey_2": {family: "niah", haystack: "needle", keyType: "words", valueType: "numbers", numK: 1, numV: 1, numQ: 1},
	"niah_multikey_3": {family: "niah", haystack: "needle", keyType: "uuids", valueType: "uuids", numK: 1, numV: 1, numQ: 1},
	"niah_multivalue": {family: "niah", haystack: "essay", keyType: "words", valueType: "numbers", numK: 1, numV: 4, numQ: 1},
	"niah_multiquery": {family: "niah", haystack: "essay", keyType: "words", valueType: "numbers", numK: 1, numV: 1, numQ: 4},
	"vt":              {family: "vt"},
	"cwe":             {family: "cwe"},
	"fwe":             {family: "fwe"},
}

// RulerTasks lists the RULER tasks Ruler generates.
func RulerTasks() []string {
	var out []string
	for k := range rulerConfigs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// rulerFamily holds what RULER's constants.py gives each task family: the
// tokens to generate, the first ten characters of the answer prefix (which
// RULER searches for, from the end, to cut the prompt) and the start of the
// question (kvpress's QUESTION_PATTERNS, last occurrence).
var rulerFamilies = map[string]struct {
	maxNew    int
	answerKey string
	questions []string
}{
	"niah": {128, " The speci", []string{"What is the special magic", "What are all the special magic"}},
	"vt":   {30, " Answer: A", []string{"Question: Find all variables that are assigned the value"}},
	"cwe":  {120, " Answer: T", []string{"Question: What are the 10 most common words in the above list?"}},
	"fwe":  {50, " Answer: A", []string{"Question: Do not provide any explanation."}},
	"qa":   {32, " Answer:", []string{"Answer the question based on the given documents."}},
}

// splitRuler splits a RULER input (answer prefix included) into context,
// question and answer prefix as RULER and kvpress do. ok is false when the
// markers are missing.
func splitRuler(family, input string) (ctx, q, ap string, ok bool) {
	f, known := rulerFamilies[family]
	if !known {
		return input, "", "", false
	}
	a := strings.LastIndex(input, f.answerKey)
	if a < 0 {
		return input, "", "", false
	}
	qi := -1
	for _, pat := range f.questions {
		qi = max(qi, strings.LastIndex(input[:a], pat))
	}
	if qi < 0 {
		return input[:a], "", input[a:], false
	}
	return input[:qi], input[qi:a], input[a:], true
}

// Ruler generates one of RULER's synthetic tasks (RulerTasks) with RULER's
// templates, needle formats and answer prefixes (the "base" model template,
// so the prompt is the task text itself). Each of Options.Lengths (default
// 4096) is, as in RULER, the prompt's tokens plus the tokens to generate;
// the haystack size is found by RULER's binary search in the model's own
// tokens; Sample.Length is that target length. Samples are deterministic
// for Options.Seed; default 1 per length.
type Ruler struct {
	Task string // e.g. "niah_single_1"
	// WordlistDir holds nounlist.txt, adjectivelist.txt and verblist.txt;
	// default Options.DataDir, else the shared ruler_wordlists.
	WordlistDir string
	// EssayDir holds the Paul Graham essays for the essay haystack; default
	// next to the word lists, else the shared copy.
	EssayDir string
}

// Name returns "ruler:" and the task.
func (t *Ruler) Name() string { return "ruler:" + t.Task }

// rulerPrompt is one generated RULER input, answer prefix included.
type rulerPrompt struct {
	input   string
	answers []string
}

// rulerGen makes a prompt with haystack size n (words, sentences or list
// entries, by task), drawing from r.
type rulerGen func(r *rand.Rand, n int) rulerPrompt

// Samples generates the task's samples.
func (t *Ruler) Samples(tok *tokenizer.Tokenizer, opts Options) ([]Sample, error) {
	cfg, ok := rulerConfigs[t.Task]
	if !ok {
		return nil, fmt.Errorf("ruler: unknown task %q (have %s)", t.Task, strings.Join(RulerTasks(), ", "))
	}
	res, err := t.resources(cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name(), err)
	}
	fam := rulerFamilies[cfg.family]
	var out []Sample
	for _, L := range optLengths(opts, 4096) {
		fits := func(p rulerPrompt) bool { return promptLen(tok, p.input)+fam.maxNew <= L }
		var prompts []rulerPrompt
		switch cfg.family {
		case "fwe":
			prompts, err = fweSamples(tok, opts, L, sampleCount(opts, 1))
		default:
			var gen rulerGen
			var incr int
			gen, incr, err = t.generator(cfg, res, tok, opts.Seed, L)
			if err == nil {
				prompts, err = searchSamples(gen, fits, incr, tok, opts, t.Task, L)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: length %d: %w", t.Name(), L, err)
		}
		for i, p := range prompts {
			ctx, q, ap, _ := splitRuler(cfg.family, p.input)
			out = append(out, Sample{
				ID: fmt.Sprintf("L%d-%d", L, i), Task: t.Name(),
				Context: ctx, Question: q, AnswerPrefix: ap,
				Answers: p.answers, MaxNew: fam.maxNew,
				Length: L, Depth: -1,
			})
		}
	}
	return out, nil
}

// searchSize finds, as RULER does, the largest haystack size whose prompt
// fits: a binary search from incr up to three times a linear estimate
// (doubled while even that fits); below incr, the largest size that fits.
func searchSize(gen rulerGen, fits func(rulerPrompt) bool, incr int, tok *tokenizer.Tokenizer, r *rand.Rand, L int) (int, error) {
	per := float64(promptLen(tok, gen(r, incr).input)) / float64(incr)
	lo, hi := incr, max(int(float64(L)/per*3), 2*incr)
	for hi < 1<<24 && fits(gen(r, hi)) {
		lo, hi = hi, 2*hi
	}
	best := 0
	for lo <= hi {
		mid := (lo + hi) / 2
		if fits(gen(r, mid)) {
			best, lo = mid, mid+1
		} else {
			hi = mid - 1
		}
	}
	// Below RULER's smallest size (lengths RULER does not use), take what fits.
	for n := incr - 1; best == 0 && n >= 1; n-- {
		if fits(gen(r, n)) {
			best = n
		}
	}
	if best == 0 {
		return 0, fmt.Errorf("too short: the prompt does not fit even with the smallest haystack")
	}
	return best, nil
}

// searchSamples makes each sample with the size searchSize finds, shrinking
// it while a sample does not fit, as RULER does. RULER shrinks by incr;
// we shrink by at most 1/32 of the size, so that short lengths do not lose
// most of their haystack to one unlucky draw.
func searchSamples(gen rulerGen, fits func(rulerPrompt) bool, incr int, tok *tokenizer.Tokenizer, opts Options, task string, L int) ([]rulerPrompt, error) {
	best, err := searchSize(gen, fits, incr, tok, newRand(opts.Seed, "ruler-search", task, L), L)
	if err != nil {
		return nil, err
	}
	step := max(1, min(incr, best/32))
	var out []rulerPrompt
	for i := range sampleCount(opts, 1) {
		r := newRand(opts.Seed, "ruler", task, L, i)
		for n := best; ; n -= step {
			if n < 1 {
				return nil, fmt.Errorf("sample %d does not fit even with the smallest haystack", i)
			}
			if p := gen(r, n); fits(p) {
				out = append(out, p)
				break
			}
		}
	}
	return out, nil
}

// Score is RULER's metric for the task (string_match_all) on the
// postprocessed prediction, in [0, 1].
func (t *Ruler) Score(s Sample, prediction string) float64 {
	return StringMatchAll(RulerPostprocess(prediction), s.Answers)
}
