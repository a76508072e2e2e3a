package server

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"
)

// completionRequest is the body of POST /v1/completions.
type completionRequest struct {
	commonParams
	Prompt json.RawMessage `json:"prompt"` // a string or an array of token ids (or a one-element array of either)
	Echo   json.RawMessage `json:"echo"`
	BestOf json.RawMessage `json:"best_of"`
	Suffix json.RawMessage `json:"suffix"`
}

// usageJSON is a response's usage, with thinkv's KV bytes.
type usageJSON struct {
	PromptTokens     int         `json:"prompt_tokens"`
	CompletionTokens int         `json:"completion_tokens"`
	TotalTokens      int         `json:"total_tokens"`
	Thinkv           thinkvUsage `json:"thinkv"`
}

type thinkvUsage struct {
	KVBytes      int64 `json:"kv_bytes"`
	KVBytesFull  int64 `json:"kv_bytes_full"`
	PrefixTokens int   `json:"prefix_tokens,omitempty"`
}

func usageOf(r *genResult, g *genParams) *usageJSON {
	return &usageJSON{PromptTokens: r.promptTokens, CompletionTokens: r.tokens, TotalTokens: r.promptTokens + r.tokens,
		Thinkv: thinkvUsage{KVBytes: r.kvBytes, KVBytesFull: r.kvBytesFull, PrefixTokens: g.prefix}}
}

type completionChoice struct {
	Text         string  `json:"text"`
	Index        int     `json:"index"`
	Logprobs     any     `json:"logprobs"`
	FinishReason *string `json:"finish_reason"`
}

type completionJSON struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"`
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []completionChoice `json:"choices"`
	Usage   *usageJSON         `json:"usage,omitempty"`
}

func newID(prefix string) string {
	var b [12]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func (s *Server) handleCompletions(w http.ResponseWriter, r *http.Request) {
	var req completionRequest
	if e := s.decodeJSON(w, r, &req); e != nil {
		writeError(w, e)
		return
	}
	g := &genParams{}
	if e := s.completionParams(&req, g); e != nil {
		writeError(w, e)
		return
	}
	base := completionJSON{ID: newID("cmpl-"), Object: "text_completion", Created: time.Now().Unix(), Model: s.cfg.ModelName}
	chunk := func(text string, toks []tokenLogprob, finish *string) any {
		c := base
		c.Choices = []completionChoice{{Text: text, FinishReason: finish}}
		if g.logprobs && finish == nil {
			c.Choices[0].Logprobs = s.completionLogprobs(toks)
		}
		return c
	}
	s.respond(w, r, g, chunk, func(res *genResult) any {
		c := base
		c.Choices = []completionChoice{{Text: res.text, FinishReason: &res.finish}}
		if g.logprobs {
			c.Choices[0].Logprobs = s.completionLogprobs(res.logprobs)
		}
		c.Usage = usageOf(res, g)
		return c
	})
}

// completionParams checks a completion request and fills g.
func (s *Server) completionParams(req *completionRequest, g *genParams) *apiError {
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		def  []string
	}{{"echo", req.Echo, []string{"false"}}, {"best_of", req.BestOf, []string{"1"}}, {"suffix", req.Suffix, []string{`""`}}} {
		if e := refuse(f.name, f.raw, f.def...); e != nil {
			return e
		}
	}
	if e := s.common(&req.commonParams, g); e != nil {
		return e
	}
	if e := parseCompletionLogprobs(req.Logprobs, g); e != nil {
		return e
	}
	n, e := maxNew(&req.commonParams, 16)
	if e != nil {
		return e
	}
	if e := s.parsePrompt(req.Prompt, g); e != nil {
		return e
	}
	return s.finish(g, n, false)
}

// parsePrompt reads a prompt: a string (encoded with BOS if the model adds
// one, and none on a prefix), an array of token ids (used as given), or a
// one-element array of either.
func (s *Server) parsePrompt(raw json.RawMessage, g *genParams) *apiError {
	var text string
	var ids []int
	var texts []string
	var idss [][]int
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return badRequest("prompt", "prompt is required")
	case json.Unmarshal(raw, &text) == nil:
	case json.Unmarshal(raw, &ids) == nil:
		g.req.Prompt = ids
		return nil
	case json.Unmarshal(raw, &texts) == nil && len(texts) == 1:
		text = texts[0]
	case json.Unmarshal(raw, &idss) == nil && len(idss) == 1:
		g.req.Prompt = idss[0]
		return nil
	case texts != nil || idss != nil:
		return badRequest("prompt", "one prompt per request: thinkv does not batch prompts in one request")
	default:
		return badRequest("prompt", "prompt must be a string or an array of token ids")
	}
	g.req.Prompt = s.e.Tok.Encode(text, s.e.Tok.AddBOS() && g.req.Prefix == nil)
	return nil
}

// respond runs g and answers: one JSON object (final), or server-sent
// events, one chunk per piece of text with the logprobs of the tokens it
// completes (chunk), then a chunk with the finish reason, the usage if
// asked, and [DONE].
func (s *Server) respond(w http.ResponseWriter, r *http.Request, g *genParams,
	chunk func(text string, toks []tokenLogprob, finish *string) any, final func(*genResult) any) {
	if !g.stream {
		res, err := s.generate(r.Context(), g, func(string, []tokenLogprob) error { return nil })
		if err != nil {
			s.fail(w, r, err, false)
			return
		}
		setTokens(r, res.tokens)
		writeJSON(w, http.StatusOK, final(res))
		return
	}
	sse := &sseWriter{w: w, rc: http.NewResponseController(w)}
	res, err := s.generate(r.Context(), g, func(text string, toks []tokenLogprob) error {
		return sse.send(chunk(text, toks, nil))
	})
	if err != nil {
		s.fail(w, r, err, sse.started)
		return
	}
	setTokens(r, res.tokens)
	if err := sse.send(chunk("", nil, &res.finish)); err != nil {
		return
	}
	if g.usage {
		var m map[string]any
		b, _ := json.Marshal(chunk("", nil, nil))
		json.Unmarshal(b, &m)
		m["choices"], m["usage"] = []any{}, usageOf(res, g)
		sse.send(m)
	}
	sse.done()
}

// fail answers an error: as a JSON error before anything was sent, as an
// error event in a started stream, or not at all when the client has gone.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error, started bool) {
	if r.Context().Err() != nil {
		if !started {
			w.WriteHeader(499) // nginx's "client closed request", for the log
		}
		return
	}
	if !started {
		writeError(w, err)
		return
	}
	e, ok := err.(*apiError)
	if !ok {
		e = errf(http.StatusInternalServerError, "server_error", "", "", "%v", err)
	}
	sse := &sseWriter{w: w, rc: http.NewResponseController(w), started: true}
	sse.send(map[string]any{"error": e})
	sse.done()
}

// sseWriter writes server-sent events, flushing each.
type sseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
}

func (s *sseWriter) start() {
	if !s.started {
		h := s.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		s.w.WriteHeader(http.StatusOK)
		s.started = true
	}
}

func (s *sseWriter) send(v any) error {
	s.start()
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := s.w.Write(append(append([]byte("data: "), b...), '\n', '\n')); err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *sseWriter) done() {
	s.start()
	s.w.Write([]byte("data: [DONE]\n\n"))
	s.rc.Flush()
}
