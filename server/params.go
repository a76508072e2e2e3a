package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"

	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/press"
)

// commonParams are the request fields /v1/completions and
// /v1/chat/completions share. Decoding is strict (unknown fields are a 400),
// but OpenAI's optional fields that change nothing here are accepted and
// ignored (user, metadata, store, service_tier, prompt_cache_key,
// prompt_cache_retention, safety_identifier), and those thinkv does not
// implement are refused with a message unless absent or at their default
// (see refuse). Logprobs is the endpoint's to read: an integer for
// completions, a boolean for chat.
type commonParams struct {
	Model               string          `json:"model"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	TopK                *int            `json:"top_k"` // an extension, as in vLLM and llama.cpp
	Seed                *int64          `json:"seed"`
	Stop                json.RawMessage `json:"stop"`           // a string, or an array of strings and token ids
	StopTokenIDs        []int           `json:"stop_token_ids"` // vLLM's spelling of stop token ids
	N                   *int            `json:"n"`
	Stream              bool            `json:"stream"`
	StreamOptions       *streamOptions  `json:"stream_options"`
	Thinkv              *thinkvOptions  `json:"thinkv"`

	User                 json.RawMessage `json:"user"`
	Metadata             json.RawMessage `json:"metadata"`
	Store                json.RawMessage `json:"store"`
	ServiceTier          json.RawMessage `json:"service_tier"`
	PromptCacheKey       json.RawMessage `json:"prompt_cache_key"`
	PromptCacheRetention json.RawMessage `json:"prompt_cache_retention"`
	SafetyIdentifier     json.RawMessage `json:"safety_identifier"`

	FrequencyPenalty  *float64           `json:"frequency_penalty"`
	PresencePenalty   *float64           `json:"presence_penalty"`
	RepetitionPenalty *float64           `json:"repetition_penalty"` // an extension, as in vLLM and llama.cpp
	MinP              *float64           `json:"min_p"`              // an extension, as in vLLM and llama.cpp
	LogitBias         map[string]float64 `json:"logit_bias"`
	Logprobs          json.RawMessage    `json:"logprobs"`
}

type streamOptions struct {
	IncludeUsage       bool            `json:"include_usage"`
	IncludeObfuscation json.RawMessage `json:"include_obfuscation"` // ignored
}

// thinkvOptions is the per-request extension object "thinkv".
type thinkvOptions struct {
	Press  *string `json:"press"`  // a press spec; default: the server's
	Prefix string  `json:"prefix"` // a prefix id from /v1/thinkv/prefixes
}

// decodeJSON reads the body into v strictly: one JSON object, no unknown
// fields, at most the server's body limit (413 past it).
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) *apiError {
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("data after the JSON object")
	}
	if err == nil {
		return nil
	}
	var tooBig *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return errf(http.StatusRequestEntityTooLarge, "invalid_request_error", "", "request_too_large",
			"request body larger than the limit of %d bytes", tooBig.Limit)
	case errors.As(err, &typeErr):
		return badRequest(typeErr.Field, "field %q: JSON %s where %s was expected", typeErr.Field, typeErr.Value, typeErr.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return badRequest(name, "unknown field %q: thinkv does not implement it", name)
	}
	return badRequest("", "malformed JSON body: %v", err)
}

// refuse returns a 400 if raw (the field name's value) is present and not
// one of the defaults that ask for nothing.
func refuse(name string, raw json.RawMessage, defaults ...string) *apiError {
	if len(raw) == 0 {
		return nil
	}
	var c bytes.Buffer
	if json.Compact(&c, raw) != nil {
		return badRequest(name, "field %q is not valid JSON", name)
	}
	for _, d := range append([]string{"null"}, defaults...) {
		if c.String() == d {
			return nil
		}
	}
	return badRequest(name, "field %q is not supported by thinkv (got %s)", name, c.String())
}

// genParams is a request ready to submit, and how to end it early.
type genParams struct {
	req    engine.Request
	stops  []string // stop strings
	stream bool
	usage  bool // stream_options.include_usage
	// logprobs: the answer reports tokens' logprobs (req.LogprobChosen,
	// with req.Logprobs alternatives).
	logprobs bool
	prefix   int // tokens in the prefix cache, if any
}

// common checks the shared fields and fills everything of g but the prompt
// and MaxNew (the endpoint's).
func (s *Server) common(p *commonParams, g *genParams) *apiError {
	if p.Model != "" && p.Model != s.cfg.ModelName {
		return errf(http.StatusNotFound, "invalid_request_error", "model", "model_not_found",
			"the model %q does not exist: this server serves %q", p.Model, s.cfg.ModelName)
	}
	if p.N != nil && *p.N != 1 {
		return badRequest("n", "n = %d: thinkv generates one choice per request (n = 1)", *p.N)
	}
	smp := engine.Sampling{Temp: 1}
	if t := p.Temperature; t != nil {
		if *t < 0 || *t > 2 {
			return badRequest("temperature", "temperature %g is outside [0, 2]", *t)
		}
		smp.Temp = *t
	}
	if t := p.TopP; t != nil {
		if *t <= 0 || *t > 1 {
			return badRequest("top_p", "top_p %g is outside (0, 1]", *t)
		}
		smp.TopP = *t
	}
	if k := p.TopK; k != nil {
		if *k < 0 {
			return badRequest("top_k", "top_k %d is negative", *k)
		}
		smp.TopK = *k
	}
	if e := s.penalties(p, &smp); e != nil {
		return e
	}
	if p.Seed != nil {
		smp.Seed = uint64(*p.Seed)
	} else {
		smp.Seed = rand.Uint64()
	}
	g.req.Sampling, g.req.KVType = smp, s.cfg.KVType
	if e := parseStop(p, g); e != nil {
		return e
	}
	g.stream = p.Stream
	if p.StreamOptions != nil {
		if !p.Stream {
			return badRequest("stream_options", "stream_options is only allowed with stream: true")
		}
		g.usage = p.StreamOptions.IncludeUsage
	}
	return s.thinkv(p.Thinkv, g)
}

// maxNew returns the requested max_completion_tokens or max_tokens (def if
// neither).
func maxNew(p *commonParams, def int) (int, *apiError) {
	n, name := def, ""
	if p.MaxTokens != nil {
		n, name = *p.MaxTokens, "max_tokens"
	}
	if p.MaxCompletionTokens != nil {
		n, name = *p.MaxCompletionTokens, "max_completion_tokens"
	}
	if n < 1 {
		return 0, badRequest(name, "%s = %d: at least 1 token", name, n)
	}
	return n, nil
}

// parseStop reads stop (a string, or an array of strings and token ids) and
// stop_token_ids.
func parseStop(p *commonParams, g *genParams) *apiError {
	var items []any
	if len(p.Stop) > 0 && string(p.Stop) != "null" {
		var one string
		if json.Unmarshal(p.Stop, &one) == nil {
			items = []any{one}
		} else if err := json.Unmarshal(p.Stop, &items); err != nil {
			return badRequest("stop", "stop must be a string or an array of strings and token ids")
		}
	}
	for _, id := range p.StopTokenIDs {
		items = append(items, float64(id))
	}
	if len(items) > 64 {
		return badRequest("stop", "%d stop sequences: at most 64", len(items))
	}
	for _, it := range items {
		switch v := it.(type) {
		case string:
			if v == "" {
				return badRequest("stop", "an empty stop string")
			}
			g.stops = append(g.stops, v)
		case float64:
			if v != float64(int(v)) || v < 0 {
				return badRequest("stop", "stop token id %v is not a token id", v)
			}
			g.req.StopTokens = append(g.req.StopTokens, int(v))
		default:
			return badRequest("stop", "stop must be a string or an array of strings and token ids")
		}
	}
	return nil
}

// thinkv applies the extension object: the press (default the server's)
// and the prefix.
func (s *Server) thinkv(o *thinkvOptions, g *genParams) *apiError {
	spec := s.cfg.Press
	if o != nil && o.Press != nil {
		spec = *o.Press
	}
	if o != nil && o.Prefix != "" {
		if o.Press != nil {
			return badRequest("thinkv.press", "a request on a prefix takes no press: the prefix is compressed already")
		}
		c, ok := s.prefixes.get(o.Prefix)
		if !ok {
			return errf(http.StatusNotFound, "invalid_request_error", "thinkv.prefix", "prefix_not_found",
				"no prefix %q (it may have been evicted: create it again)", o.Prefix)
		}
		g.req.Prefix, g.prefix = c, c.Next()
		return nil
	}
	pr, err := press.Parse(spec)
	if err != nil {
		return badRequest("thinkv.press", "%v", err)
	}
	g.req.Press = pr
	return nil
}

// finish checks the prompt's length against the context and sets MaxNew
// (n, or until the context when until is set).
func (s *Server) finish(g *genParams, n int, untilContext bool) *apiError {
	ctx := s.e.Model.Context
	total := g.prefix + len(g.req.Prompt)
	if len(g.req.Prompt) == 0 {
		return badRequest("prompt", "empty prompt: at least one token is needed")
	}
	if total > ctx {
		return errf(http.StatusBadRequest, "invalid_request_error", "prompt", "context_length_exceeded",
			"the prompt is %d tokens, longer than the model's context of %d tokens", total, ctx)
	}
	if untilContext {
		n = ctx - total + 1
	}
	g.req.MaxNew = n
	if err := s.e.CheckMemory(total, n, g.req.CacheType()); err != nil {
		return badRequest("max_tokens", "%v", err)
	}
	return nil
}

// penalties reads min_p, the penalties and logit_bias into smp. OpenAI's
// presence and frequency penalties count every token generated so far, so
// the window is the whole generation.
func (s *Server) penalties(p *commonParams, smp *engine.Sampling) *apiError {
	for _, f := range []struct {
		name   string
		v      *float64
		lo, hi float64
		dst    *float64
	}{
		{"frequency_penalty", p.FrequencyPenalty, -2, 2, &smp.FrequencyPenalty},
		{"presence_penalty", p.PresencePenalty, -2, 2, &smp.PresencePenalty},
		{"repetition_penalty", p.RepetitionPenalty, 0, 10, &smp.RepeatPenalty},
		{"min_p", p.MinP, 0, 1, &smp.MinP},
	} {
		if f.v == nil {
			continue
		}
		if !(*f.v >= f.lo && *f.v <= f.hi) || (f.name == "repetition_penalty" && *f.v == 0) {
			return badRequest(f.name, "%s %g is outside [%g, %g]", f.name, *f.v, f.lo, f.hi)
		}
		*f.dst = *f.v
	}
	if smp.FrequencyPenalty != 0 || smp.PresencePenalty != 0 || smp.RepeatPenalty != 0 {
		smp.PenaltyLastN = -1
	}
	if len(p.LogitBias) == 0 {
		return nil
	}
	smp.LogitBias = make(map[int]float32, len(p.LogitBias))
	for k, b := range p.LogitBias {
		id, err := strconv.Atoi(k)
		if err != nil || id < 0 || id >= s.e.Model.Vocab {
			return badRequest("logit_bias", "logit_bias key %q is not a token id of the vocabulary (0 to %d)", k, s.e.Model.Vocab-1)
		}
		if !(b >= -100 && b <= 100) {
			return badRequest("logit_bias", "logit_bias for token %d is %g, outside [-100, 100]", id, b)
		}
		smp.LogitBias[id] = float32(b)
	}
	return nil
}
