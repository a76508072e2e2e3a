package eval

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/thinkv/thinkv/tokenizer"
)

// RULER's templates and answer prefixes for variable tracking, common words
// and frequent words (scripts/data/synthetic/constants.py).
const (
	vtTemplate  = "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n{context}\nQuestion: Find all variables that are assigned the value {query} in the text above."
	vtAnswer    = " Answer: According to the chain(s) of variable assignment in the text above, {num_v} variables are assigned the value {query}, they are: "
	cweTemplate = "Below is a numbered list of words. In these words, some appear more often than others. Memorize the ones that appear most often.\n{context}\nQuestion: What are the 10 most common words in the above list?"
	cweAnswer   = " Answer: The top 10 words that appear most often in the list are:"
	fweTemplate = "Read the following coded text and track the frequency of each coded word. Find the three most frequently appeared coded words. {context}\nQuestion: Do not provide any explanation. Please ignore the dots '....'. What are the three most frequently appeared words in the above coded text?"
	fweAnswer   = " Answer: According to the coded text above, the three most frequently appeared words are:"
	vtHops      = 4 // synthetic.yaml: num_chains 1, num_hops 4
)

func randUpper(r *rand.Rand, k int) string {
	b := make([]byte, k)
	for i := range b {
		b[i] = byte('A' + r.IntN(26))
	}
	return string(b)
}

// vtChain is RULER's generate_chains for one chain: hops+1 distinct
// variables of k capitals, the first assigned value, each next one the
// previous (RULER's hop lines end with a space).
func vtChain(r *rand.Rand, k int, value string) (vars, lines []string) {
	for len(vars) < vtHops+1 {
		if v := randUpper(r, k); !slices.Contains(vars, v) {
			vars = append(vars, v)
		}
	}
	lines = []string{fmt.Sprintf("VAR %s = %s", vars[0], value)}
	for j := range vtHops {
		lines = append(lines, fmt.Sprintf("VAR %s = VAR %s ", vars[j+1], vars[j]))
	}
	return vars, lines
}

// vtInput is RULER's variable_tracking generate_input_output with the noise
// haystack: n noise lines with the chain's lines inserted in order.
func vtInput(r *rand.Rand, n, k int, value string) (string, []string) {
	vars, chain := vtChain(r, k, value)
	sents := make([]string, max(n, len(chain))) // random.sample needs n ≥ len(chain)
	for i := range sents {
		sents[i] = rulerNoise
	}
	pos := sampleInts(r, len(sents), len(chain))
	slices.Sort(pos)
	for j, p := range pos {
		sents = slices.Insert(sents, p+j, chain[j])
	}
	context := strings.ReplaceAll(strings.Join(sents, "\n"), ". \n", ".\n")
	input := strings.NewReplacer("{context}", context, "{query}", value, "{num_v}", fmt.Sprint(vtHops+1)).Replace(vtTemplate + vtAnswer)
	return input, vars
}

func vtValue(r *rand.Rand) string { return fmt.Sprint(10000 + r.IntN(89999)) }

// vtExample is RULER's in-context example for vt: three-letter variables,
// value 12345, as much noise as fits in budget tokens (at least 5 lines),
// followed by its answer.
func vtExample(tok *tokenizer.Tokenizer, r *rand.Rand, budget int) string {
	gen := func(r *rand.Rand, n int) rulerPrompt {
		in, vars := vtInput(r, n, 3, "12345")
		return rulerPrompt{input: in, answers: vars}
	}
	fits := func(p rulerPrompt) bool { return promptLen(tok, p.input) <= budget }
	n, err := searchSize(gen, fits, 5, tok, r, budget)
	if err != nil {
		n = 5 // a short length: the smallest example; the task may still fit
	}
	p := gen(r, n)
	return p.input + " " + strings.Join(p.answers, " ") + "\n"
}

// vtPrompt is a vt sample: the example, its variables and value redrawn as
// RULER's randomize_icl does, then the task with n noise lines.
func vtPrompt(r *rand.Rand, n int, icl string) rulerPrompt {
	f := pyFields(icl)
	for _, old := range f[len(f)-(vtHops+1):] {
		icl = strings.ReplaceAll(icl, old, randUpper(r, len(old)))
	}
	icl = strings.ReplaceAll(icl, "12345", vtValue(r))
	input, vars := vtInput(r, n, 5, vtValue(r))
	return rulerPrompt{input: icl + "\n" + input, answers: vars}
}

