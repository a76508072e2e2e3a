package eval

import (
	"reflect"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/internal/sharedtest"
)

func TestSplitSentences(t *testing.T) {
	got := splitSentences(`He met Mr. Smith in the U.S. at 5 p.m. yesterday. "Why?" she asked. It was J. Doe! Then (briefly) 3 more. e.g. this`)
	want := []string{
		"He met Mr. Smith in the U.S. at 5 p.m. yesterday.",
		`"Why?" she asked.`,
		"It was J. Doe!",
		"Then (briefly) 3 more. e.g. this",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("splitSentences:\n got %q\nwant %q", got, want)
	}
}

// TestNIAHDepth checks that the needle is a whole sentence of the haystack,
// placed at the sentence boundary at or before the depth's token fraction:
// the haystack tokens before it are at most that fraction, and adding the
// sentence after it passes the fraction.
func TestNIAHDepth(t *testing.T) {
	tok := sharedLlama2Tok(t)
	task := NewNIAH()
	task.Depths = []float64{0, 10, 25, 50, 75, 90, 100}
	opts := Options{Lengths: []int{600, 2500}, DataDir: sharedtest.Path(t, "data/niah_paulgraham")}
	samples, err := task.Samples(tok, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 2*len(task.Depths) {
		t.Fatalf("%d samples, want %d", len(samples), 2*len(task.Depths))
	}
	ntok := func(s string) int { return len(tok.Encode(s, false)) }
	for _, s := range samples {
		L := opts.Lengths[0]
		if !strings.HasPrefix(s.ID, "L600-") {
			L = opts.Lengths[1]
		}
		if got := promptLen(tok, s.Context+s.Question+s.AnswerPrefix); s.Length != L || got > L || got < L-60 {
			t.Errorf("%s: %d prompt tokens (Length %d), want at most %d and close to it", s.ID, got, s.Length, L)
		}
		if !strings.HasPrefix(s.Context, niahHead) || !strings.HasSuffix(s.Context, niahTail) {
			t.Fatalf("%s: context not wrapped: %.80q", s.ID, s.Context)
		}
		hay := strings.TrimSuffix(strings.TrimPrefix(s.Context, niahHead), niahTail)
		i := strings.Index(hay, DefaultNeedle)
		if i < 0 || strings.Count(hay, DefaultNeedle) != 1 {
			t.Fatalf("%s: needle missing or repeated", s.ID)
		}
		before := strings.TrimSuffix(hay[:i], " ")
		after := strings.TrimPrefix(hay[i+len(DefaultNeedle):], " ")
		if before != "" && !strings.ContainsAny(before[len(before)-1:], `.!?"')]`) {
			t.Errorf("%s: needle not at a sentence boundary: …%q", s.ID, before[max(0, len(before)-40):])
		}
		total := ntok(before) + ntok(after)
		frac := s.Depth / 100 * float64(total)
		pos := ntok(before)
		next := 0
		if sents := splitSentences(after); len(sents) > 0 {
			next = ntok(sents[0])
		}
		// Token counts of a sentence alone and in context differ by a
		// token or so at the joins.
		if float64(pos) > frac+2 || (after != "" && float64(pos+next) < frac-2) {
			t.Errorf("%s: needle after %d of %d haystack tokens (next sentence %d), want the boundary at or before %.0f",
				s.ID, pos, total, next, frac)
		}
		if s.Depth == 0 && before != "" || s.Depth == 100 && after != "" {
			t.Errorf("%s: needle not at the end", s.ID)
		}
	}
}

func TestNIAHSamplesAndScore(t *testing.T) {
	tok := sharedTok512(t)
	task := NewNIAH()
	task.Depths = []float64{50}
	opts := Options{Lengths: []int{400}, Samples: 2, Seed: 7, DataDir: sharedtest.Path(t, "data/niah_paulgraham/PaulGrahamEssays")}
	a, err := task.Samples(tok, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := task.Samples(tok, opts)
	if !reflect.DeepEqual(a, b) {
		t.Error("samples differ between calls with one seed")
	}
	if len(a) != 2 || a[0].Context == a[1].Context {
		t.Fatalf("want 2 different haystacks, got %d", len(a))
	}
	if !strings.Contains(a[0].Context, "July 2010What hard liquor") {
		t.Error("sample 0 should start at the first essay")
	}
	s := a[0]
	if s.Question != "Based on the content of the book, Question: What is the best thing to do in San Francisco?\n" ||
		s.AnswerPrefix != "Answer:" || s.Task != "niah" || s.Depth != 50 || s.MaxNew < 32 {
		t.Errorf("sample fields: %+v", s)
	}
	for pred, want := range map[string]float64{
		" Eat a sandwich and sit in dolores park on a sunny day.": 1,
		"Eat a sandwich.":                             0,
		"DOLORES PARK, with a SANDWICH":               1,
		"The best thing to do in San Francisco is...": 0,
	} {
		if got := task.Score(s, pred); got != want {
			t.Errorf("Score(%q) = %v, want %v", pred, got, want)
		}
	}
	if m := task.Metrics(s, DefaultNeedle); m["rouge1_recall"] != 1 {
		t.Errorf("Metrics = %v", m)
	}
	// A custom needle without key facts is scored by ROUGE-1 recall.
	custom := &NIAH{Needle: "The secret code is blue falcon.", Depths: []float64{50}}
	cs, err := custom.Samples(tok, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cs[0].Context, "The secret code is blue falcon.") {
		t.Error("custom needle missing")
	}
	if got := custom.Score(cs[0], "blue falcon"); !approxEq(got, 2.0/6) {
		t.Errorf("custom Score = %v, want 2/6", got)
	}
	if _, err := task.Samples(tok, Options{Lengths: []int{20}, DataDir: opts.DataDir}); err == nil {
		t.Error("no error for a length shorter than the prompt")
	}
}
