package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/thinkv/thinkv/engine"
)

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func TestServeErrors(t *testing.T) {
	e := storiesEngine(t)
	ts := newTestServer(t, e, engine.SchedulerConfig{KVBudget: 200_000}, func(c *Config) { c.MaxBodyBytes = 1 << 16 })
	long := strings.Repeat("Once upon a time there was a girl. ", 80)
	for _, c := range []struct {
		name, path, body string
		status           int
		msg              string
	}{
		{"unknown model", "/v1/completions", `{"model":"gpt-4","prompt":"a"}`, 404, `"gpt-4" does not exist`},
		{"n", "/v1/completions", `{"prompt":"a","n":2}`, 400, "n = 2"},
		{"bad press", "/v1/completions", `{"prompt":"a","thinkv":{"press":"nosuch"}}`, 400, "press"},
		{"malformed", "/v1/completions", `{"prompt":`, 400, "malformed JSON"},
		{"unknown field", "/v1/completions", `{"prompt":"a","frobnicate":1}`, 400, `unknown field "frobnicate"`},
		{"logprobs", "/v1/completions", `{"prompt":"a","logprobs":6}`, 400, "logprobs must be an integer from 0 to 5"},
		{"wrong type", "/v1/completions", `{"prompt":"a","max_tokens":"x"}`, 400, "max_tokens"},
		{"two prompts", "/v1/completions", `{"prompt":["a","b"]}`, 400, "one prompt"},
		{"max tokens", "/v1/completions", `{"prompt":"a","max_tokens":0}`, 400, "at least 1"},
		{"temperature", "/v1/completions", `{"prompt":"a","temperature":3}`, 400, "temperature"},
		{"token id", "/v1/completions", `{"prompt":[1,99999]}`, 400, "outside the vocabulary"},
		{"too long", "/v1/completions", fmt.Sprintf(`{"prompt":%q}`, long), 400, "context of 512 tokens"},
		{"never fits", "/v1/completions", `{"prompt":"a","max_tokens":500}`, 400, "budget"},
		{"too large", "/v1/completions", fmt.Sprintf(`{"prompt":%q}`, strings.Repeat("a", 1<<17)), 413, "limit"},
		{"no messages", "/v1/chat/completions", `{"messages":[]}`, 400, "at least one message"},
		{"tools", "/v1/chat/completions", `{"messages":[{"role":"user","content":"a"}],"tools":[{"type":"function"}]}`, 400, `"tools"`},
		{"role", "/v1/chat/completions", `{"messages":[{"role":"wizard","content":"a"}]}`, 400, "unknown role"},
		{"no endpoint", "/v1/embeddings", `{}`, 404, "no endpoint"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := ts.post(t, c.path, c.body)
			wantError(t, status, body, c.status, c.msg)
		})
	}
	if status, body := ts.post(t, "/v1/completions", fmt.Sprintf(`{"prompt":%q}`, long)); status == 400 {
		msg := body["error"].(map[string]any)["message"].(string)
		n := len(e.Tok.Encode(long, true))
		if !strings.Contains(msg, fmt.Sprint(n)) {
			t.Errorf("too-long message %q does not name the prompt's %d tokens", msg, n)
		}
	}
	resp, err := http.Get(ts.http.URL + "/v1/completions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("GET /v1/completions: %d, want 405", resp.StatusCode)
	}

	// The OpenAI client sees the status.
	c := ts.client()
	_, err = c.Completions.New(context.Background(), openai.CompletionNewParams{Model: "nope",
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("a")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
		t.Errorf("unknown model: %v", err)
	}
}

func TestServeModelsHealth(t *testing.T) {
	e := storiesEngine(t)
	ts := newTestServer(t, e, engine.SchedulerConfig{}, func(c *Config) { c.ModelName = "tiny" })
	c := ts.client()
	page, err := c.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != "tiny" {
		t.Errorf("models %+v, want [tiny]", page.Data)
	}
	resp, err := http.Get(ts.http.URL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/health: %d", resp.StatusCode)
	}
	ts2 := newTestServer(t, e, engine.SchedulerConfig{}, nil)
	if ts2.ModelName() != "stories260K" {
		t.Errorf("default model name %q", ts2.ModelName())
	}
}
