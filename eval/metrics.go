package eval

import (
	"strings"
	"unicode"
)

// This file holds the answer-matching metrics of RULER and LongBench. Each
// reproduces its reference implementation's text handling, quirks included,
// and returns a score in [0, 1] (the references report 100×).

// pyIsSpace reports whether Python's str.isspace holds for r: Go's
// unicode.IsSpace plus the ASCII separators U+001C..U+001F.
func pyIsSpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }

// pyFields splits s as Python's str.split() does.
func pyFields(s string) []string { return strings.FieldsFunc(s, pyIsSpace) }

// pyStrip trims s as Python's str.strip() does.
func pyStrip(s string) string { return strings.TrimFunc(s, pyIsSpace) }

// pyIsWord reports whether r matches Python's Unicode \w.
func pyIsWord(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) || r == '_' }

// RulerPostprocess cleans a prediction as RULER's evaluate.py does before
// matching: strip, turn control characters U+0000..U+001F into newlines,
// strip again.
func RulerPostprocess(pred string) string {
	pred = pyStrip(pred)
	pred = strings.Map(func(r rune) rune {
		if r < 0x20 {
			return '\n'
		}
		return r
	}, pred)
	return pyStrip(pred)
}

// StringMatchAll is RULER's string_match_all for one prediction: the
// fraction of refs that occur in pred, case-insensitively.
func StringMatchAll(pred string, refs []string) float64 {
	if len(refs) == 0 {
		return 0
	}
	p := strings.ToLower(pred)
	n := 0
	for _, r := range refs {
		if strings.Contains(p, strings.ToLower(r)) {
			n++
		}
	}
	return float64(n) / float64(len(refs))
}

// StringMatchPart is RULER's string_match_part (its QA metric) for one
// prediction: 1 if any ref occurs in pred, case-insensitively, else 0.
func StringMatchPart(pred string, refs []string) float64 {
	p := strings.ToLower(pred)
	for _, r := range refs {
		if strings.Contains(p, strings.ToLower(r)) {
			return 1
		}
	}
	return 0
}

// pyPunctuation is Python's string.punctuation.
const pyPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// NormalizeAnswer is LongBench's (SQuAD's) normalize_answer: lower-case,
// drop ASCII punctuation, drop the articles a, an and the (as whole \w runs),
// collapse whitespace.
func NormalizeAnswer(s string) string {
	s = strings.ToLower(s)
	s = strings.Map(func(r rune) rune {
		if r < 0x80 && strings.ContainsRune(pyPunctuation, r) {
			return -1
		}
		return r
	}, s)
	// re.sub(r"\b(a|an|the)\b", " ", s): a match is exactly a maximal run
	// of word characters equal to an article.
	var b strings.Builder
	rs := []rune(s)
	for i := 0; i < len(rs); {
		if !pyIsWord(rs[i]) {
			b.WriteRune(rs[i])
			i++
			continue
		}
		j := i
		for j < len(rs) && pyIsWord(rs[j]) {
			j++
		}
		if w := string(rs[i:j]); w == "a" || w == "an" || w == "the" {
			b.WriteByte(' ')
		} else {
			b.WriteString(w)
		}
		i = j
	}
	return strings.Join(pyFields(b.String()), " ")
}

// tokenF1 is LongBench's f1_score over token lists (multiset overlap).
func tokenF1(pred, gt []string) float64 {
	count := map[string]int{}
	for _, t := range gt {
		count[t]++
	}
	same := 0
	for _, t := range pred {
		if count[t] > 0 {
			count[t]--
			same++
		}
	}
	if same == 0 {
		return 0
	}
	p := float64(same) / float64(len(pred))
	r := float64(same) / float64(len(gt))
	return 2 * p * r / (p + r)
}

// QAF1 is LongBench's qa_f1_score: token F1 of the normalised answers.
func QAF1(pred, gt string) float64 {
	return tokenF1(pyFields(NormalizeAnswer(pred)), pyFields(NormalizeAnswer(gt)))
}

// digitRuns returns the maximal runs of Unicode decimal digits in s, as
// Python's re.findall(r"\d+", s).
func digitRuns(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsDigit(r) })
}

// numberShare is the fraction of digit runs in pred equal to want.
func numberShare(pred, want string) float64 {
	nums := digitRuns(pred)
	if len(nums) == 0 {
		return 0
	}
	right := 0
	for _, n := range nums {
		if n == want {
			right++
		}
	}
	return float64(right) / float64(len(nums))
}

// CountScore is LongBench's count_score (passage_count): the fraction of the
// numbers in pred that equal gt.
func CountScore(pred, gt string) float64 { return numberShare(pred, gt) }

// RetrievalScore is LongBench's retrieval_score (passage_retrieval_en): gt
// reads "Paragraph N"; the fraction of the numbers in pred equal to N.
func RetrievalScore(pred, gt string) float64 { return retrieval(pred, gt, "Paragraph ") }

// RetrievalZhScore is LongBench's retrieval_zh_score: as RetrievalScore with
// gt reading "段落N".
func RetrievalZhScore(pred, gt string) float64 { return retrieval(pred, gt, "段落") }

func retrieval(pred, gt, marker string) float64 {
	// re.findall(marker + r"(\d+)", gt)[0]; LongBench raises when absent.
	for rest := gt; ; {
		i := strings.Index(rest, marker)
		if i < 0 {
			return 0
		}
		rest = rest[i+len(marker):]
		if d := digitPrefix(rest); d != "" {
			return numberShare(pred, d)
		}
	}
}

func digitPrefix(s string) string {
	for i, r := range s {
		if !unicode.IsDigit(r) {
			return s[:i]
		}
	}
	return s
}

// ClassificationScore is LongBench's classification_score (trec, lsht):
// the classes named in pred, less those that are substrings of gt other
// than gt itself, share the credit if gt is among them. It keeps
// LongBench's list-mutation-while-iterating quirk, which skips the element
// after each removal.
func ClassificationScore(pred, gt string, classes []string) float64 {
	var matched []string
	for _, c := range classes {
		if strings.Contains(pred, c) {
			matched = append(matched, c)
		}
	}
	for i := 0; i < len(matched); i++ {
		term := matched[i]
		if strings.Contains(gt, term) && term != gt {
			for j, m := range matched { // list.remove: first occurrence
				if m == term {
					matched = append(matched[:j], matched[j+1:]...)
					break
				}
			}
		}
	}
	for _, m := range matched {
		if m == gt {
			return 1 / float64(len(matched))
		}
	}
	return 0
}
