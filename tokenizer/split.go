package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// The pre-tokenizer regular expressions of GPT-2, Llama 3 and Qwen2, as
// written in their tokenizer.json files. They need look-ahead, which Go's
// regexp lacks, so the functions below match them by hand; split_test.go
// checks them against a backtracking regexp engine.
const (
	gpt2Pattern   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	qwen2Pattern  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// Character classes of the patterns.
const (
	clsOther  = iota // everything else, invalid UTF-8 bytes included
	clsLetter        // \p{L}
	clsNumber        // \p{N}
	clsSpace         // \s: the Unicode White_Space characters
)

var asciiClass [utf8.RuneSelf]uint8

func init() {
	for c := range asciiClass {
		asciiClass[c] = classOf(rune(c))
	}
}

func classOf(r rune) uint8 {
	switch {
	case unicode.IsLetter(r):
		return clsLetter
	case unicode.IsNumber(r):
		return clsNumber
	case unicode.IsSpace(r):
		return clsSpace
	}
	return clsOther
}

// charAt decodes the character at s[i] and returns it with its class and
// length in bytes. An invalid UTF-8 byte is a character of class other.
func charAt(s string, i int) (r rune, cls uint8, n int) {
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), asciiClass[c], 1
	}
	r, n = utf8.DecodeRuneInString(s[i:])
	if n == 1 {
		return r, clsOther, 1
	}
	return r, classOf(r), n
}

// runEnd returns the end of the run of characters of class cls that starts
// at s[i].
func runEnd(s string, i int, cls uint8) int {
	for i < len(s) {
		_, c, n := charAt(s, i)
		if c != cls {
			break
		}
		i += n
	}
	return i
}

// contraction returns the length of the contraction 's, 't, 're, 've, 'm,
// 'll or 'd at s[i:], where s[i] is an apostrophe, or 0. With fold the
// letters match either case (ASCII only, as llama.cpp reads "(?i:...)").
func contraction(s string, i int, fold bool) int {
	at := func(k int) byte {
		if i+k >= len(s) {
			return 0
		}
		c := s[i+k]
		if fold && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		return c
	}
	switch at(1) {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v':
		if at(2) == 'e' {
			return 3
		}
	case 'l':
		if at(2) == 'l' {
			return 3
		}
	}
	return 0
}

// matchGPT2 returns the end of gpt2Pattern's match at s[i].
func matchGPT2(s string, i int) int {
	r, cls, _ := charAt(s, i)
	if r == '\'' {
		if k := contraction(s, i, false); k > 0 {
			return i + k
		}
	}
	if r == ' ' && i+1 < len(s) {
		// " ?\p{L}+", " ?\p{N}+" and " ?[^\s\p{L}\p{N}]+" take the space.
		if _, c, _ := charAt(s, i+1); c != clsSpace {
			return runEnd(s, i+1, c)
		}
	}
	if cls != clsSpace {
		return runEnd(s, i, cls)
	}
	return matchSpaces(s, i, false)
}

// matchSpaces matches at the white space s[i]: "\s*[\r\n]+" first if
// newlines is set, then "\s+(?!\S)|\s+".
func matchSpaces(s string, i int, newlines bool) int {
	end, last, nl := i, i, -1
	for end < len(s) {
		r, c, n := charAt(s, end)
		if c != clsSpace {
			break
		}
		if r == '\r' || r == '\n' {
			nl = end + n
		}
		last = end
		end += n
	}
	switch {
	case newlines && nl >= 0:
		return nl // up to and including the run's last newline
	case end == len(s) || last == i:
		return end
	}
	return last // leave the last space to the word that follows
}

// matchLlama3 returns the end of llama3Pattern's match at s[i], or of
// qwen2Pattern's if digits is 1 instead of 3.
func matchLlama3(s string, i, digits int) int {
	r, cls, n := charAt(s, i)
	if r == '\'' {
		if k := contraction(s, i, true); k > 0 {
			return i + k
		}
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if cls == clsLetter {
		return runEnd(s, i, clsLetter)
	}
	if cls != clsNumber && r != '\r' && r != '\n' && i+n < len(s) {
		if _, c, _ := charAt(s, i+n); c == clsLetter {
			return runEnd(s, i+n, clsLetter)
		}
	}
	// \p{N}{1,digits}
	if cls == clsNumber {
		end := i
		for k := 0; k < digits && end < len(s); k++ {
			_, c, m := charAt(s, end)
			if c != clsNumber {
				break
			}
			end += m
		}
		return end
	}
	// " ?[^\s\p{L}\p{N}]+[\r\n]*"
	start := i
	if r == ' ' && i+1 < len(s) {
		if _, c, _ := charAt(s, i+1); c == clsOther {
			start = i + 1
		}
	}
	if _, c, _ := charAt(s, start); c == clsOther {
		end := runEnd(s, start, clsOther)
		for end < len(s) && (s[end] == '\r' || s[end] == '\n') {
			end++
		}
		return end
	}
	return matchSpaces(s, i, true)
}

// A matcher returns the end (> i) of the pre-token that starts at s[i].
type matcher func(s string, i int) int

func (m matcher) split(s string, emit func(start, end int)) {
	for i := 0; i < len(s); {
		j := m(s, i)
		emit(i, j)
		i = j
	}
}

var (
	splitGPT2   = matcher(matchGPT2)
	splitLlama3 = matcher(func(s string, i int) int { return matchLlama3(s, i, 3) })
	splitQwen2  = matcher(func(s string, i int) int { return matchLlama3(s, i, 1) })
)
