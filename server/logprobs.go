package server

import (
	"encoding/json"

	"github.com/thinkv/thinkv/engine"
)

// Logprobs limits: OpenAI's, for the legacy completions' logprobs and the
// chat's top_logprobs.
const (
	maxCompletionLogprobs = 5
	maxChatTopLogprobs    = 20
)

// tokenLogprob is a generated token with its logprobs, as the engine's
// Event reports them (the log-softmax of the model's logits, before
// temperature, logit bias and penalties, as OpenAI reports them).
type tokenLogprob struct {
	text    string // the token's text (Event.Piece)
	prev    int    // the token before it, for its alternatives' text
	offset  int    // the byte offset of text in the completion
	logprob float32
	top     []engine.TokenLogprob
}

// parseCompletionLogprobs reads the legacy completions' logprobs: null (or
// false) for none, else the number of alternatives, 0 to 5, each token's
// own logprob always included.
func parseCompletionLogprobs(raw json.RawMessage, g *genParams) *apiError {
	if len(raw) == 0 || string(raw) == "null" || string(raw) == "false" {
		return nil
	}
	var k int
	if json.Unmarshal(raw, &k) != nil || k < 0 || k > maxCompletionLogprobs {
		return badRequest("logprobs", "logprobs must be an integer from 0 to %d (got %s)", maxCompletionLogprobs, raw)
	}
	g.logprobs, g.req.Logprobs, g.req.LogprobChosen = true, k, true
	return nil
}

// parseChatLogprobs reads the chat's logprobs (a boolean) and top_logprobs
// (0 to 20, only with logprobs: true).
func parseChatLogprobs(lp, top json.RawMessage, g *genParams) *apiError {
	var on bool
	if len(lp) > 0 && string(lp) != "null" && json.Unmarshal(lp, &on) != nil {
		return badRequest("logprobs", "logprobs must be a boolean (got %s)", lp)
	}
	k := 0
	if len(top) > 0 && string(top) != "null" {
		if json.Unmarshal(top, &k) != nil || k < 0 || k > maxChatTopLogprobs {
			return badRequest("top_logprobs", "top_logprobs must be an integer from 0 to %d (got %s)", maxChatTopLogprobs, top)
		}
		if k > 0 && !on {
			return badRequest("top_logprobs", "top_logprobs needs logprobs: true")
		}
	}
	if on {
		g.logprobs, g.req.Logprobs, g.req.LogprobChosen = true, k, true
	}
	return nil
}

// completionLogprobs is OpenAI's legacy choices[].logprobs.
type completionLogprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []float32            `json:"token_logprobs"`
	TopLogprobs   []map[string]float32 `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
}

// completionLogprobs formats tokens' logprobs for /v1/completions.
func (s *Server) completionLogprobs(toks []tokenLogprob) *completionLogprobs {
	out := &completionLogprobs{Tokens: make([]string, len(toks)), TokenLogprobs: make([]float32, len(toks)),
		TopLogprobs: make([]map[string]float32, len(toks)), TextOffset: make([]int, len(toks))}
	for i, t := range toks {
		out.Tokens[i], out.TokenLogprobs[i], out.TextOffset[i] = t.text, t.logprob, t.offset
		top := make(map[string]float32, len(t.top))
		for _, a := range t.top {
			// Alternatives with the same text: the likelier one's logprob.
			if text := s.e.Tok.Piece(t.prev, a.Token); !has(top, text) {
				top[text] = a.Logprob
			}
		}
		out.TopLogprobs[i] = top
	}
	return out
}

func has(m map[string]float32, k string) bool {
	_, ok := m[k]
	return ok
}

// chatLogprobs is the chat's choices[].logprobs.
type chatLogprobs struct {
	Content []chatTokenLogprob `json:"content"`
	Refusal []chatTokenLogprob `json:"refusal"`
}

type chatTokenLogprob struct {
	Token       string              `json:"token"`
	Logprob     float32             `json:"logprob"`
	Bytes       []int               `json:"bytes"`
	TopLogprobs *[]chatTokenLogprob `json:"top_logprobs,omitempty"`
}

// chatLogprobs formats tokens' logprobs for /v1/chat/completions.
func (s *Server) chatLogprobs(toks []tokenLogprob) *chatLogprobs {
	out := &chatLogprobs{Content: make([]chatTokenLogprob, len(toks))}
	for i, t := range toks {
		top := make([]chatTokenLogprob, len(t.top))
		for j, a := range t.top {
			top[j] = tokenJSON(s.e.Tok.Piece(t.prev, a.Token), a.Logprob)
		}
		out.Content[i] = tokenJSON(t.text, t.logprob)
		out.Content[i].TopLogprobs = &top
	}
	return out
}

// tokenJSON is a token's entry: its text (JSON replaces invalid UTF-8),
// logprob and bytes.
func tokenJSON(text string, lp float32) chatTokenLogprob {
	b := make([]int, len(text))
	for i := range len(text) {
		b[i] = int(text[i])
	}
	return chatTokenLogprob{Token: text, Logprob: lp, Bytes: b}
}
