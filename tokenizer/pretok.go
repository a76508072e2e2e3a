package tokenizer

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// A splitter finds pre-token boundaries: it calls emit with the byte span
// of each match in s, in order. Text between matches forms pre-tokens too,
// as in Hugging Face's "Isolated" Split and llama.cpp's regex splitting.
type splitter interface {
	split(s string, emit func(start, end int))
}

// splitStep is one stage of pre-tokenization.
type splitStep struct {
	splitter
	remove  bool   // drop the matches (Hugging Face's "Removed" behaviour)
	pattern string // the regular expression, for Vocab.Pre and errors
}

// preTokenize cuts s into pre-tokens with each step in turn, each step
// cutting the pieces of the one before, and yields them in order.
func preTokenize(s string, steps []splitStep, yield func(word string)) {
	if s == "" {
		return
	}
	if len(steps) == 0 {
		yield(s)
		return
	}
	st, rest := steps[0], steps[1:]
	prev := 0
	st.split(s, func(a, b int) {
		preTokenize(s[prev:a], rest, yield)
		if !st.remove {
			preTokenize(s[a:b], rest, yield)
		}
		prev = b
	})
	preTokenize(s[prev:], rest, yield)
}

// regexTimeout bounds the regular-expression searches of one split, so
// that a hostile pattern cannot stall encoding; text left unsearched stays
// one pre-token.
const regexTimeout = time.Second

// regexSplitter matches a pattern with regexp2, a backtracking engine with
// look-around, in its default (.NET) mode: \s, \d and \w are Unicode-aware
// like Oniguruma's, which Hugging Face tokenizers use.
type regexSplitter struct{ re *regexp2.Regexp }

func compileSplitter(pattern string) (splitter, error) {
	switch pattern {
	case gpt2Pattern:
		return splitGPT2, nil
	case llama3Pattern:
		return splitLlama3, nil
	case qwen2Pattern:
		return splitQwen2, nil
	}
	re, err := regexp2.Compile(pattern, regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("pre-tokenizer pattern %q: %w", pattern, err)
	}
	re.MatchTimeout = regexTimeout
	return regexSplitter{re}, nil
}

func (r regexSplitter) split(s string, emit func(start, end int)) {
	// regexp2 works on runes; map rune indexes back to byte offsets. Go
	// decodes each invalid byte as one U+FFFD, so the counts agree.
	runes := make([]rune, 0, len(s))
	offs := make([]int, 0, len(s)+1)
	for i, c := range s {
		runes = append(runes, c)
		offs = append(offs, i)
	}
	offs = append(offs, len(s))
	start := time.Now()
	m, err := r.re.FindRunesMatch(runes)
	for n := 0; m != nil && err == nil && n <= len(runes); n++ {
		if m.Length > 0 {
			emit(offs[m.Index], offs[m.Index+m.Length])
		}
		if time.Since(start) > regexTimeout {
			break
		}
		m, err = r.re.FindNextMatch(m)
	}
}

// literalSplitter matches a fixed string (a Hugging Face Split "String"
// pattern).
type literalSplitter string

func (l literalSplitter) split(s string, emit func(start, end int)) {
	if l == "" {
		return
	}
	for i := 0; i+len(l) <= len(s); {
		if s[i:i+len(l)] == string(l) {
			emit(i, i+len(l))
			i += len(l)
			continue
		}
		i++
	}
}

// metaSplitter starts a new pre-token at each "▁" (Hugging Face's Metaspace
// split), or with afterWord only at a "▁" after another character.
type metaSplitter struct{ afterWord bool }

func (m metaSplitter) split(s string, emit func(start, end int)) {
	start := 0
	prevMeta := true
	for i := 0; i < len(s); {
		_, n := utf8.DecodeRuneInString(s[i:])
		meta := s[i:i+n] == spaceSymbol
		if meta && i > start && (!m.afterWord || !prevMeta) {
			emit(start, i)
			start = i
		}
		prevMeta = meta
		i += n
	}
	emit(start, len(s))
}

// llama.cpp's default pre-tokenizer, for byte-level vocabularies whose GGUF
// names none: four expressions applied in turn.
var defaultPatterns = []string{
	`[\p{P}\$\+<=>\^~\|]+`,
	gpt2Pattern,
	`\p{N}+`,
	`[0-9][0-9][0-9]`,
}

// preByName returns the split steps for a GGUF tokenizer.ggml.pre name, and
// whether the vocabulary skips merging for words that are whole tokens.
func preByName(name string) (steps []splitStep, ignoreMerges bool, err error) {
	var patterns []string
	switch name {
	case "", "default":
		patterns = defaultPatterns
	case "gpt-2", "gpt2", "phi-2", "roberta-bpe", "mpt", "olmo", "jais":
		patterns = []string{gpt2Pattern}
	case "llama-bpe", "llama3", "llama-v3", "falcon3":
		patterns, ignoreMerges = []string{llama3Pattern}, true
	case "dbrx", "smaug-bpe":
		patterns = []string{llama3Pattern}
	case "qwen2", "stablelm2", "megrez", "deepseek-r1-qwen":
		patterns = []string{qwen2Pattern}
	default:
		return nil, false, fmt.Errorf("tokenizer: unsupported pre-tokenizer %q", name)
	}
	for _, p := range patterns {
		sp, err := compileSplitter(p)
		if err != nil {
			return nil, false, fmt.Errorf("tokenizer: %w", err)
		}
		steps = append(steps, splitStep{splitter: sp, pattern: p})
	}
	return steps, ignoreMerges, nil
}

// preName names steps for GGUF export: the name whose patterns they are, or
// "default".
func preName(steps []splitStep) string {
	if len(steps) == 1 {
		switch steps[0].pattern {
		case gpt2Pattern:
			return "gpt-2"
		case llama3Pattern:
			return "llama-bpe"
		case qwen2Pattern:
			return "qwen2"
		}
	}
	return "default"
}
