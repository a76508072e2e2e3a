package chat

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/thinkv/thinkv/gguf"
	"github.com/thinkv/thinkv/internal/sharedtest"
)

type fixtures struct {
	Conversations map[string][]Message
	Cases         []struct {
		Template            string
		Conversation        string
		AddGenerationPrompt bool `json:"add_generation_prompt"`
		Output              string
		Error               string
	}
}

func loadFixtures(t *testing.T) fixtures {
	t.Helper()
	data, err := os.ReadFile("testdata/fixtures.json")
	if err != nil {
		t.Fatal(err)
	}
	var f fixtures
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// fixtureTemplate finds a fixture's template: a builtin, or the model's own
// from shared/ ("hf:llama3-bpe", "gguf:phi-3") or the Qwen3 tokenizer
// package .ci/run fetches ("hf:qwen3").
func fixtureTemplate(t *testing.T, name string) *Template {
	t.Helper()
	var tmpl *Template
	var err error
	switch name {
	case "hf:llama3-bpe":
		tmpl, err = FromDir(sharedtest.Path(t, "tokenizers", "llama3-bpe"))
	case "gguf:phi-3":
		f, ferr := gguf.Open(sharedtest.Path(t, "tokenizers", "llama-cpp-vocab", "ggml-vocab-phi-3.gguf"))
		if ferr != nil {
			t.Fatal(ferr)
		}
		defer f.Close()
		tmpl, err = FromGGUF(f)
	case "hf:qwen3":
		path := os.Getenv("THINKV_QWEN_TOKENIZER")
		if path == "" {
			if os.Getenv("CI") != "" {
				t.Fatal("THINKV_QWEN_TOKENIZER is not set: .ci/run should have fetched the Qwen tokenizer")
			}
			t.Skip("THINKV_QWEN_TOKENIZER not set")
		}
		tmpl, err = FromDir(filepath.Dir(path))
	default:
		tmpl, err = Builtin(name)
	}
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

// TestRenderMatchesJinja2 renders each fixture's conversation and compares
// the prompt byte for byte with Python Jinja2's (testdata/gen_fixtures.py),
// errors from raise_exception included.
func TestRenderMatchesJinja2(t *testing.T) {
	f := loadFixtures(t)
	seen := map[string]bool{}
	for _, c := range f.Cases {
		seen[c.Template] = true
		t.Run(c.Template+"/"+c.Conversation, func(t *testing.T) {
			tmpl := fixtureTemplate(t, c.Template)
			got, err := tmpl.Render(f.Conversations[c.Conversation], c.AddGenerationPrompt)
			switch {
			case c.Error != "" && err == nil:
				t.Errorf("add_generation_prompt=%v: rendered %q, want the error %q", c.AddGenerationPrompt, got, c.Error)
			case c.Error == "" && err != nil:
				t.Errorf("add_generation_prompt=%v: %v", c.AddGenerationPrompt, err)
			case got != c.Output:
				t.Errorf("add_generation_prompt=%v:\n got %q\nwant %q", c.AddGenerationPrompt, got, c.Output)
			}
		})
	}
	for _, name := range append(Builtins(), "hf:llama3-bpe", "gguf:phi-3", "hf:qwen3") {
		if !seen[name] {
			t.Errorf("no fixtures for template %s: rerun testdata/gen_fixtures.py", name)
		}
	}
}

func TestBuiltinUnknown(t *testing.T) {
	if _, err := Builtin("nope"); err == nil {
		t.Error("Builtin(\"nope\") succeeded")
	}
}

func TestFromDir(t *testing.T) {
	dir := t.TempDir()
	if _, err := FromDir(dir); err != ErrNoTemplate {
		t.Errorf("empty directory: err = %v, want ErrNoTemplate", err)
	}
	cfg := `{"bos_token": {"content": "<B>"}, "eos_token": "<E>",
		"chat_template": [{"name": "tool_use", "template": "x"}, {"name": "default", "template": "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}"}]}`
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	tmpl, err := FromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tmpl.Render([]Message{{"user", "hi"}}, false); err != nil || got != "<B>hi<E>" {
		t.Errorf("Render = %q, %v; want \"<B>hi<E>\"", got, err)
	}
	// A chat_template.jinja file beside a config without one.
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"eos_token": "<E>"}`), 0o644)
	os.WriteFile(filepath.Join(dir, "chat_template.jinja"), []byte("{% for m in messages %}[{{ m.role }}]{% endfor %}{{ eos_token }}"), 0o644)
	tmpl, err = FromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tmpl.Render([]Message{{"user", "hi"}, {"assistant", "yo"}}, false); err != nil || got != "[user][assistant]<E>" {
		t.Errorf("Render = %q, %v; want \"[user][assistant]<E>\"", got, err)
	}
}
