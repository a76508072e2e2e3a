package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/internal/sharedtest"
)

var (
	loadOnce sync.Once
	stories  *engine.Engine
	loadErr  error
)

// storiesEngine loads stories260K (context 512) once for the package's tests.
func storiesEngine(t *testing.T) *engine.Engine {
	t.Helper()
	path := sharedtest.Path(t, "models", "stories260K", "stories260K.gguf")
	loadOnce.Do(func() { stories, loadErr = engine.Load(path, "", 512) })
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return stories
}

// testServer is a server on a scheduler of its own, behind httptest.
type testServer struct {
	*Server
	e     *engine.Engine
	sched *engine.Scheduler
	http  *httptest.Server
}

// newTestServer starts a server on e; edit adjusts its config.
func newTestServer(t *testing.T, e *engine.Engine, sc engine.SchedulerConfig, edit func(*Config)) *testServer {
	t.Helper()
	sched := e.NewScheduler(sc)
	cfg := Config{Engine: e, Scheduler: sched, ModelPath: "models/stories260K.gguf",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, e: e, sched: sched, http: httptest.NewServer(s)}
	t.Cleanup(func() {
		ts.http.Close()
		sched.Close()
	})
	return ts
}

// client is the official OpenAI client on the test server, without retries.
func (ts *testServer) client(opts ...option.RequestOption) openai.Client {
	return openai.NewClient(append([]option.RequestOption{option.WithBaseURL(ts.http.URL + "/v1"),
		option.WithAPIKey("none"), option.WithMaxRetries(0), option.WithRequestTimeout(60 * time.Second)}, opts...)...)
}

// post sends a raw JSON body and returns the status and decoded body.
func (ts *testServer) post(t *testing.T, path, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(ts.http.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: body %q is not JSON: %v", path, b, err)
	}
	return resp.StatusCode, out
}

// wantError checks an OpenAI-style error answer.
func wantError(t *testing.T, status int, body map[string]any, wantStatus int, wantMsg string) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("status %d, want %d (body %v)", status, wantStatus, body)
	}
	e, ok := body["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %v", body)
	}
	for _, k := range []string{"message", "type", "param", "code"} {
		if _, ok := e[k]; !ok {
			t.Errorf("error object lacks %q: %v", k, e)
		}
	}
	if msg, _ := e["message"].(string); !strings.Contains(msg, wantMsg) {
		t.Errorf("error message %q does not contain %q", msg, wantMsg)
	}
}

// greedy runs prompt through engine.Generate and returns its text (the
// concatenated pieces) and tokens.
func greedy(t *testing.T, e *engine.Engine, prompt []int, maxNew int) (string, []int) {
	t.Helper()
	res, err := e.Generate(engine.Request{Prompt: prompt, MaxNew: maxNew})
	if err != nil {
		t.Fatal(err)
	}
	return pieces(e, prompt[len(prompt)-1], res.Tokens), res.Tokens
}

func pieces(e *engine.Engine, prev int, ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(e.Tok.Piece(prev, id))
		prev = id
	}
	return b.String()
}

// waitIdle waits until the scheduler holds no reservation and queues
// nothing. (Stats.Running and KVBytes are published after a step, so they
// stay stale when the last running request is cancelled between steps.)
func waitIdle(t *testing.T, s *engine.Scheduler) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		st := s.Stats()
		if st.Reserved == 0 && st.Queued == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("scheduler not idle: %+v", st)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
