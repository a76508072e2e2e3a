package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/thinkv/thinkv/chat"
)

// chatRequest is the body of POST /v1/chat/completions.
type chatRequest struct {
	commonParams
	Messages          []chatMessage   `json:"messages"`
	TopLogprobs       json.RawMessage `json:"top_logprobs"`
	Tools             json.RawMessage `json:"tools"`
	ToolChoice        json.RawMessage `json:"tool_choice"`
	ParallelToolCalls json.RawMessage `json:"parallel_tool_calls"` // ignored: no tools
	ResponseFormat    json.RawMessage `json:"response_format"`
	Functions         json.RawMessage `json:"functions"`
	FunctionCall      json.RawMessage `json:"function_call"`
	Audio             json.RawMessage `json:"audio"`
	Modalities        json.RawMessage `json:"modalities"`
	Prediction        json.RawMessage `json:"prediction"`
	ReasoningEffort   json.RawMessage `json:"reasoning_effort"` // ignored
	Verbosity         json.RawMessage `json:"verbosity"`        // ignored
	WebSearchOptions  json.RawMessage `json:"web_search_options"`
}

// chatMessage is one message; content is a string or an array of text parts.
type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	Name    string          `json:"name,omitempty"`
}

// RenderFallback is the chat prompt of a model without a template (and
// none chosen): "role: content" lines, then "assistant:" to prompt the
// reply.
func RenderFallback(msgs []chat.Message) string {
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "%s: %s\n", m.Role, m.Content)
	}
	b.WriteString("assistant:")
	return b.String()
}

type chatDelta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

type chatChoice struct {
	Index        int        `json:"index"`
	Message      *chatDelta `json:"message,omitempty"`
	Delta        *chatDelta `json:"delta,omitempty"`
	Logprobs     any        `json:"logprobs"`
	FinishReason *string    `json:"finish_reason"`
}

type chatJSON struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   *usageJSON   `json:"usage,omitempty"`
}

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if e := s.decodeJSON(w, r, &req); e != nil {
		writeError(w, e)
		return
	}
	g := &genParams{}
	if e := s.chatParams(&req, g); e != nil {
		writeError(w, e)
		return
	}
	id, created := newID("chatcmpl-"), time.Now().Unix()
	first := true
	chunk := func(text string, toks []tokenLogprob, finish *string) any {
		// The first chunk announces the role, as OpenAI's do.
		d := &chatDelta{}
		if finish == nil {
			d.Content = &text
		}
		if first {
			d.Role, first = "assistant", false
		}
		c := chatJSON{ID: id, Object: "chat.completion.chunk", Created: created, Model: s.cfg.ModelName,
			Choices: []chatChoice{{Delta: d, FinishReason: finish}}}
		if g.logprobs && finish == nil {
			c.Choices[0].Logprobs = s.chatLogprobs(toks)
		}
		return c
	}
	s.respond(w, r, g, chunk, func(res *genResult) any {
		c := chatJSON{ID: id, Object: "chat.completion", Created: created, Model: s.cfg.ModelName,
			Choices: []chatChoice{{Message: &chatDelta{Role: "assistant", Content: &res.text}, FinishReason: &res.finish}},
			Usage:   usageOf(res, g)}
		if g.logprobs {
			c.Choices[0].Logprobs = s.chatLogprobs(res.logprobs)
		}
		return c
	})
}

// chatParams checks a chat request, renders its messages and fills g.
func (s *Server) chatParams(req *chatRequest, g *genParams) *apiError {
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		def  []string
	}{
		{"tools", req.Tools, []string{"[]"}},
		{"tool_choice", req.ToolChoice, []string{`"none"`, `"auto"`}},
		{"response_format", req.ResponseFormat, []string{`{"type":"text"}`}},
		{"functions", req.Functions, []string{"[]"}}, {"function_call", req.FunctionCall, []string{`"none"`, `"auto"`}},
		{"audio", req.Audio, nil}, {"modalities", req.Modalities, []string{`["text"]`}},
		{"prediction", req.Prediction, nil}, {"web_search_options", req.WebSearchOptions, nil},
	} {
		if e := refuse(f.name, f.raw, f.def...); e != nil {
			return e
		}
	}
	if e := s.common(&req.commonParams, g); e != nil {
		return e
	}
	if e := parseChatLogprobs(req.Logprobs, req.TopLogprobs, g); e != nil {
		return e
	}
	if len(req.Messages) == 0 {
		return badRequest("messages", "messages must hold at least one message")
	}
	msgs := make([]chat.Message, len(req.Messages))
	for i, m := range req.Messages {
		param := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case "system", "developer", "user", "assistant", "tool":
		default:
			return badRequest(param+".role", "unknown role %q", m.Role)
		}
		text, err := contentText(m.Content)
		if err != "" {
			return badRequest(param+".content", "%s", err)
		}
		msgs[i] = chat.Message{Role: m.Role, Content: text}
	}
	n := 0
	if req.MaxTokens != nil || req.MaxCompletionTokens != nil {
		var e *apiError
		if n, e = maxNew(&req.commonParams, 0); e != nil {
			return e
		}
	}
	if e := s.chatPrompt(msgs, g); e != nil {
		return e
	}
	return s.finish(g, n, n == 0)
}

// chatPrompt encodes messages with the server's template (or the fallback).
// On a prefix the rendered conversation follows the prefix, without BOS.
func (s *Server) chatPrompt(msgs []chat.Message, g *genParams) *apiError {
	if s.cfg.ChatTemplate == nil {
		g.req.Prompt = s.e.Tok.Encode(RenderFallback(msgs), s.e.Tok.AddBOS() && g.req.Prefix == nil)
		return nil
	}
	ids, err := chat.EncodePrompt(s.e.Tok, s.cfg.ChatTemplate, msgs, true)
	if err != nil {
		return badRequest("messages", "%v", err)
	}
	if g.req.Prefix != nil && len(ids) > 0 && ids[0] == s.e.Tok.BOS() {
		ids = ids[1:]
	}
	g.req.Prompt = ids
	return nil
}

// contentText returns a message's text: a string, or the concatenated text
// parts of an array (other parts are refused).
func contentText(raw json.RawMessage) (string, string) {
	var text string
	if len(raw) == 0 || string(raw) == "null" {
		return "", ""
	}
	if json.Unmarshal(raw, &text) == nil {
		return text, ""
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return "", "content must be a string or an array of text parts"
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return "", fmt.Sprintf("content part of type %q: thinkv takes text only", p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), ""
}
