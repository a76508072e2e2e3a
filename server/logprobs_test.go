package server

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/thinkv/thinkv/engine"
)

// engineLogprobs runs a greedy request with k alternatives on the
// scheduler and returns its token events.
func engineLogprobs(t *testing.T, s *engine.Scheduler, prompt []int, n, k int) []engine.Event {
	t.Helper()
	st, err := s.Submit(context.Background(), engine.Request{Prompt: prompt, MaxNew: n, Sampling: engine.Sampling{Temp: 0},
		Logprobs: k, LogprobChosen: true})
	if err != nil {
		t.Fatal(err)
	}
	var evs []engine.Event
	for ev, ok := st.Next(); ok && !ev.Done; ev, ok = st.Next() {
		evs = append(evs, ev)
	}
	return evs
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6 }

// TestServeCompletionLogprobs checks the legacy logprobs of a greedy
// completion against the engine's events: the tokens, their logprobs and
// offsets, the top alternatives (the best being the chosen token), the same
// over a stream, and out-of-range values refused.
func TestServeCompletionLogprobs(t *testing.T) {
	e := storiesEngine(t)
	ts := newTestServer(t, e, engine.SchedulerConfig{}, nil)
	const n, k = 16, 3
	evs := engineLogprobs(t, ts.sched, e.Tok.Encode(storyPrompt, e.Tok.AddBOS()), n, k)
	if len(evs) < n/2 {
		t.Fatalf("the engine made only %d tokens", len(evs))
	}
	p := greedyParams(storyPrompt, n)
	p.Logprobs = openai.Int(k)
	resp := completion(t, ts, p)
	ch := resp.Choices[0]
	lp := ch.Logprobs
	if len(lp.Tokens) != len(evs) || len(lp.TokenLogprobs) != len(evs) || len(lp.TopLogprobs) != len(evs) || len(lp.TextOffset) != len(evs) {
		t.Fatalf("%d tokens, %d logprobs, %d tops, %d offsets; the engine made %d tokens",
			len(lp.Tokens), len(lp.TokenLogprobs), len(lp.TopLogprobs), len(lp.TextOffset), len(evs))
	}
	if strings.Join(lp.Tokens, "") != ch.Text {
		t.Errorf("tokens %q do not make the text %q", lp.Tokens, ch.Text)
	}
	off := 0
	for i, ev := range evs {
		if lp.Tokens[i] != ev.Piece || !near(lp.TokenLogprobs[i], float64(ev.Logprob)) || int(lp.TextOffset[i]) != off {
			t.Errorf("token %d: %q %g at %d, want the engine's %q %g at %d", i, lp.Tokens[i], lp.TokenLogprobs[i], lp.TextOffset[i], ev.Piece, ev.Logprob, off)
		}
		off += len(ev.Piece)
		top := lp.TopLogprobs[i]
		if len(top) == 0 || len(top) > k {
			t.Fatalf("token %d: %d alternatives, want up to %d", i, len(top), k)
		}
		best, bestLP := "", math.Inf(-1)
		for text, v := range top {
			if v > bestLP {
				best, bestLP = text, v
			}
		}
		if best != lp.Tokens[i] || !near(bestLP, lp.TokenLogprobs[i]) {
			t.Errorf("token %d: best alternative %q %g, greedy chose %q %g", i, best, bestLP, lp.Tokens[i], lp.TokenLogprobs[i])
		}
	}

	// Streamed: each chunk's logprobs cover its tokens, together the same.
	p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	text, chunks := streamCompletion(t, ts, p)
	var toks []string
	var lps []float64
	var offs []int64
	for _, c := range chunks {
		for _, ch := range c.Choices {
			toks = append(toks, ch.Logprobs.Tokens...)
			lps = append(lps, ch.Logprobs.TokenLogprobs...)
			offs = append(offs, ch.Logprobs.TextOffset...)
		}
	}
	if text != ch.Text || strings.Join(toks, "") != strings.Join(lp.Tokens, "") || len(lps) != len(lp.TokenLogprobs) || len(offs) != len(lps) {
		t.Fatalf("stream: %q tokens %q, want %q %q", text, toks, ch.Text, lp.Tokens)
	}
	for i := range lps {
		if lps[i] != lp.TokenLogprobs[i] || offs[i] != lp.TextOffset[i] {
			t.Errorf("stream token %d: %g at %d, want %g at %d", i, lps[i], offs[i], lp.TokenLogprobs[i], lp.TextOffset[i])
		}
	}

	// logprobs 0: the chosen tokens' only; none asked: null.
	p = greedyParams(storyPrompt, n)
	p.Logprobs = openai.Int(0)
	lp0 := completion(t, ts, p).Choices[0].Logprobs
	if len(lp0.TokenLogprobs) != len(evs) || len(lp0.TopLogprobs) != len(evs) || len(lp0.TopLogprobs[0]) != 0 || lp0.TokenLogprobs[0] != lp.TokenLogprobs[0] {
		t.Errorf("logprobs 0: %+v", lp0)
	}
	if raw := completion(t, ts, greedyParams(storyPrompt, 4)).Choices[0].JSON.Logprobs.Raw(); raw != "null" {
		t.Errorf("logprobs not asked: %s", raw)
	}

	for _, body := range []string{
		`{"prompt": "x", "logprobs": 6}`,
		`{"prompt": "x", "logprobs": -1}`,
		`{"prompt": "x", "logprobs": true}`,
		`{"prompt": "x", "logprobs": 1.5}`,
	} {
		status, out := ts.post(t, "/v1/completions", body)
		wantError(t, status, out, 400, "logprobs")
	}
	waitIdle(t, ts.sched)
}

