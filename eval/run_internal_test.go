package eval

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/internal/sharedtest"
)

// TestPromptSplit checks that the query-agnostic split ends within the
// context, at the last token that does not cross into the question.
func TestPromptSplit(t *testing.T) {
	dir := sharedtest.Dir(t)
	e, err := engine.Load(dir+"/models/stories260K/stories260K.bin", dir+"/models/stories260K/tok512.bin", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, s := range []Sample{
		{Context: "Once upon a time there was a cat.", Question: "\nWhat was there?", AnswerPrefix: " Answer:"},
		{Context: "Lily had a ball", Question: "oon. What did Lily have?"}, // a token may straddle the boundary
		{Context: "", Question: "Who?"},
	} {
		ids, split := promptTokens(e, s)
		ctx := e.Tok.Decode(ids[:split])
		if !strings.HasPrefix(s.Context, ctx) || split < 1 || split >= len(ids) {
			t.Errorf("%q: split %d of %d gives context %q", s.Context, split, len(ids), ctx)
		}
		if more := e.Tok.Decode(ids[:split+1]); strings.HasPrefix(s.Context, more) && len(more) > len(ctx) {
			t.Errorf("%q: split %d stops early: %q still lies in the context", s.Context, split, more)
		}
		if got := e.Tok.Decode(ids); got != s.Context+s.Question+s.AnswerPrefix {
			t.Errorf("tokens decode to %q", got)
		}
	}
}

// TestProgress checks the bar's text with a fake clock.
func TestProgress(t *testing.T) {
	var b bytes.Buffer
	now := time.Unix(0, 0)
	p := &Progress{w: &b, total: 4, now: func() time.Time { return now }}
	p.start = now
	now = now.Add(2 * time.Second)
	p.Step("niah L1")
	if s := b.String(); !strings.Contains(s, "1/4  25% ETA 6s niah L1") || !strings.HasPrefix(s, "\r[=======") {
		t.Errorf("%q", s)
	}
	for range 3 {
		p.Step("x")
	}
	p.Finish()
	if s := b.String(); !strings.Contains(s, "4/4 100% ETA 0s x") || !strings.HasSuffix(s, "\n") {
		t.Errorf("%q", s)
	}
}

func TestNearest(t *testing.T) {
	for _, tc := range []struct {
		lengths []int
		n, want int
	}{
		{[]int{1536, 2000}, 1323, 1536},
		{[]int{1536, 2000}, 2001, 2000},
		{[]int{1536, 2000}, 1768, 2000},
		{[]int{2000, 1536}, 1768, 2000},
		{nil, 77, 77},
	} {
		if got := nearest(tc.lengths, tc.n); got != tc.want {
			t.Errorf("nearest(%v, %d) = %d, want %d", tc.lengths, tc.n, got, tc.want)
		}
	}
}

func TestCutMiddle(t *testing.T) {
	ids := []int{1, 10, 11, 12, 13, 14, 15, 20, 21}
	got, split, cut := cutMiddle(ids, 7, 3)
	if !slices.Equal(got, []int{1, 10, 11, 15, 20, 21}) || split != 4 || cut != 3 {
		t.Errorf("got %v, split %d, cut %d", got, split, cut)
	}
	// Never more than the context, and BOS stays.
	got, split, cut = cutMiddle(ids, 3, 10)
	if !slices.Equal(got, []int{1, 12, 13, 14, 15, 20, 21}) || split != 1 || cut != 2 {
		t.Errorf("got %v, split %d, cut %d", got, split, cut)
	}
}
