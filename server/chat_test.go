package server

import (
	"context"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/thinkv/thinkv/chat"
	"github.com/thinkv/thinkv/engine"
)

func TestServeChatGreedyMatchesGenerate(t *testing.T) {
	e := storiesEngine(t)
	ts := newTestServer(t, e, engine.SchedulerConfig{}, nil)
	msgs := []chat.Message{{Role: "system", Content: "You tell stories."}, {Role: "user", Content: "Tell me about a cat"}}
	ids := e.Tok.Encode(RenderFallback(msgs), e.Tok.AddBOS())
	want, toks := greedy(t, e, ids, 40)
	p := openai.ChatCompletionNewParams{Model: "stories260K", Messages: []openai.ChatCompletionMessageParamUnion{
		openai.SystemMessage(msgs[0].Content), openai.UserMessage(msgs[1].Content)},
		MaxCompletionTokens: openai.Int(40), Temperature: openai.Float(0)}
	c := ts.client()
	resp, err := c.Chat.Completions.New(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != want || resp.Choices[0].Message.Role != "assistant" {
		t.Fatalf("reply %q (%s), want engine.Generate's %q", got, resp.Choices[0].Message.Role, want)
	}
	if int(resp.Usage.CompletionTokens) != len(toks) || int(resp.Usage.PromptTokens) != len(ids) {
		t.Errorf("usage %+v, want %d prompt and %d completion tokens", resp.Usage, len(ids), len(toks))
	}

	p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	st := c.Chat.Completions.NewStreaming(context.Background(), p)
	var acc openai.ChatCompletionAccumulator
	var b strings.Builder
	n := 0
	for st.Next() {
		ch := st.Current()
		acc.AddChunk(ch)
		if n == 0 && (len(ch.Choices) == 0 || ch.Choices[0].Delta.Role != "assistant") {
			t.Errorf("first chunk %+v does not announce the assistant role", ch)
		}
		for _, c := range ch.Choices {
			b.WriteString(c.Delta.Content)
		}
		n++
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if b.String() != want || acc.Choices[0].Message.Content != want {
		t.Errorf("streamed deltas %q, want %q", b.String(), want)
	}
	if acc.Usage.CompletionTokens != int64(len(toks)) {
		t.Errorf("streamed usage %+v", acc.Usage)
	}
	waitIdle(t, ts.sched)
}

// TestServeChatTemplate renders with a chat.Template: the prompt is
// chat.EncodePrompt's.
func TestServeChatTemplate(t *testing.T) {
	e := storiesEngine(t)
	tmpl, err := chat.Builtin("plain")
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, e, engine.SchedulerConfig{}, func(c *Config) { c.ChatTemplate = tmpl })
	msgs := []chat.Message{{Role: "user", Content: "Once upon a time"}}
	ids, err := chat.EncodePrompt(e.Tok, tmpl, msgs, true)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := greedy(t, e, ids, 24)
	c := ts.client()
	resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Messages:  []openai.ChatCompletionMessageParamUnion{openai.UserMessage(msgs[0].Content)},
		MaxTokens: openai.Int(24), Temperature: openai.Float(0)})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != want {
		t.Errorf("reply %q, want %q", got, want)
	}
}
