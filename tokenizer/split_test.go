package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// splitWords returns the pre-tokens of s under sp.
func splitWords(sp splitter, s string) []string {
	var words []string
	preTokenize(s, []splitStep{{splitter: sp}}, func(w string) { words = append(words, w) })
	return words
}

// handSplitters are the hand-written splitters with their patterns.
var handSplitters = []struct {
	name    string
	pattern string
	sp      splitter
}{
	{"gpt2", gpt2Pattern, splitGPT2},
	{"llama3", llama3Pattern, splitLlama3},
	{"qwen2", qwen2Pattern, splitQwen2},
}

// oracle compiles pattern with regexp2, bypassing the hand-written
// splitters.
func oracle(tb testing.TB, pattern string) splitter {
	tb.Helper()
	re, err := regexp2.Compile(pattern, regexp2.None)
	if err != nil {
		tb.Fatal(err)
	}
	return regexSplitter{re}
}

func TestSplitExamples(t *testing.T) {
	for _, c := range []struct {
		sp   splitter
		text string
		want []string
	}{
		{splitGPT2, "Hello world", []string{"Hello", " world"}},
		{splitGPT2, "I'm   here\n\n  x  ", []string{"I", "'m", "  ", " here", "\n\n ", " x", "  "}},
		{splitGPT2, "it'S 123abc!!", []string{"it", "'", "S", " 123", "abc", "!!"}},
		{splitLlama3, "it'S 12345 abc!!\n\nx", []string{"it", "'S", " ", "123", "45", " abc", "!!\n\n", "x"}},
		{splitLlama3, " \t\n\n  hi\t(x)", []string{" \t\n\n", " ", " hi", "\t", "(x", ")"}},
		{splitQwen2, "x 12345", []string{"x", " ", "1", "2", "3", "4", "5"}},
		{splitLlama3, "a\xffb\xc3", []string{"a", "\xffb", "\xc3"}},
	} {
		if got := splitWords(c.sp, c.text); !slices.Equal(got, c.want) {
			t.Errorf("split %q = %q, want %q", c.text, got, c.want)
		}
	}
}

// splitAlphabet holds characters from every class the patterns tell apart.
var splitAlphabet = []string{
	"a", "Z", "s", "S", "t", "r", "e", "v", "m", "l", "L", "d", "D", "'", "’", "é", "ß", "Ж", "日", "ſ",
	"0", "7", "٣", "²", "½", "Ⅻ", " ", " ", "  ", "\t", "\n", "\r", "\r\n", "\v", "\f", "\u00a0",
	"\u0085", "\u2028", "\u3000", "\u1680", "!", ".", "(", "-", "_", "$", "🙂", "\u0301", "\u200d",
	"\ufeff", "\x00",
}

func randomText(r *rand.Rand) string {
	var b strings.Builder
	for n := r.IntN(24); n >= 0; n-- {
		b.WriteString(splitAlphabet[r.IntN(len(splitAlphabet))])
	}
	return b.String()
}

// The hand-written splitters agree with the regular expressions run by a
// backtracking engine.
func TestSplitMatchesRegexp(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, h := range handSplitters {
		re := oracle(t, h.pattern)
		for range 20_000 {
			s := randomText(r)
			if got, want := splitWords(h.sp, s), splitWords(re, s); !slices.Equal(got, want) {
				t.Fatalf("%s: split %q = %q, regexp %q", h.name, s, got, want)
			}
		}
	}
}

// FuzzSplit checks the hand-written splitters against regexp2 on valid
// UTF-8, and that on any input the pre-tokens are non-empty and cover it.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"", "Hello world", "I'm 12345 \n\n x", " \t\r\n ’ '' 'LL", "日本語 ²½ \u00a0\u0301"} {
		f.Add(s)
	}
	res := make([]splitter, len(handSplitters))
	for i, h := range handSplitters {
		res[i] = oracle(f, h.pattern)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for i, h := range handSplitters {
			got := splitWords(h.sp, s)
			if strings.Join(got, "") != s || slices.Contains(got, "") {
				t.Fatalf("%s: split %q = %q", h.name, s, got)
			}
			if !utf8.ValidString(s) {
				continue
			}
			if want := splitWords(res[i], s); !slices.Equal(got, want) {
				t.Fatalf("%s: split %q = %q, regexp %q", h.name, s, got, want)
			}
		}
	})
}

// llama.cpp's default pre-tokenizer applies four expressions in turn.
func TestSplitDefault(t *testing.T) {
	steps, ignore, err := preByName("")
	if err != nil || ignore {
		t.Fatal(err, ignore)
	}
	var got []string
	preTokenize("Hi!! 12345 you're", steps, func(w string) { got = append(got, w) })
	want := []string{"Hi", "!!", " ", "123", "45", " you", "'", "re"}
	if !slices.Equal(got, want) {
		t.Errorf("default split = %q, want %q", got, want)
	}
}
