package server

import (
	"context"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/internal/sharedtest"
)

const storyPrompt = "Once upon a time, there was a little girl"

func completion(t *testing.T, ts *testServer, p openai.CompletionNewParams, opts ...option.RequestOption) *openai.Completion {
	t.Helper()
	c := ts.client()
	resp, err := c.Completions.New(context.Background(), p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func streamCompletion(t *testing.T, ts *testServer, p openai.CompletionNewParams) (string, []openai.Completion) {
	t.Helper()
	c := ts.client()
	st := c.Completions.NewStreaming(context.Background(), p)
	var b strings.Builder
	var chunks []openai.Completion
	for st.Next() {
		ch := st.Current()
		chunks = append(chunks, ch)
		for _, c := range ch.Choices {
			b.WriteString(c.Text)
		}
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String(), chunks
}

func greedyParams(prompt string, n int64) openai.CompletionNewParams {
	return openai.CompletionNewParams{Model: "stories260K", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String(prompt)},
		MaxTokens: openai.Int(n), Temperature: openai.Float(0)}
}

func TestServeCompletionGreedyMatchesGenerate(t *testing.T) {
	e := storiesEngine(t)
	ts := newTestServer(t, e, engine.SchedulerConfig{}, nil)
	ids := e.Tok.Encode(storyPrompt, e.Tok.AddBOS())
	want, toks := greedy(t, e, ids, 48)
	resp := completion(t, ts, greedyParams(storyPrompt, 48))
	if got := resp.Choices[0].Text; got != want {
		t.Fatalf("text %q, want engine.Generate's %q", got, want)
	}
	u := resp.Usage
	if int(u.PromptTokens) != len(ids) || int(u.CompletionTokens) != len(toks) || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("usage %+v, want %d prompt and %d completion tokens", u, len(ids), len(toks))
	}
	if f := resp.Choices[0].FinishReason; (len(toks) == 48) != (f == "length") {
		t.Errorf("finish_reason %q after %d tokens", f, len(toks))
	}
	kv := u.JSON.ExtraFields["thinkv"].Raw()
	if !strings.Contains(kv, `"kv_bytes":`) || !strings.Contains(kv, `"kv_bytes_full":`) {
		t.Errorf("usage.thinkv = %s", kv)
	}

	// The token-array prompt gives the same text.
	arr := make([]int64, len(ids))
	for i, id := range ids {
		arr[i] = int64(id)
	}
	p := greedyParams("", 48)
	p.Prompt = openai.CompletionNewParamsPromptUnion{OfArrayOfTokens: arr}
	if got := completion(t, ts, p).Choices[0].Text; got != want {
		t.Errorf("token-array prompt: text %q, want %q", got, want)
	}

	// Streamed chunks concatenate to the same text, and usage comes last.
	p = greedyParams(storyPrompt, 48)
	p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	got, chunks := streamCompletion(t, ts, p)
	if got != want {
		t.Errorf("streamed text %q, want %q", got, want)
	}
	last := chunks[len(chunks)-1]
	if len(chunks) < 3 || len(last.Choices) != 0 || last.Usage.CompletionTokens != int64(len(toks)) {
		t.Errorf("%d chunks, last %+v: want text chunks, then usage with %d tokens", len(chunks), last, len(toks))
	}
	waitIdle(t, ts.sched)
}

func TestServeCompletionStop(t *testing.T) {
	e := storiesEngine(t)
	ts := newTestServer(t, e, engine.SchedulerConfig{}, nil)
	ids := e.Tok.Encode(storyPrompt, e.Tok.AddBOS())
	full, toks := greedy(t, e, ids, 64)
	// A stop string from the middle of the greedy text: a word that appears.
	words := strings.Fields(full)
	if len(words) < 6 {
		t.Fatalf("greedy text too short: %q", full)
	}
	stop := " " + words[4]
	cut := full[:strings.Index(full, stop)]
	p := greedyParams(storyPrompt, 64)
	p.Stop = openai.CompletionNewParamsStopUnion{OfStringArray: []string{"never-there", stop}}
	resp := completion(t, ts, p)
	if got := resp.Choices[0].Text; got != cut || resp.Choices[0].FinishReason != "stop" {
		t.Fatalf("text %q (%s), want %q (stop) before stop %q", got, resp.Choices[0].FinishReason, cut, stop)
	}
	got, chunks := streamCompletion(t, ts, p)
	if got != cut {
		t.Errorf("streamed text %q, want %q", got, cut)
	}
	for _, c := range chunks {
		if len(c.Choices) > 0 && strings.Contains(c.Choices[0].Text, strings.TrimSpace(stop)) && !strings.Contains(cut, c.Choices[0].Text) {
			t.Errorf("chunk %q sends part of the stop string", c.Choices[0].Text)
		}
	}

	// A stop token id ends the text before its piece.
	k := 5
	resp = completion(t, ts, greedyParams(storyPrompt, 64), option.WithJSONSet("stop", []int{toks[k]}))
	want := pieces(e, ids[len(ids)-1], toks[:slicesIndex(toks, toks[k])])
	if got := resp.Choices[0].Text; got != want || resp.Choices[0].FinishReason != "stop" {
		t.Errorf("stop token %d: text %q (%s), want %q", toks[k], got, resp.Choices[0].FinishReason, want)
	}
	waitIdle(t, ts.sched)
}

func slicesIndex(s []int, v int) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// TestServeDecoder: the stream decoder continues the prompt as the
// engine's pieces do (a leading space kept, except after BOS), whatever
// the stop strings, and holds back the start of a stop string.
func TestServeDecoder(t *testing.T) {
	e := storiesEngine(t)
	tok := e.Tok
	prompt := tok.Encode("Once upon a time", true)
	gen := tok.Encode("Once upon a time there was a dog", true)[len(prompt):]
	for _, stops := range [][]string{nil, {"!", "\"", "#", "Q"}, {" dog"}} {
		d := newDecoder(tok, prompt, stops)
		var b strings.Builder
		for _, id := range gen {
			text, _ := d.Add(id)
			if strings.HasSuffix(text, " d") || strings.HasSuffix(text, " ") && len(stops) == 1 {
				t.Errorf("stops %q: released %q, the start of a stop string", stops, text)
			}
			b.WriteString(text)
		}
		text, _ := d.Flush()
		b.WriteString(text)
		want := pieces(e, prompt[len(prompt)-1], gen)
		if len(stops) == 1 {
			want = strings.TrimSuffix(want, " dog")
		}
		if b.String() != want {
			t.Errorf("stops %q: text %q, want %q", stops, b.String(), want)
		}
	}
	d := newDecoder(tok, prompt[:1], nil)
	text, _ := d.Add(gen[0])
	if want := pieces(e, prompt[0], gen[:1]); text != want {
		t.Errorf("after BOS: %q, want %q", text, want)
	}
}

func TestServeCompletionPress(t *testing.T) {
	e := storiesEngine(t)
	ts := newTestServer(t, e, engine.SchedulerConfig{}, func(c *Config) { c.Press = "none" })
	long := strings.Repeat("Once upon a time there was a girl. ", 12)
	resp := completion(t, ts, greedyParams(long, 8), option.WithJSONSet("thinkv", map[string]string{"press": "snapkv:budget=32+think:ratio=0.5"}))
	var kv struct {
		KVBytes     int64 `json:"kv_bytes"`
		KVBytesFull int64 `json:"kv_bytes_full"`
	}
	if err := jsonUnmarshal(resp.Usage.JSON.ExtraFields["thinkv"].Raw(), &kv); err != nil {
		t.Fatal(err)
	}
	if kv.KVBytes <= 0 || kv.KVBytes >= kv.KVBytesFull/2 {
		t.Errorf("kv_bytes %d of %d full: want a compressed cache", kv.KVBytes, kv.KVBytesFull)
	}
}

// TestServeStreamHoldback: text held back as the possible start of a stop
// string that never completes is sent in the end.
func TestServeStreamHoldback(t *testing.T) {
	e := storiesEngine(t)
	ts := newTestServer(t, e, engine.SchedulerConfig{}, nil)
	full, _ := greedy(t, e, e.Tok.Encode(storyPrompt, e.Tok.AddBOS()), 40)
	words := strings.Fields(full)
	p := greedyParams(storyPrompt, 40)
	p.Stop = openai.CompletionNewParamsStopUnion{OfStringArray: []string{" " + words[2] + "QQQ", words[len(words)-1] + "QQQ"}}
	if got, _ := streamCompletion(t, ts, p); got != full {
		t.Errorf("streamed %q, want %q", got, full)
	}
}

// TestServeNeedleDefaultPress runs the needle model under a default press:
// greedy text equal to engine.Generate's with the same press.
func TestServeNeedleDefaultPress(t *testing.T) {
	e, err := engine.Load(sharedtest.Path(t, "models", "needle", "needle.gguf"), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	const spec = "snapkv:budget=64+think:ratio=0.5"
	ts := newTestServer(t, e, engine.SchedulerConfig{}, func(c *Config) { c.Press = spec })
	prompt := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 20)
	ids := e.Tok.Encode(prompt, e.Tok.AddBOS())
	res, err := e.Generate(engine.Request{Prompt: ids, MaxNew: 16, Press: mustPress(t, spec)})
	if err != nil {
		t.Fatal(err)
	}
	want := pieces(e, ids[len(ids)-1], res.Tokens)
	resp := completion(t, ts, greedyParams(prompt, 16))
	if got := resp.Choices[0].Text; got != want {
		t.Errorf("text %q, want %q", got, want)
	}
	var kv struct {
		KVBytes     int64 `json:"kv_bytes"`
		KVBytesFull int64 `json:"kv_bytes_full"`
	}
	if err := jsonUnmarshal(resp.Usage.JSON.ExtraFields["thinkv"].Raw(), &kv); err != nil {
		t.Fatal(err)
	}
	if kv.KVBytes != res.KVBytes || kv.KVBytesFull != res.KVBytesFull {
		t.Errorf("usage.thinkv %+v, want engine's %d of %d", kv, res.KVBytes, res.KVBytesFull)
	}
	t.Logf("needle, %d prompt tokens, %s: %d of %d KV bytes", len(ids), spec, kv.KVBytes, kv.KVBytesFull)
}
