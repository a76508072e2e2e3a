// Package chat turns a conversation into a model's prompt. It owns chat
// templates: finding a model's own Jinja template in its metadata (GGUF
// tokenizer.chat_template, or chat_template in a Hugging Face directory's
// tokenizer_config.json), rendering it as Hugging Face's apply_chat_template
// does (Jinja with trim_blocks and lstrip_blocks, raise_exception, bos_token
// and eos_token), built-in templates for models without one, and encoding a
// rendered prompt so that only the template's special tokens become special
// tokens (see EncodePrompt).
//
// Templates are rendered by github.com/ardanlabs/jinja, a Jinja engine
// written for LLM chat templates, and tested byte for byte against Python's
// Jinja2 (testdata/gen_fixtures.py).
package chat

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ardanlabs/jinja"

	"github.com/thinkv/thinkv/gguf"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"` // "system", "user", "assistant", ...
	Content string `json:"content"`
}

// Template is a parsed chat template, with the special-token texts it is
// rendered with. It is safe for concurrent use.
type Template struct {
	// Name says where the template came from: "gguf", "hf" or a builtin's
	// name.
	Name string
	// Source is the Jinja text.
	Source string
	// BOS and EOS are the texts bos_token and eos_token stand for; empty
	// leaves them undefined, as Hugging Face does for a model without one.
	BOS, EOS string
	t        *jinja.Template
}

// Parse compiles a Jinja chat template.
func Parse(name, source, bos, eos string) (*Template, error) {
	t, err := jinja.Compile(source)
	if err != nil {
		return nil, fmt.Errorf("chat: template %s: %w", name, err)
	}
	return &Template{Name: name, Source: source, BOS: bos, EOS: eos, t: t}, nil
}

// Render renders messages. With addGenerationPrompt the template ends with
// the start of an assistant turn (templates that always end with one, or
// never, ignore it). A template's raise_exception is an error.
func (t *Template) Render(messages []Message, addGenerationPrompt bool) (string, error) {
	msgs := make([]any, len(messages))
	for i, m := range messages {
		msgs[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	data := map[string]any{"messages": msgs, "add_generation_prompt": addGenerationPrompt}
	if t.BOS != "" {
		data["bos_token"] = t.BOS
	}
	if t.EOS != "" {
		data["eos_token"] = t.EOS
	}
	s, err := t.t.Render(data)
	if err != nil {
		return "", fmt.Errorf("chat: template %s: %w", t.Name, err)
	}
	return s, nil
}

//go:embed templates/*.jinja
var builtins embed.FS

// builtinTokens are the bos_token and eos_token of each built-in template.
var builtinTokens = map[string][2]string{
	"chatml":  {"", "<|im_end|>"},
	"qwen2":   {"", "<|im_end|>"},
	"llama3":  {"<|begin_of_text|>", "<|eot_id|>"},
	"mistral": {"<s>", "</s>"},
	"phi3":    {"<s>", "<|endoftext|>"},
	"plain":   {"", ""},
}

// Builtins lists the names Builtin knows.
func Builtins() []string {
	names := make([]string, 0, len(builtinTokens))
	for n := range builtinTokens {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Builtin returns a built-in template by name, for models without their
// own:
//   - "chatml": <|im_start|>role\ncontent<|im_end|>\n per message;
//   - "qwen2": ChatML with Qwen2's default system prompt;
//   - "llama3": Llama 3 Instruct's headers and <|eot_id|>;
//   - "mistral": Mistral Instruct v0.1's [INST] ... [/INST] (user and
//     assistant turns only, alternating, as Mistral's own template demands);
//   - "phi3": Phi-3's <|system|>, <|user|>, <|assistant|> and <|end|>;
//   - "plain": the contents alone, separated by blank lines (for base
//     models).
//
// Their bos_token and eos_token are each model's.
func Builtin(name string) (*Template, error) {
	tok, ok := builtinTokens[name]
	if !ok {
		return nil, fmt.Errorf("chat: no built-in template %q (have %s)", name, strings.Join(Builtins(), ", "))
	}
	src, err := builtins.ReadFile("templates/" + name + ".jinja")
	if err != nil {
		return nil, err
	}
	return Parse(name, string(src), tok[0], tok[1])
}

// ErrNoTemplate reports a model without a chat template of its own.
var ErrNoTemplate = errors.New("chat: the model has no chat template")

// GGUF metadata keys read by FromGGUF.
const (
	keyTemplate = "tokenizer.chat_template"
	keyTokens   = "tokenizer.ggml.tokens"
	keyBOS      = "tokenizer.ggml.bos_token_id"
	keyEOS      = "tokenizer.ggml.eos_token_id"
)

// FromGGUF returns the template in a GGUF file's tokenizer.chat_template,
// with bos_token and eos_token the pieces of tokenizer.ggml.bos_token_id and
// eos_token_id. It returns ErrNoTemplate if there is none.
func FromGGUF(f *gguf.File) (*Template, error) {
	if f == nil {
		return nil, errors.New("chat: nil GGUF file")
	}
	src, ok := f.String(keyTemplate)
	if !ok || src == "" {
		return nil, ErrNoTemplate
	}
	tokens, _ := f.Strings(keyTokens)
	piece := func(key string) string {
		id, ok := f.Uint(key)
		if !ok || id >= uint64(len(tokens)) {
			return ""
		}
		return tokens[id]
	}
	return Parse("gguf", src, piece(keyBOS), piece(keyEOS))
}

// hfConfig is the part of tokenizer_config.json FromDir reads.
type hfConfig struct {
	ChatTemplate json.RawMessage `json:"chat_template"`
	BOS          json.RawMessage `json:"bos_token"`
	EOS          json.RawMessage `json:"eos_token"`
}

// FromDir returns the template of a Hugging Face model directory: the
// chat_template of its tokenizer_config.json (a string, or the one named
// "default" in a list of named templates), else a chat_template.jinja file
// beside it. bos_token and eos_token are the config's (strings or added-token
// objects). It returns ErrNoTemplate if there is none.
func FromDir(dir string) (*Template, error) {
	data, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var c hfConfig
	if err == nil {
		if err := json.Unmarshal(data, &c); err != nil {
			return nil, fmt.Errorf("chat: %s: %w", filepath.Join(dir, "tokenizer_config.json"), err)
		}
	}
	src, err := configTemplate(c.ChatTemplate)
	if err != nil {
		return nil, fmt.Errorf("chat: %s: %w", dir, err)
	}
	if src == "" {
		b, err := os.ReadFile(filepath.Join(dir, "chat_template.jinja"))
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNoTemplate
		} else if err != nil {
			return nil, err
		}
		src = string(b)
	}
	return Parse("hf", src, tokenText(c.BOS), tokenText(c.EOS))
}

// configTemplate reads chat_template: a string, or a list of {name,
// template} from which "default" is taken.
func configTemplate(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var named []struct{ Name, Template string }
	if err := json.Unmarshal(raw, &named); err != nil {
		return "", fmt.Errorf("chat_template is neither a string nor a list of named templates")
	}
	for _, n := range named {
		if n.Name == "default" {
			return n.Template, nil
		}
	}
	return "", fmt.Errorf("chat_template has no template named \"default\"")
}

// tokenText reads a special token of tokenizer_config.json: a string or an
// object with "content"; null is "".
func tokenText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct{ Content string }
	if json.Unmarshal(raw, &o) == nil {
		return o.Content
	}
	return ""
}
