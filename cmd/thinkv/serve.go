package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/thinkv/thinkv/chat"
	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/gguf"
	"github.com/thinkv/thinkv/server"
)

const serveSynopsis = "-m MODEL [--addr 127.0.0.1:8080] [--press SPEC] [--kv-type f16|f32|q8_0|q4_0] [--kv-budget BYTES] [--max-seqs N] [--api-key KEY] [--alias NAME] [flags]"

// The HTTP server's timeouts: a generation streams for as long as it runs,
// so the write timeout bounds a whole response.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 60 * time.Second
	writeTimeout      = 30 * time.Minute
	idleTimeout       = 2 * time.Minute
	drainTimeout      = 5 * time.Minute
)

func runServe(args []string, stdout io.Writer) error {
	fs := newFlags("serve", serveSynopsis)
	var mf modelFlags
	mf.register(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (loopback by default; 0.0.0.0:PORT for every interface)")
	pf := &pressFlag{spec: "none"}
	fs.Var(pf, "press", "default cache compression of every request (a request's \"thinkv\": {\"press\": SPEC} overrides it)")
	kvType := fs.String("kv-type", "f16", kvTypeHelp)
	kvBudget := fs.String("kv-budget", "0", "most KV-cache `BYTES` the running requests and the stored prefixes reserve together (suffixes K, M, G, Ki, Mi, Gi; 0: no limit)")
	var maxSeqs, maxQueue int
	fs.intVar(&maxSeqs, "max-seqs", 16, 1, engine.PrefillBatch, "most requests running at once")
	fs.intVar(&maxQueue, "max-queue", 64, 1, 1<<20, "most requests waiting for admission; past it requests get 429")
	apiKey := fs.String("api-key", "", "require Authorization: Bearer KEY (default: $THINKV_API_KEY; none if unset)")
	alias := fs.String("alias", "", "model name the API serves (default: the model file's base name)")
	tmplFlag := fs.String("chat-template", "", "chat template of /v1/chat/completions: a built-in name ("+strings.Join(chat.Builtins(), ", ")+"), a template file, or \"fallback\" (role: content lines); default: the model's own, else fallback")
	prefixBytes := fs.String("prefix-bytes", "256Mi", "most KV-cache `BYTES` the stored prefixes (/v1/thinkv/prefixes) hold, least recently used evicted first; they count in --kv-budget too")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := mf.check(); err != nil {
		return err
	}
	typ, _, err := fs.cacheFlags(*kvType, pf.spec)
	if err != nil {
		return err
	}
	budget, err := parseBytes(*kvBudget)
	if err != nil {
		return fs.usagef("--kv-budget: %v", err)
	}
	pbytes, err := parseBytes(*prefixBytes)
	if err != nil {
		return fs.usagef("--prefix-bytes: %v", err)
	}
	if *apiKey == "" {
		*apiKey = os.Getenv("THINKV_API_KEY")
	}
	e, err := mf.load()
	if err != nil {
		return err
	}
	defer e.Close()
	tmpl, err := chatTemplate(e, mf.path, *tmplFlag)
	if err != nil {
		return err
	}
	sched := e.NewScheduler(engine.SchedulerConfig{KVBudget: budget, MaxSeqs: maxSeqs, MaxQueue: maxQueue})
	defer sched.Close()
	log := slog.New(slog.NewTextHandler(errOut, nil))
	srv, err := server.New(server.Config{Engine: e, Scheduler: sched, ModelName: *alias, ModelPath: mf.path,
		Press: pf.spec, KVType: typ, APIKey: *apiKey, PrefixBytes: pbytes, Logger: log,
		ChatTemplate: tmpl})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, srv, *addr, log, func(a net.Addr) {
		fmt.Fprintf(stdout, "thinkv: serving %s on http://%s\n", srv.ModelName(), a)
	})
}

// serve answers h on addr until ctx is done, then stops accepting and
// drains the requests in flight (http.Server.Shutdown). ready is called
// with the address once listening.
func serve(ctx context.Context, h http.Handler, addr string, log *slog.Logger, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	ready(ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: draining requests in flight")
	dctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := hs.Shutdown(dctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// chatTemplate picks the chat template: name (a built-in, a template file, or
// "fallback" for none), else the model's own, else none (the server's
// fallback).
func chatTemplate(e *engine.Engine, modelPath, name string) (*chat.Template, error) {
	tok := e.Tok
	switch {
	case name == "fallback":
		return nil, nil
	case strings.HasSuffix(name, ".jinja") || isFile(name):
		src, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		return chat.Parse(name, string(src), tok.Token(tok.BOS()), tok.Token(tok.EOS()))
	case name != "":
		return chat.Builtin(name)
	}
	var t *chat.Template
	var err error
	if st, serr := os.Stat(modelPath); serr == nil && st.IsDir() {
		t, err = chat.FromDir(modelPath)
	} else if f, gerr := gguf.Open(modelPath); gerr == nil {
		t, err = chat.FromGGUF(f)
		f.Close()
	} else {
		return nil, nil // a llama2.c checkpoint: no template
	}
	if errors.Is(err, chat.ErrNoTemplate) {
		return nil, nil
	}
	return t, err
}

// isFile reports whether path names an existing regular file.
func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// parseBytes reads a byte count: digits with an optional K, M, G (powers of
// 1000) or Ki, Mi, Gi (powers of 1024) suffix, and an optional B.
func parseBytes(s string) (int64, error) {
	t := strings.TrimSuffix(strings.TrimSpace(s), "B")
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}} {
		if v, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = v, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a byte count (e.g. 512Mi, 2G, 1048576)", s)
	}
	return n * mult, nil
}
