package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/internal/sharedtest"
)

// busy reports a long queue whatever the scheduler holds.
type busy struct{ *engine.Scheduler }

func (b busy) Stats() engine.Stats {
	st := b.Scheduler.Stats()
	st.Queued = 5
	return st
}

func TestServeQueueFull(t *testing.T) {
	e := storiesEngine(t)
	ts := newTestServer(t, e, engine.SchedulerConfig{}, nil)
	s, err := New(Config{Engine: e, Scheduler: busy{ts.sched}, MaxQueue: 5, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts.http.Config.Handler = s
	resp, err := http.Post(ts.http.URL+"/v1/completions", "application/json", strings.NewReader(`{"prompt":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("status %d, Retry-After %q: want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// TestServeDisconnect drops a streaming client after its first chunk, on
// the needle model (slow enough that 1,500 tokens take many steps): the
// sequence is cancelled, its reservation returns to the budget, and it
// stops well short of its max_tokens.
func TestServeDisconnect(t *testing.T) {
	e, err := engine.Load(sharedtest.Path(t, "models", "needle", "needle.gguf"), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ts := newTestServer(t, e, engine.SchedulerConfig{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", ts.http.URL+"/v1/completions",
		strings.NewReader(`{"prompt":"Once upon a time","max_tokens":1500,"temperature":0.8,"seed":1,"stream":true}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || !strings.HasPrefix(line, "data: ") {
		t.Fatalf("first line %q, %v", line, err)
	}
	if ts.sched.Stats().Reserved == 0 {
		t.Fatal("nothing reserved while the request runs")
	}
	cancel()
	resp.Body.Close()
	waitIdle(t, ts.sched)
	if steps := ts.sched.Stats().Steps; steps >= 1000 {
		t.Errorf("%d steps: the cancelled request ran on", steps)
	}
}

func TestServeAPIKey(t *testing.T) {
	e := storiesEngine(t)
	ts := newTestServer(t, e, engine.SchedulerConfig{}, func(c *Config) { c.APIKey = "sesame" })
	p := greedyParams("Once", 4)
	c := ts.client(option.WithAPIKey("wrong"))
	_, err := c.Completions.New(context.Background(), p)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
		t.Fatalf("wrong key: %v, want 401", err)
	}
	c = ts.client(option.WithAPIKey("sesame"))
	if _, err := c.Completions.New(context.Background(), p); err != nil {
		t.Fatalf("right key: %v", err)
	}
	for path, want := range map[string]int{"/health": 200, "/metrics": 401, "/v1/models": 401} {
		resp, err := http.Get(ts.http.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s without a key: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestServeMetrics(t *testing.T) {
	e := storiesEngine(t)
	ts := newTestServer(t, e, engine.SchedulerConfig{KVBudget: 1 << 20}, nil)
	resp := completion(t, ts, greedyParams(storyPrompt, 12))
	ts.post(t, "/v1/completions", `{"prompt":"a","n":3}`)
	r, err := http.Get(ts.http.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	text := string(b)
	for _, want := range []string{
		`thinkv_requests_total{code="200",path="/v1/completions"} 1`,
		`thinkv_requests_total{code="400",path="/v1/completions"} 1`,
		"thinkv_completion_tokens_total " + itoa(int(resp.Usage.CompletionTokens)),
		"thinkv_prompt_tokens_total " + itoa(int(resp.Usage.PromptTokens)),
		"thinkv_time_to_first_token_seconds_count 1",
		"thinkv_inter_token_latency_seconds_count " + itoa(int(resp.Usage.CompletionTokens)-1),
		"thinkv_kv_budget_bytes 1.048576e+06",
		"thinkv_queue_length 0",
		"thinkv_running_sequences",
		"thinkv_kv_bytes",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(text)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
