package eval

import (
	"strings"
	"unicode"
)

// rougeSentences splits text as the `rouge` package (pltrdy/rouge 1.0.1)
// does: on ".", dropping empty pieces, each piece's whitespace collapsed.
// A piece of only whitespace survives as "", which counts as one empty word.
func rougeSentences(text string) [][]string {
	var out [][]string
	for _, piece := range strings.Split(text, ".") {
		if piece == "" {
			continue
		}
		out = append(out, strings.Split(strings.Join(pyFields(piece), " "), " "))
	}
	return out
}

// RougeL is the ROUGE-L F score of LongBench's rouge_score: the `rouge`
// package's summary-level ROUGE-L with its default exclusive=True, that is,
// union-LCS over sentences counted as sets of distinct words, case-sensitive,
// words split on spaces and sentences on ".". It returns 0 where the package
// raises (an empty hypothesis or reference), as LongBench does.
func RougeL(pred, gt string) float64 {
	hyp, ref := rougeSentences(pred), rougeSentences(gt)
	if len(hyp) == 0 || len(ref) == 0 {
		return 0
	}
	m, n := distinctWords(ref), distinctWords(hyp)
	union := map[string]bool{}
	for _, r := range ref {
		for _, h := range hyp {
			for _, w := range lcsWords(r, h) {
				union[w] = true
			}
		}
	}
	llcs := float64(len(union))
	rec, prec := llcs/float64(m), llcs/float64(n)
	return 2 * (prec * rec) / (prec + rec + 1e-8)
}

func distinctWords(sents [][]string) int {
	set := map[string]bool{}
	for _, s := range sents {
		for _, w := range s {
			set[w] = true
		}
	}
	return len(set)
}

// lcsWords returns the words of x on one longest common subsequence of x and
// y, reconstructed with the package's tie-break (up when strictly longer,
// else left), which decides which words a tie contributes.
func lcsWords(x, y []string) []string {
	n, m := len(x), len(y)
	t := make([][]int32, n+1)
	for i := range t {
		t[i] = make([]int32, m+1)
	}
	for i := 1; i <= n; i++ {
		for j := 1; j <= m; j++ {
			switch {
			case x[i-1] == y[j-1]:
				t[i][j] = t[i-1][j-1] + 1
			case t[i-1][j] >= t[i][j-1]:
				t[i][j] = t[i-1][j]
			default:
				t[i][j] = t[i][j-1]
			}
		}
	}
	var out []string
	for i, j := n, m; i > 0 && j > 0; {
		switch {
		case x[i-1] == y[j-1]:
			out = append(out, x[i-1])
			i, j = i-1, j-1
		case t[i-1][j] > t[i][j-1]:
			i--
		default:
			j--
		}
	}
	return out
}

// rougeTokens tokenizes as Google's rouge_score does without stemming:
// lower-case, every character outside [a-z0-9] a separator.
func rougeTokens(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
}

// ROUGE1Recall is the ROUGE-1 recall of candidate against reference, the
// NIAH score of the KV-cache papers: the share of the reference's unigrams
// (counted with multiplicity, clipped) found in candidate, tokenized as
// Google's rouge_score without its optional Porter stemmer.
func ROUGE1Recall(reference, candidate string) float64 {
	ref := rougeTokens(reference)
	if len(ref) == 0 {
		return 0
	}
	have := map[string]int{}
	for _, t := range rougeTokens(candidate) {
		have[t]++
	}
	hit := 0
	for _, t := range ref {
		if have[t] > 0 {
			have[t]--
			hit++
		}
	}
	return float64(hit) / float64(len(ref))
}

// zhPunctuation is LongBench's Chinese punctuation list for normalize_zh_answer.
const zhPunctuation = "！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏."

// zhSegment stands in for jieba.cut: every Han character is a word, and so
// is every run of other non-space characters. This is an approximation:
// jieba groups Han characters into dictionary words.
func zhSegment(s string) []string {
	var out []string
	var run []rune
	flush := func() {
		if len(run) > 0 {
			out = append(out, string(run))
			run = run[:0]
		}
	}
	for _, r := range s {
		switch {
		case pyIsSpace(r):
			flush()
		case unicode.Is(unicode.Han, r) || strings.ContainsRune(zhPunctuation, r):
			flush()
			out = append(out, string(r))
		default:
			run = append(run, r)
		}
	}
	flush()
	return out
}

// normalizeZh is LongBench's normalize_zh_answer: lower-case, drop ASCII and
// Chinese punctuation, drop whitespace.
func normalizeZh(s string) string {
	return strings.Map(func(r rune) rune {
		if pyIsSpace(r) || (r < 0x80 && strings.ContainsRune(pyPunctuation, r)) || strings.ContainsRune(zhPunctuation, r) {
			return -1
		}
		return r
	}, strings.ToLower(s))
}

// QAF1Zh approximates LongBench's qa_f1_zh_score (multifieldqa_zh): token F1
// over normalised words, with zhSegment in place of jieba.
func QAF1Zh(pred, gt string) float64 {
	norm := func(s string) []string {
		var out []string
		for _, t := range zhSegment(s) {
			if t = normalizeZh(t); t != "" {
				out = append(out, t)
			}
		}
		return out
	}
	return tokenF1(norm(pred), norm(gt))
}

// RougeLZh approximates LongBench's rouge_zh_score (dureader, vcsum): RougeL
// over space-joined words, with zhSegment in place of jieba.
func RougeLZh(pred, gt string) float64 {
	return RougeL(strings.Join(zhSegment(pred), " "), strings.Join(zhSegment(gt), " "))
}
