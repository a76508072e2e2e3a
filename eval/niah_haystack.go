package eval

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// essayDirSub is where the Paul Graham essays live under the shared data.
const essayDirSub = "niah_paulgraham/PaulGrahamEssays"

// loadEssays returns the *.txt files of dir, in name order, concatenated as
// the Needle-in-a-Haystack harnesses read them, with whitespace runs
// collapsed to single spaces as RULER does.
func loadEssays(dir string) (string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		b.Write(data)
	}
	return strings.Join(pyFields(b.String()), " "), nil
}

// abbreviations do not end a sentence.
var abbreviations = map[string]bool{
	"mr": true, "mrs": true, "ms": true, "dr": true, "prof": true, "st": true, "jr": true, "sr": true,
	"vs": true, "etc": true, "e.g": true, "i.e": true, "inc": true, "ltd": true, "co": true,
	"no": true, "fig": true, "u.s": true, "cf": true, "approx": true,
}

// splitSentences splits whitespace-separated text into sentences, standing
// in for NLTK's punkt sent_tokenize (RULER) and for "back up to the last
// period" (the NIAH harness): a sentence ends at a word ending in ".", "!"
// or "?" (before closing quotes or brackets) that is not an abbreviation or
// an initial, when the next word starts with a capital, a digit, a quote or
// an opening bracket.
func splitSentences(text string) []string {
	words := pyFields(text)
	var out []string
	start := 0
	for i, w := range words {
		if i+1 < len(words) && !endsSentence(w, words[i+1]) {
			continue
		}
		out = append(out, strings.Join(words[start:i+1], " "))
		start = i + 1
	}
	return out
}

func endsSentence(w, next string) bool {
	core := strings.TrimRight(w, "\"'”’)]")
	if core == "" {
		return false
	}
	last := core[len(core)-1]
	if last != '.' && last != '!' && last != '?' {
		return false
	}
	if last == '.' {
		stem := strings.ToLower(strings.TrimLeft(core[:len(core)-1], "\"'“‘(["))
		if abbreviations[stem] || utf8.RuneCountInString(stem) == 1 {
			return false
		}
	}
	r, _ := utf8.DecodeRuneInString(next)
	return unicode.IsUpper(r) || unicode.IsDigit(r) || strings.ContainsRune("\"'“‘([", r)
}