// TestServeChatLogprobs checks the chat's logprobs.content of a greedy
// reply: its tokens make the text, the best alternative is the chosen token,
// bytes are the token's, the stream carries the same, and top_logprobs out
// of range or without logprobs is a 400.
func TestServeChatLogprobs(t *testing.T) {
	e := storiesEngine(t)
	ts := newTestServer(t, e, engine.SchedulerConfig{}, nil)
	const k = 4
	p := openai.ChatCompletionNewParams{Model: "stories260K", Messages: []openai.ChatCompletionMessageParamUnion{
		openai.UserMessage("Tell me about a cat")}, MaxCompletionTokens: openai.Int(20), Temperature: openai.Float(0),
		Logprobs: openai.Bool(true), TopLogprobs: openai.Int(k)}
	c := ts.client()
	resp, err := c.Chat.Completions.New(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	content := resp.Choices[0].Logprobs.Content
	if len(content) < 5 {
		t.Fatalf("only %d tokens' logprobs", len(content))
	}
	var b strings.Builder
	for i, tok := range content {
		b.WriteString(tok.Token)
		if string(bytesOf(tok.Bytes)) != tok.Token {
			t.Errorf("token %d: bytes %v, text %q", i, tok.Bytes, tok.Token)
		}
		if len(tok.TopLogprobs) != k {
			t.Fatalf("token %d: %d alternatives, want %d", i, len(tok.TopLogprobs), k)
		}
		if top := tok.TopLogprobs[0]; top.Token != tok.Token || top.Logprob != tok.Logprob {
			t.Errorf("token %d: best alternative %q %g, greedy chose %q %g", i, top.Token, top.Logprob, tok.Token, tok.Logprob)
		}
		for j := 1; j < k; j++ {
			if tok.TopLogprobs[j].Logprob > tok.TopLogprobs[j-1].Logprob {
				t.Errorf("token %d: alternatives not sorted: %+v", i, tok.TopLogprobs)
			}
		}
	}
	if len(content) != int(resp.Usage.CompletionTokens) || b.String() != resp.Choices[0].Message.Content {
		t.Errorf("%d logprobs making %q for %d tokens of %q", len(content), b.String(), resp.Usage.CompletionTokens, resp.Choices[0].Message.Content)
	}

	st := c.Chat.Completions.NewStreaming(context.Background(), p)
	var streamed []openai.ChatCompletionTokenLogprob
	for st.Next() {
		for _, ch := range st.Current().Choices {
			streamed = append(streamed, ch.Logprobs.Content...)
		}
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if len(streamed) != len(content) {
		t.Fatalf("%d streamed logprobs, want %d", len(streamed), len(content))
	}
	for i := range streamed {
		if streamed[i].Token != content[i].Token || streamed[i].Logprob != content[i].Logprob || len(streamed[i].TopLogprobs) != k {
			t.Errorf("streamed token %d: %+v, want %+v", i, streamed[i], content[i])
		}
	}

	// logprobs alone: no alternatives.
	p.TopLogprobs = openai.Int(0)
	if resp, err = c.Chat.Completions.New(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Logprobs.Content; len(got) != len(content) || len(got[0].TopLogprobs) != 0 || got[0].Logprob != content[0].Logprob {
		t.Errorf("top_logprobs 0: %+v", got)
	}

	for _, body := range []string{
		`{"messages": [{"role": "user", "content": "a"}], "logprobs": true, "top_logprobs": 21}`,
		`{"messages": [{"role": "user", "content": "a"}], "logprobs": true, "top_logprobs": -1}`,
		`{"messages": [{"role": "user", "content": "a"}], "top_logprobs": 2}`,
		`{"messages": [{"role": "user", "content": "a"}], "logprobs": 2}`,
	} {
		status, out := ts.post(t, "/v1/chat/completions", body)
		wantError(t, status, out, 400, "logprobs")
	}
	waitIdle(t, ts.sched)
}

func bytesOf(b []int64) []byte {
	out := make([]byte, len(b))
	for i, v := range b {
		out[i] = byte(v)
	}
	return out
}
