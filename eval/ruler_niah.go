package eval

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"

	"github.com/thinkv/thinkv/tokenizer"
)

// RULER's niah template and answer prefix (scripts/data/synthetic/constants.py).
const (
	rulerNIAHTemplate = "Some special magic {type_needle_v} are hidden within the following text. Make sure to memorize it. I will quiz you about the {type_needle_v} afterwards.\n{context}\nWhat are all the special magic {type_needle_v} for {query} mentioned in the provided text?"
	rulerNIAHAnswer   = " The special magic {type_needle_v} for {query} mentioned in the provided text are"
	rulerNeedle       = "One of the special magic %s for %s is: %s."
	rulerNoise        = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
)

// rulerDepths is RULER's DEPTHS: round(linspace(0, 100, 40)).
var rulerDepths = func() []int {
	d := make([]int, 40)
	for i := range d {
		d[i] = int(math.Round(100 * float64(i) / 39))
	}
	return d
}()

// rulerResources are the word lists and essay words a task draws from.
type rulerResources struct {
	nouns, adjs, verbs []string
	essay              []string // essay words, for the essay haystack
}

func (t *Ruler) resources(cfg rulerConfig, opts Options) (*rulerResources, error) {
	given := t.WordlistDir
	if given == "" {
		given = opts.DataDir
	}
	res := &rulerResources{}
	if cfg.family == "niah" || cfg.family == "cwe" {
		dir, err := findDir(given, "ruler_wordlists", "nounlist.txt", true, false, "--wordlists (or --data)")
		if err != nil {
			return nil, fmt.Errorf("word lists: %w", err)
		}
		for name, dst := range map[string]*[]string{"nounlist.txt": &res.nouns, "adjectivelist.txt": &res.adjs, "verblist.txt": &res.verbs} {
			words, err := readLines(filepath.Join(dir, name))
			if err != nil {
				return nil, err
			}
			*dst = sortedUnique(words)
		}
	}
	if cfg.haystack == "essay" {
		ed := t.EssayDir
		if ed == "" {
			ed = given
		}
		dir, err := findDir(ed, essayDirSub, "*.txt", t.EssayDir != "", true, "--haystack (or --data)")
		if err != nil {
			return nil, fmt.Errorf("essays: %w", err)
		}
		text, err := loadEssays(dir)
		if err != nil {
			return nil, err
		}
		res.essay = strings.Split(text, " ")
	}
	return res, nil
}

// generator returns the task's prompt generator and RULER's haystack step.
func (t *Ruler) generator(cfg rulerConfig, res *rulerResources, tok *tokenizer.Tokenizer, seed uint64, L int) (rulerGen, int, error) {
	small := L < 4096
	switch cfg.family {
	case "niah":
		incr := 500
		if cfg.haystack != "essay" {
			incr = 25
			if small {
				incr = 5
			}
		}
		return rulerNIAH(cfg, res), incr, nil
	case "vt":
		icl := vtExample(tok, newRand(seed, "ruler-vt-icl", L), min(500, L/4))
		incr := 10
		if small {
			incr = 5
		}
		return func(r *rand.Rand, n int) rulerPrompt { return vtPrompt(r, n, icl) }, incr, nil
	case "cwe":
		return cwePrompt(res, small), 10, nil
	}
	return nil, 0, fmt.Errorf("no generator for %s", cfg.family)
}

// rulerValue draws a key or value as RULER's generate_random does.
func rulerValue(r *rand.Rand, kind string, res *rulerResources) string {
	switch kind {
	case "numbers":
		return fmt.Sprint(1000000 + r.IntN(9000000))
	case "words":
		return res.adjs[r.IntN(len(res.adjs))] + "-" + res.nouns[r.IntN(len(res.nouns))]
	default: // uuids: uuid.UUID(int=getrandbits(128), version=4)
		hi, lo := r.Uint64(), r.Uint64()
		hi = hi&^(0xf<<12) | 4<<12
		lo = lo&^(0xc<<60) | 0x8<<60
		return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", hi>>32, hi>>16&0xffff, hi&0xffff, lo>>48, lo&(1<<48-1))
	}
}

// rulerNIAH is RULER's niah.py generate_input_output.
func rulerNIAH(cfg rulerConfig, res *rulerResources) rulerGen {
	return func(r *rand.Rand, n int) rulerPrompt {
		numK := max(cfg.numK, cfg.numQ)
		var keys []string
		var values [][]string
		var needles []string
		for range numK {
			keys = append(keys, rulerValue(r, cfg.keyType, res))
			var vs []string
			for range cfg.numV {
				vs = append(vs, rulerValue(r, cfg.valueType, res))
				needles = append(needles, fmt.Sprintf(rulerNeedle, cfg.valueType, keys[len(keys)-1], vs[len(vs)-1]))
			}
			values = append(values, vs)
		}
		r.Shuffle(len(needles), func(i, j int) { needles[i], needles[j] = needles[j], needles[i] })

		var context string
		if cfg.haystack == "essay" {
			words := make([]string, n)
			for i := range words {
				words[i] = res.essay[i%len(res.essay)]
			}
			sents := splitSentences(strings.TrimSpace(strings.Join(words, " ")))
			pos := []int{0}
			for _, di := range sampleInts(r, len(rulerDepths), len(needles)) {
				pos = append(pos, int(float64(len(sents))*float64(rulerDepths[di])/100))
			}
			slices.Sort(pos[1:])
			pos = append(pos, len(sents))
			var parts []string
			for i := 1; i < len(pos); i++ {
				parts = append(parts, strings.Join(sents[pos[i-1]:pos[i]], " "))
				if i-1 < len(needles) {
					parts = append(parts, needles[i-1])
				}
			}
			context = strings.Join(parts, " ")
		} else {
			sents := make([]string, n)
			for i := range sents {
				if cfg.haystack == "noise" {
					sents[i] = rulerNoise
				} else {
					sents[i] = fmt.Sprintf(rulerNeedle, cfg.valueType, rulerValue(r, cfg.keyType, res), rulerValue(r, cfg.valueType, res))
				}
			}
			idx := sampleInts(r, n, len(needles))
			slices.Sort(idx)
			slices.Reverse(idx)
			for i, at := range idx {
				sents = slices.Insert(sents, at, needles[i])
			}
			context = strings.Join(sents, "\n")
		}

		var queries, answers []string
		for _, i := range sampleInts(r, numK, cfg.numQ) {
			queries = append(queries, keys[i])
			answers = append(answers, values[i]...)
		}
		query := queries[0]
		if len(queries) > 1 {
			query = strings.Join(queries[:len(queries)-1], ", ") + ", and " + queries[len(queries)-1]
		}
		template, typ := rulerNIAHTemplate+rulerNIAHAnswer, cfg.valueType
		if cfg.numQ*cfg.numV == 1 {
			template = strings.ReplaceAll(template, "Some", "A")
			template = strings.ReplaceAll(template, "are all", "is")
			template = strings.ReplaceAll(template, "are", "is")
			template = strings.ReplaceAll(template, "answers", "answer")
			typ = typ[:len(typ)-1]
		}
		input := strings.NewReplacer("{type_needle_v}", typ, "{context}", context, "{query}", query).Replace(template)
		return rulerPrompt{input: input, answers: answers}
	}
}
