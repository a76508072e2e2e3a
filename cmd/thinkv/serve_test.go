package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/internal/sharedtest"
	"github.com/thinkv/thinkv/server"
)

func TestServeParseBytes(t *testing.T) {
	for s, want := range map[string]int64{"0": 0, "1048576": 1 << 20, "512Mi": 512 << 20, "2G": 2e9, "3KiB": 3072} {
		if got, err := parseBytes(s); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "-1", "1T", "x"} {
		if _, err := parseBytes(s); err == nil {
			t.Errorf("parseBytes(%q): no error", s)
		}
	}
}

func TestServeCommandLine(t *testing.T) {
	for _, args := range [][]string{
		{"serve"},
		{"serve", "-m", "x.gguf", "--kv-budget", "lots"},
		{"serve", "-m", "x.gguf", "--press", "nosuch"},
		{"serve", "-m", "x.gguf", "--max-seqs", "0"},
	} {
		var out, errb strings.Builder
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%q: exit %d, want 2 (%s)", args, code, errb.String())
		}
	}
}

// TestServeDrains starts serve on a loopback port, begins a streamed
// request, then cancels serve's context (as SIGTERM does): the request in
// flight runs to its end, and new connections are refused.
func TestServeDrains(t *testing.T) {
	path := sharedtest.Path(t, "models", "stories260K", "stories260K.gguf")
	e, err := engine.Load(path, "", 512)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sched := e.NewScheduler(engine.SchedulerConfig{})
	defer sched.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(server.Config{Engine: e, Scheduler: sched, ModelPath: path, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc, errc := make(chan net.Addr, 1), make(chan error, 1)
	go func() { errc <- serve(ctx, srv, "127.0.0.1:0", log, func(a net.Addr) { addrc <- a }) }()
	addr := (<-addrc).String()
	body := `{"prompt":"Once upon a time","max_tokens":200,"temperature":0,"stream":true}`
	resp, err := http.Post("http://"+addr+"/v1/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "data: {") {
		t.Fatalf("first line %q, %v", line, err)
	}
	cancel()
	rest, err := io.ReadAll(r)
	if err != nil || !strings.HasSuffix(string(rest), "data: [DONE]\n\n") || !strings.Contains(string(rest), `"finish_reason":"`) {
		t.Fatalf("drained stream ends %q, %v", tail(string(rest)), err)
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not return after draining")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("still accepting connections after shutdown")
	}
}

func tail(s string) string { return s[max(0, len(s)-200):] }
