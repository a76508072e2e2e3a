package eval

import (
	"strings"
	"sync"
	"testing"

	"github.com/thinkv/thinkv/internal/sharedtest"
	"github.com/thinkv/thinkv/tokenizer"
)

var (
	sharedToksMu sync.Mutex
	sharedToks   = map[string]*tokenizer.Tokenizer{}
)

// loadSharedTok loads a shared llama2.c tokenizer once per test binary.
func loadSharedTok(t testing.TB, rel string, vocab int) *tokenizer.Tokenizer {
	t.Helper()
	path := sharedtest.Path(t, rel)
	sharedToksMu.Lock()
	defer sharedToksMu.Unlock()
	if tok := sharedToks[path]; tok != nil {
		return tok
	}
	tok, err := tokenizer.LoadLlama2C(path, vocab)
	if err != nil {
		t.Fatal(err)
	}
	sharedToks[path] = tok
	return tok
}

// sharedTok512 is the stories260K tokenizer (512 pieces: many tokens a word).
func sharedTok512(t testing.TB) *tokenizer.Tokenizer {
	return loadSharedTok(t, "models/stories260K/tok512.bin", 512)
}

// sharedLlama2Tok is the Llama 2 tokenizer (32000 pieces).
func sharedLlama2Tok(t testing.TB) *tokenizer.Tokenizer {
	return loadSharedTok(t, "tokenizers/llama2-spm/tokenizer.bin", 32000)
}

func TestTaskByName(t *testing.T) {
	for _, name := range []string{"niah", "ruler:niah_single_1", "ruler:vt", "ruler:cwe", "ruler:fwe",
		"ruler-jsonl:x/niah_multikey_3_4096.jsonl", "longbench:multi_news", "longbench:trec_e"} {
		task, err := TaskByName(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if task.Name() != name {
			t.Errorf("TaskByName(%q).Name() = %q", name, task.Name())
		}
	}
	for _, name := range []string{"", "nope", "niah:x", "ruler:", "ruler:qa_1", "ruler-jsonl:", "longbench:foo"} {
		_, err := TaskByName(name)
		if err == nil {
			t.Errorf("TaskByName(%q): no error", name)
			continue
		}
		for _, want := range []string{"niah", "ruler:niah_multikey_3", "ruler:fwe", "ruler-jsonl:PATH", "longbench:multi_news"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("TaskByName(%q) error does not list %q: %v", name, want, err)
			}
		}
	}
	if n := len(TaskNames()); n != 1+11+1+21 {
		t.Errorf("%d task names", n)
	}
}
