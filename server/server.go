// Package server owns thinkv's HTTP API: an OpenAI-compatible server
// (/v1/completions, /v1/chat/completions, /v1/models) on one engine
// scheduler, with thinkv's extensions (a per-request "thinkv" object that
// picks the press or a stored prefix, KV bytes in usage, and
// /v1/thinkv/prefixes), /health, and Prometheus /metrics. It checks and
// translates requests, streams server-sent events, bounds the queue and the
// body size, authenticates with a bearer key, and logs one line per request;
// the command that runs it (thinkv serve) owns the listener and shutdown.
package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/thinkv/thinkv/chat"
	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/press"
)

// Config configures a Server.
type Config struct {
	Engine    *engine.Engine
	Scheduler Scheduler // runs every generation; the caller closes it
	// ModelName is the name /v1/models lists and requests must give (or
	// omit); default: the base name of ModelPath without its extension.
	ModelName string
	ModelPath string
	Press     string        // the default press spec ("" or "none": full cache)
	KVType    kvcache.DType // the cache type of requests without a prefix
	APIKey    string        // if set, every endpoint but /health needs "Authorization: Bearer APIKey"
	// The scheduler bounds the requests waiting for admission
	// (engine.SchedulerConfig.MaxQueue): one it refuses with
	// engine.ErrQueueFull is answered 429 with Retry-After.
	MaxBodyBytes int64 // ≤ 0: 8 MiB
	// PrefixBytes bounds the KV bytes of stored prefixes (least recently
	// used evicted first); ≤ 0: 256 MiB. Each stored prefix also holds its
	// bytes of the scheduler's KV budget (Scheduler.Reserve), so prefixes
	// and running requests together stay within it.
	PrefixBytes int64
	Logger      *slog.Logger // nil: slog.Default()
	// ChatTemplate renders /v1/chat/completions messages (chat.EncodePrompt);
	// nil: RenderFallback, for models without a template.
	ChatTemplate *chat.Template
}

// Scheduler is what the server needs of an *engine.Scheduler (tests may
// wrap one).
type Scheduler interface {
	Submit(ctx context.Context, req engine.Request) (*engine.Stream, error)
	Stats() engine.Stats
	Reserve(n int64) (*engine.Hold, error)
}

// Server is the HTTP API. It is an http.Handler.
type Server struct {
	cfg      Config
	e        *engine.Engine
	sched    Scheduler
	mux      *http.ServeMux
	metrics  *metrics
	prefixes *prefixStore
	log      *slog.Logger
}

// New checks cfg (its default press must parse) and returns the server.
func New(cfg Config) (*Server, error) {
	if cfg.Engine == nil || cfg.Scheduler == nil {
		return nil, fmt.Errorf("server: an engine and a scheduler are needed")
	}
	if _, err := press.Parse(cfg.Press); err != nil {
		return nil, fmt.Errorf("press: %w", err)
	}
	if cfg.ModelName == "" {
		base := filepath.Base(filepath.Clean(cfg.ModelPath))
		cfg.ModelName = strings.TrimSuffix(base, filepath.Ext(base))
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 8 << 20
	}
	if cfg.PrefixBytes <= 0 {
		cfg.PrefixBytes = 256 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, e: cfg.Engine, sched: cfg.Scheduler, mux: http.NewServeMux(), log: cfg.Logger}
	s.prefixes = newPrefixStore(cfg.PrefixBytes, cfg.Scheduler)
	s.metrics = newMetrics(s)
	s.mux.HandleFunc("POST /v1/completions", s.handleCompletions)
	s.mux.HandleFunc("POST /v1/chat/completions", s.handleChat)
	s.mux.HandleFunc("GET /v1/models", s.handleModels)
	s.mux.HandleFunc("POST /v1/thinkv/prefixes", s.handlePrefixes)
	s.mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.Handle("GET /metrics", s.metrics.handler)
	return s, nil
}

// ModelName returns the name the server serves its model under.
func (s *Server) ModelName() string { return s.cfg.ModelName }

