package eval

import (
	"fmt"
	"strings"

	"github.com/thinkv/thinkv/tokenizer"
)

// The standard Needle-in-a-Haystack needle, question and key facts.
const (
	DefaultNeedle   = "The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day."
	DefaultQuestion = "What is the best thing to do in San Francisco?"
)

// DefaultNeedleKeys are the facts an answer must state to retrieve the
// default needle.
var DefaultNeedleKeys = []string{"sandwich", "Dolores Park"}

// DefaultDepths are the needle depths, in percent, that NIAH tests unless
// told otherwise.
var DefaultDepths = []float64{0, 25, 50, 75, 100}

// The prompt around the haystack, as in KVCache-Factory's NIAH runner and
// kvpress's context wrapper: "This is a very long story book: <book> …
// </book>." then the question and "Answer:".
const (
	niahHead         = "This is a very long story book: <book> "
	niahTail         = " </book>.\n"
	niahQuestionHead = "Based on the content of the book, Question: "
	niahAnswerPrefix = "Answer:"
)

// NIAH is the Needle-in-a-Haystack task: a haystack of Paul Graham essays
// trimmed, at a sentence boundary, so that the whole prompt has each of
// Options.Lengths tokens at most (default 4096; generation comes on top),
// with Needle inserted as a sentence at each of Depths, measured as a
// fraction of the haystack's tokens (the boundary at or before it). Sample
// 0 of each cell starts at the first essay; further samples (Options.Samples)
// start at a sentence drawn from Options.Seed. Sample.Length is the target
// length (the grid's), not the prompt's exact count.
//
// Score is 1 if the answer contains every one of Keys, case-insensitively,
// else 0; with no Keys it is the ROUGE-1 recall of the needle. Metrics
// reports "rouge1_recall" either way.
type NIAH struct {
	Needle   string    // default DefaultNeedle
	Question string    // default DefaultQuestion
	Keys     []string  // key facts; DefaultNeedleKeys for the default needle
	Depths   []float64 // percent; default DefaultDepths
	// Dir holds the essays (*.txt); default Options.DataDir, else the
	// shared copy.
	Dir string
}

// NewNIAH returns the standard NIAH task.
func NewNIAH() *NIAH {
	return &NIAH{Needle: DefaultNeedle, Question: DefaultQuestion, Keys: DefaultNeedleKeys, Depths: DefaultDepths}
}

// Name returns "niah".
func (t *NIAH) Name() string { return "niah" }

func (t *NIAH) needle() string {
	if t.Needle == "" {
		return DefaultNeedle
	}
	return t.Needle
}

func (t *NIAH) keys() []string {
	if len(t.Keys) == 0 && t.needle() == DefaultNeedle {
		return DefaultNeedleKeys
	}
	return t.Keys
}

// Samples returns one sample per length, depth and sample index.
func (t *NIAH) Samples(tok *tokenizer.Tokenizer, opts Options) ([]Sample, error) {
	dir := t.Dir
	if dir == "" {
		dir = opts.DataDir
	}
	dir, err := findDir(dir, essayDirSub, "*.txt", true, false, "--haystack (or --data)")
	if err != nil {
		return nil, fmt.Errorf("niah: haystack: %w", err)
	}
	text, err := loadEssays(dir)
	if err != nil {
		return nil, fmt.Errorf("niah: %w", err)
	}
	sents := splitSentences(text)
	needle, question := t.needle(), t.Question
	if question == "" {
		question = DefaultQuestion
	}
	depths := t.Depths
	if len(depths) == 0 {
		depths = DefaultDepths
	}
	q := niahQuestionHead + question + "\n"
	overhead := promptLen(tok, niahHead+needle+niahTail+q+niahAnswerPrefix)
	needleToks := len(tok.Encode(needle, false))
	var out []Sample
	for _, L := range optLengths(opts, 4096) {
		budget := L - overhead
		if budget <= 0 {
			return nil, fmt.Errorf("niah: length %d is too short: the prompt without haystack has %d tokens", L, overhead)
		}
		for j := range sampleCount(opts, 1) {
			start := 0
			if j > 0 {
				start = newRand(opts.Seed, "niah", L, j).IntN(len(sents))
			}
			// Take sentences until the estimate (each sentence encoded
			// alone) exceeds the budget; cum[i] is the first i's tokens.
			var hs []string
			cum := []int{0}
			for cum[len(cum)-1] <= budget {
				s := sents[(start+len(hs))%len(sents)]
				hs = append(hs, s)
				cum = append(cum, cum[len(cum)-1]+len(tok.Encode(s, false)))
			}
			for _, d := range depths {
				n := len(hs) - 1 // the estimate fits with n sentences
				for {
					k := 0
					for k < n && float64(cum[k+1]) <= d/100*float64(cum[n]) {
						k++
					}
					parts := append(append(append([]string{}, hs[:k]...), needle), hs[k:n]...)
					s := Sample{
						ID:           fmt.Sprintf("L%d-d%g-%d", L, d, j),
						Task:         t.Name(),
						Context:      niahHead + strings.Join(parts, " ") + niahTail,
						Question:     q,
						AnswerPrefix: niahAnswerPrefix,
						Answers:      []string{needle},
						MaxNew:       max(32, needleToks+16),
						Length:       L,
						Depth:        d,
					}
					if promptLen(tok, s.Context+s.Question+s.AnswerPrefix) <= L || n == 0 {
						out = append(out, s)
						break
					}
					n--
				}
			}
		}
	}
	return out, nil
}

// Score is 1 if prediction states every key fact (case-insensitively), else
// 0; without key facts, the ROUGE-1 recall of the needle.
func (t *NIAH) Score(s Sample, prediction string) float64 {
	keys := t.keys()
	if len(keys) == 0 {
		return ROUGE1Recall(firstOr(s.Answers, t.needle()), prediction)
	}
	p := strings.ToLower(prediction)
	for _, k := range keys {
		if !strings.Contains(p, strings.ToLower(k)) {
			return 0
		}
	}
	return 1
}

// Metrics reports the ROUGE-1 recall of the needle in the prediction.
func (t *NIAH) Metrics(s Sample, prediction string) map[string]float64 {
	return map[string]float64{"rouge1_recall": ROUGE1Recall(firstOr(s.Answers, t.needle()), prediction)}
}

func firstOr(xs []string, def string) string {
	if len(xs) > 0 {
		return xs[0]
	}
	return def
}