// cwePrompt is RULER's common_words_extraction generate_input_output with
// freq_cw 30, freq_ucw 3, num_cw 10 and one example (below 4096 tokens:
// repeats 6 and 1, and a smaller example).
func cwePrompt(res *rulerResources, small bool) rulerGen {
	words := sortedUnique(slices.Concat(res.nouns, res.adjs, res.verbs))
	example := func(r *rand.Rand, num, cr, ur int) (string, []string) {
		var full []string
		if num <= len(words) {
			for _, i := range sampleInts(r, len(words), num) {
				full = append(full, words[i])
			}
		} else { // RULER switches to a larger word list here; we repeat ours
			for _, i := range r.Perm(len(words)) {
				full = append(full, words[i])
			}
			for len(full) < num {
				full = append(full, full[10+r.IntN(len(words)-10)])
			}
		}
		var list []string
		for range cr {
			list = append(list, full[:10]...)
		}
		for range ur {
			list = append(list, full[10:]...)
		}
		r.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
		return numbered(list), full[:10]
	}
	format := func(ctx string) string {
		return strings.ReplaceAll(cweTemplate+cweAnswer, "{context}", ctx)
	}
	return func(r *rand.Rand, n int) rulerPrompt {
		exN, exC, exU, cr, ur := 40, 10, 3, 30, 3
		if small {
			exN, exC, exU, cr, ur = 20, 3, 1, 6, 1
		}
		exCtx, exAns := example(r, exN, exC, exU)
		ctx, ans := example(r, max(n, 10), cr, ur)
		shot := format(exCtx) + " " + numbered(exAns)
		return rulerPrompt{input: shot + "\n" + format(ctx), answers: ans}
	}
}

// numbered formats words as "1. w1 2. w2 ...".
func numbered(words []string) string {
	parts := make([]string, len(words))
	for i, w := range words {
		parts[i] = fmt.Sprintf("%d. %s", i+1, w)
	}
	return strings.Join(parts, " ")
}

// fweSamples is RULER's freq_words_extraction with alpha 2: a coded vocabulary
// of (L-50)/50 six-letter words, the first replaced by "...", each k-th word
// repeated ⌊N·k^-2/ζ(2)⌋ times; N grows by (L-50)/32 until the prompt
// reaches L-50 tokens, then each sample shrinks N until it fits. The answer
// is the 2nd to 4th words.
func fweSamples(tok *tokenizer.Tokenizer, opts Options, L, count int) ([]rulerPrompt, error) {
	maxLen := L - rulerFamilies["fwe"].maxNew
	vocabSize, incr := maxLen/50, max(1, maxLen/32)
	if vocabSize < 4 {
		return nil, fmt.Errorf("too short for a coded vocabulary of 4 words")
	}
	vocab := func(r *rand.Rand) []string {
		var v []string
		for len(v) < vocabSize {
			if w := strings.ToLower(randUpper(r, 6)); !slices.Contains(v, w) {
				v = append(v, w)
			}
		}
		v[0] = "..."
		return v
	}
	text := func(r *rand.Rand, v []string, n int) rulerPrompt {
		var list []string
		for k, w := range v {
			c := int(float64(n) * math.Pow(float64(k+1), -2) / (math.Pi * math.Pi / 6))
			for range c {
				list = append(list, w)
			}
		}
		r.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
		return rulerPrompt{input: strings.ReplaceAll(fweTemplate+fweAnswer, "{context}", strings.Join(list, " ")), answers: slices.Clone(v[1:4])}
	}
	r := newRand(opts.Seed, "ruler-fwe-search", L)
	v := vocab(r)
	n := maxLen / 6
	for promptLen(tok, text(r, v, n).input) < maxLen {
		n += incr
	}
	n -= incr
	var out []rulerPrompt
	for i := range count {
		r := newRand(opts.Seed, "ruler-fwe", L, i)
		v := vocab(r)
		for m := n; ; m -= incr {
			if m <= 0 {
				return nil, fmt.Errorf("too short: the prompt without words does not fit")
			}
			if p := text(r, v, m); promptLen(tok, p.input) <= maxLen {
				out = append(out, p)
				break
			}
		}
	}
	return out, nil
}