// reqInfo is what a handler reports for the request's log line.
type reqInfo struct{ tokens int }

type infoKey struct{}

// ServeHTTP authenticates, routes, counts and logs a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	info := &reqInfo{}
	r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
	path := r.URL.Path
	switch h, pattern := s.mux.Handler(r); {
	case r.URL.Path != "/health" && !s.authorized(r):
		rec.Header().Set("WWW-Authenticate", "Bearer")
		writeError(rec, errf(http.StatusUnauthorized, "invalid_request_error", "", "invalid_api_key",
			"a valid API key is needed: Authorization: Bearer KEY"))
	case pattern == "":
		if s.methodAllowed(r) {
			writeError(rec, errf(http.StatusMethodNotAllowed, "invalid_request_error", "", "method_not_allowed",
				"method %s is not allowed on %s", r.Method, r.URL.Path))
		} else {
			writeError(rec, errf(http.StatusNotFound, "invalid_request_error", "", "not_found", "no endpoint %s %s", r.Method, r.URL.Path))
		}
		path = "other"
	default:
		h.ServeHTTP(rec, r)
	}
	s.metrics.observe(path, rec.status)
	s.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
		"tokens", info.tokens, "duration", time.Since(start))
}

// methodAllowed reports whether the path exists under another method.
func (s *Server) methodAllowed(r *http.Request) bool {
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, p := s.mux.Handler(r2); p != "" {
			return true
		}
	}
	return false
}

// authorized compares the bearer key in constant time.
func (s *Server) authorized(r *http.Request) bool {
	if s.cfg.APIKey == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.APIKey)) == 1
}

// recorder keeps the status code; it passes Flush on for streaming.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{map[string]any{
		"id": s.cfg.ModelName, "object": "model", "created": 0, "owned_by": "thinkv",
		"context_length": s.e.Model.Context,
	}}})
}

// submit queues req on the scheduler. A request on a stored prefix holds
// the prefix until it ends (when ctx is done: the caller cancels ctx once
// the stream has ended), so an eviction meanwhile leaves its bytes held;
// one whose prefix has been evicted is answered 404. Stored prefixes no
// request uses are evicted, least recently used first, while the request
// could not fit beside the prefixes' holds (it would wait for ever).
// ErrQueueFull is answered 429 with Retry-After, ErrClosed 503, and any
// other refusal 400.
func (s *Server) submit(ctx context.Context, req engine.Request) (*engine.Stream, *apiError) {
	if req.Prefix != nil {
		done, ok := s.prefixes.acquire(req.Prefix)
		if !ok {
			return nil, errf(http.StatusNotFound, "invalid_request_error", "thinkv.prefix", "prefix_not_found",
				"the prefix was evicted before the request was queued: create it again")
		}
		context.AfterFunc(ctx, done)
	}
	need := s.e.Reservation(req)
	for {
		st := s.sched.Stats()
		if need <= st.KVBudget-st.Pinned || !s.prefixes.evictIdle() {
			break
		}
	}
	st, err := s.sched.Submit(ctx, req)
	switch {
	case errors.Is(err, engine.ErrQueueFull):
		e := errf(http.StatusTooManyRequests, "rate_limit_error", "", "queue_full",
			"the server's queue is full: retry later")
		e.RetryAfter = 1
		return nil, e
	case errors.Is(err, engine.ErrClosed):
		return nil, errf(http.StatusServiceUnavailable, "server_error", "", "shutting_down", "the server is shutting down")
	case err != nil:
		return nil, badRequest("", "%v", err)
	}
	return st, nil
}

// budget spells an unlimited KV budget as +Inf.
func budget(b int64) float64 {
	if b == math.MaxInt64 {
		return math.Inf(1)
	}
	return float64(b)
}

// setTokens records a request's generated tokens for its log line.
func setTokens(r *http.Request, n int) {
	if info, ok := r.Context().Value(infoKey{}).(*reqInfo); ok {
		info.tokens = n
	}
}
