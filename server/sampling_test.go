package server

import (
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"

	"github.com/thinkv/thinkv/engine"
)

// TestServeSamplingOptions checks that logit_bias and the penalties reach
// the sampler: a +100 bias on one token makes greedy decoding repeat it, a
// frequency penalty changes the greedy text, and out-of-range values are 400s.
func TestServeSamplingOptions(t *testing.T) {
	e := storiesEngine(t)
	ts := newTestServer(t, e, engine.SchedulerConfig{}, nil)
	const forced = 403 // "Once" in stories260K's vocabulary
	p := greedyParams(storyPrompt, 6)
	p.LogitBias = map[string]int64{"403": 100}
	resp := completion(t, ts, p)
	want := strings.Repeat(e.Tok.Piece(forced, forced), 6)
	if got := resp.Choices[0].Text; got != want && got != e.Tok.Piece(-1, forced)+strings.Repeat(e.Tok.Piece(forced, forced), 5) {
		t.Errorf("logit_bias +100 on %d: %q, want the token six times", forced, got)
	}
	plain := completion(t, ts, greedyParams(storyPrompt, 48)).Choices[0].Text
	pen := greedyParams(storyPrompt, 48)
	pen.FrequencyPenalty = openai.Float(2)
	if got := completion(t, ts, pen).Choices[0].Text; got == plain {
		t.Errorf("frequency_penalty 2 left the greedy text unchanged: %q", got)
	}
	for _, body := range []string{
		`{"prompt": "x", "frequency_penalty": 3}`,
		`{"prompt": "x", "presence_penalty": -2.5}`,
		`{"prompt": "x", "logit_bias": {"x": 1}}`,
		`{"prompt": "x", "logit_bias": {"999999": 1}}`,
		`{"prompt": "x", "logit_bias": {"5": 101}}`,
		`{"prompt": "x", "min_p": 1.5}`,
	} {
		status, out := ts.post(t, "/v1/completions", body)
		wantError(t, status, out, 400, "")
	}
}
