package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/internal/sharedtest"
)

// TestServeQueueFull sends many concurrent requests to a server whose
// scheduler queues at most 3 and runs one at a time: the queue never holds
// more than 3 (the scheduler refuses past it under its lock), the refused
// requests get 429 with Retry-After, and the others complete.
func TestServeQueueFull(t *testing.T) {
	e := storiesEngine(t)
	const maxQueue, n = 3, 24
	ts := newTestServer(t, e, engine.SchedulerConfig{MaxSeqs: 1, MaxQueue: maxQueue}, nil)
	stop := make(chan struct{})
	maxQueued := make(chan int, 1)
	go func() {
		most := 0
		defer func() { maxQueued <- most }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			most = max(most, ts.sched.Stats().Queued)
			time.Sleep(100 * time.Microsecond)
		}
	}()
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, err := http.Post(ts.http.URL+"/v1/completions", "application/json",
				strings.NewReader(`{"prompt":"Once upon a time","max_tokens":256,"temperature":0}`))
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			mu.Lock()
			codes[resp.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	close(stop)
	if most := <-maxQueued; most > maxQueue {
		t.Errorf("the queue held %d requests, more than %d", most, maxQueue)
	}
	if codes[200]+codes[429] != n || codes[429] == 0 || codes[200] == 0 {
		t.Errorf("status codes %v: want 200s and 429s", codes)
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

// TestServeStopTokenIDs ends a greedy completion at a stop token id: the
// scheduler ends the request there (finish_reason "stop") and runs no step
// after it.
func TestServeStopTokenIDs(t *testing.T) {
	e := storiesEngine(t)
	prompt := e.Tok.Encode("Once upon a time", e.Tok.AddBOS())
	res, err := e.Generate(engine.Request{Prompt: prompt, MaxNew: 24})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tokens) < 6 {
		t.Fatalf("greedy run stops after %d tokens", len(res.Tokens))
	}
	stop := res.Tokens[4]
	i := 0
	for res.Tokens[i] != stop {
		i++
	}
	ts := newTestServer(t, e, engine.SchedulerConfig{}, nil)
	status, body := ts.post(t, "/v1/completions",
		`{"prompt":"Once upon a time","max_tokens":24,"temperature":0,"stop_token_ids":[`+itoa(stop)+`]}`)
	if status != 200 {
		t.Fatalf("%d %v", status, body)
	}
	choice := body["choices"].([]any)[0].(map[string]any)
	usage := body["usage"].(map[string]any)
	if choice["finish_reason"] != "stop" || usage["completion_tokens"].(float64) != float64(i+1) {
		t.Errorf("finish %v after %v tokens, want stop after %d", choice["finish_reason"], usage["completion_tokens"], i+1)
	}
	waitIdle(t, ts.sched)
	if steps := ts.sched.Stats().Steps; steps != int64(i+1) {
		t.Errorf("%d steps, want %d: the scheduler ran on past the stop token", steps, i+1)
	}
}
