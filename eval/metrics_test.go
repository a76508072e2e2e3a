package eval

import (
	"math"
	"strings"
	"testing"
)

// The expected values below are worked out by hand from the reference
// implementations (LongBench metrics.py, pltrdy/rouge 1.0.1, difflib,
// RULER's evaluate.py); the comments show the arithmetic.

func approxEq(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestNormalizeAnswer(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"The Cat's  hat, an apple!", "cats hat apple"},
		{"a-n the_end", "theend"}, // punctuation ("-", "_") goes first: "an" is then an article
		{"éa the", "éa"},          // é is a word character: "éa" is not the article "a"
		{"  Theatre  ", "theatre"},
		{"", ""},
	} {
		if got := NormalizeAnswer(c.in); got != c.want {
			t.Errorf("NormalizeAnswer(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestQAF1(t *testing.T) {
	for _, c := range []struct {
		pred, gt string
		want     float64
	}{
		// pred: cat sat on mat; gt: cat on mat; overlap 3: P 3/4, R 1.
		{"The cat sat on the mat.", "a cat on a mat", 2 * 0.75 / 1.75},
		// multiset overlap: y twice; P 2/3, R 2/3.
		{"x y y", "y y z", 2.0 / 3},
		{"Paris", "paris!", 1},
		{"London", "Paris", 0},
		{"the", "a", 0}, // both normalise to nothing
	} {
		if got := QAF1(c.pred, c.gt); !approxEq(got, c.want) {
			t.Errorf("QAF1(%q, %q) = %v, want %v", c.pred, c.gt, got, c.want)
		}
	}
}

func TestRougeL(t *testing.T) {
	for _, c := range []struct {
		pred, gt string
		want     float64
	}{
		// One sentence each; distinct words 5 and 5; the LCS "the cat on
		// the mat" holds 4 distinct words: P = R = 4/5.
		{"the cat sat on the mat", "the cat is on the mat", 2 * 0.64 / (1.6 + 1e-8)},
		// Sentences split on ".": refs [a c], [b d]; hyps [a b], [c d]; the
		// union of LCS words is {a, c, b, d}: P = R = 1.
		{"a b. c d", "a c. b d", 2 / (2 + 1e-8)},
		// The tie-break: LCS([x y], [y x]) reconstructs "y" (left, not
		// up, on a tie), so with the second ref sentence [x] the union is
		// {x, y}: P = R = 1. Choosing "x" would give 0.5.
		{"y x", "x y. x", 2 / (2 + 1e-8)},
		// Case-sensitive: only "world" is shared: P = R = 1/2.
		{"Hello world.", "hello world", 0.5 / (1 + 1e-8)},
		// Distinct words: "the the the" has n = 1.
		{"the the the", "the", 2 / (2 + 1e-8)},
		// ". ." leaves a whitespace sentence, one empty word: n = 3, m = 2,
		// overlap 2: P 2/3, R 1.
		{"a. . b", "a b", 2 * (2.0 / 3) / (2.0/3 + 1 + 1e-8)},
		// The package raises on an empty hypothesis; LongBench scores 0.
		{"", "x", 0},
		{"...", "x", 0},
		{" ", "x", 0},
	} {
		if got := RougeL(c.pred, c.gt); !approxEq(got, c.want) {
			t.Errorf("RougeL(%q, %q) = %v, want %v", c.pred, c.gt, got, c.want)
		}
	}
}

func TestFuzzRatioAndCodeSim(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want float64 // SequenceRatio
		fuzz int
	}{
		{"abcd", "abce", 6.0 / 8, 75},
		// One match in 16 characters: 12.5 rounds half to even: 12.
		{"abcdefgh", "aijklmno", 2.0 / 16, 12},
		// autojunk: b has 200 elements, so "a" and "b" (100 each) are
		// popular and cannot start a match; the empty match at (0, 0) is
		// still extended over equal neighbours: 2 matches.
		{"ab", strings.Repeat("ab", 100), 4.0 / 202, 2},
		// ... but here the neighbours differ: no match at all (difflib
		// without autojunk would find one of length 2).
		{"ba", strings.Repeat("ab", 100), 0, 0},
		{"é x", "e x", 4.0 / 6, 67}, // code points, not bytes
	} {
		if got := SequenceRatio(c.a, c.b); !approxEq(got, c.want) {
			t.Errorf("SequenceRatio(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := FuzzRatio(c.a, c.b); got != c.fuzz {
			t.Errorf("FuzzRatio(%q, %q) = %d, want %d", c.a, c.b, got, c.fuzz)
		}
	}
	if FuzzRatio("", "") != 100 || FuzzRatio("a", "") != 0 {
		t.Error("FuzzRatio edge cases")
	}
	for _, c := range []struct {
		pred, gt string
		want     float64
	}{
		{"\n```python\n# set x\nx = 1\ny = 2", "x = 1", 1}, // skips fence and comment
		{"// note\nreturn abcd;", "return abce;", 0.92},    // 2·11/24 = 91.7 → 92
		{"# only comments\n// here", "x", 0},               // no line qualifies: ""
	} {
		if got := CodeSimScore(c.pred, c.gt); !approxEq(got, c.want) {
			t.Errorf("CodeSimScore(%q, %q) = %v, want %v", c.pred, c.gt, got, c.want)
		}
	}
}

func TestCountRetrievalClassification(t *testing.T) {
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"count 3 of 3,4,3", CountScore("There are 3 unique paragraphs, not 4 or 3.", "3"), 2.0 / 3},
		{"count none", CountScore("I don't know", "3"), 0},
		{"count 12 is not 1", CountScore("12", "1"), 0},
		{"retrieval exact", RetrievalScore("Paragraph 12", "Paragraph 12"), 1},
		{"retrieval half", RetrievalScore("Paragraph 12, not Paragraph 1", "Paragraph 12"), 0.5},
		{"retrieval zh", RetrievalZhScore("段落3", "段落3"), 1},
		{"retrieval no id", RetrievalScore("Paragraph 1", "none"), 0},
		{"class exact", ClassificationScore("Human", "Human", []string{"Location", "Human", "Entity"}), 1},
		{"class two", ClassificationScore("Location or Human", "Human", []string{"Location", "Human", "Entity"}), 0.5},
		{"class wrong", ClassificationScore("Entity", "Human", []string{"Location", "Human", "Entity"}), 0},
		// matched [city, state, city state]; removing "city" (a substring
		// of the answer) makes Python's loop skip "state": 1/2, not 1.
		{"class quirk", ClassificationScore("city state", "city state", []string{"city", "country", "state", "city state"}), 0.5},
	} {
		if !approxEq(c.got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestStringMatchAndRouge1(t *testing.T) {
	if got := StringMatchAll("The numbers are 123 and 456.", []string{"123", "456", "789"}); !approxEq(got, 2.0/3) {
		t.Errorf("StringMatchAll = %v", got)
	}
	if got := StringMatchAll("APPLE-PIE", []string{"apple-pie"}); got != 1 {
		t.Errorf("StringMatchAll is case-insensitive: %v", got)
	}
	if StringMatchPart("it is 456", []string{"123", "456"}) != 1 || StringMatchPart("none", []string{"123"}) != 0 {
		t.Error("StringMatchPart")
	}
	if got := RulerPostprocess("  a\tb\x01c \n"); got != "a\nb\nc" {
		t.Errorf("RulerPostprocess = %q", got)
	}
	// Needle tokens (21): the best thing to do in san francisco is eat a
	// sandwich and sit in dolores park on a sunny day. The answer supplies
	// in, eat, a, sandwich, dolores, park once each: 6/21.
	if got := ROUGE1Recall(DefaultNeedle, "Eat a sandwich in Dolores-Park!"); !approxEq(got, 6.0/21) {
		t.Errorf("ROUGE1Recall = %v, want 6/21", got)
	}
	if got := ROUGE1Recall(DefaultNeedle, DefaultNeedle); got != 1 {
		t.Errorf("ROUGE1Recall(needle, needle) = %v", got)
	}
}

func TestChineseApproximations(t *testing.T) {
	if got := QAF1Zh("北京。", "北京"); got != 1 {
		t.Errorf("QAF1Zh = %v", got)
	}
	// Characters 北 京 大 学 against 北 京: P 1/2, R 1.
	if got := QAF1Zh("北京大学", "北京"); !approxEq(got, 2.0/3) {
		t.Errorf("QAF1Zh = %v", got)
	}
	if got := RougeLZh("北京大学", "北京大学"); !approxEq(got, 2/(2+1e-8)) {
		t.Errorf("RougeLZh = %v", got)
	}
}

func TestLongBenchScore(t *testing.T) {
	classes := []string{"Location", "Human", "Entity"}
	// trec scores the first line only, after leading newlines.
	if got := LongBenchScore("trec", "\nHuman\nLocation", []string{"Human"}, classes); got != 1 {
		t.Errorf("trec first line: %v", got)
	}
	// Max over references.
	if got := LongBenchScore("hotpotqa", "Paris", []string{"London", "Paris"}, nil); got != 1 {
		t.Errorf("max over answers: %v", got)
	}
	// hotpotqa does not cut lines: "Paris\nFrance" vs "Paris" has P 1/2.
	if got := LongBenchScore("hotpotqa", "Paris\nFrance", []string{"Paris"}, nil); !approxEq(got, 2.0/3) {
		t.Errorf("hotpotqa: %v", got)
	}
	if got := LongBenchScore("passage_count_e", "7", []string{"7"}, nil); got != 1 {
		t.Errorf("LongBench-E name: %v", got)
	}
	if len(longBenchMetrics) != 21 {
		t.Errorf("%d datasets in dataset2metric, want 21", len(longBenchMetrics))
	}
}
