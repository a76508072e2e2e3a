package eval

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/internal/sharedtest"
)

func TestRulerTaskOf(t *testing.T) {
	for path, want := range map[string]string{
		"a/niah_multikey_3_4096.jsonl":   "niah_multikey_3",
		"niah_single_1.jsonl":            "niah_single_1",
		"data/4096/cwe/validation.jsonl": "cwe",
		"vt_131072.jsonl":                "vt",
	} {
		if got := rulerTaskOf(path); got != want {
			t.Errorf("rulerTaskOf(%q) = %q, want %q", path, got, want)
		}
	}
	for path, want := range map[string]string{"x/qa_1_4096.jsonl": "qa", "fwe.jsonl": "fwe", "variable_tracking.jsonl": "vt"} {
		if got := (&RulerJSONL{Path: path}).family(); got != want {
			t.Errorf("family(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestRulerJSONLShared(t *testing.T) {
	path := sharedtest.Path(t, "data/ruler_kvcache_factory/niah_multikey_3_4096.jsonl")
	task, err := TaskByName("ruler-jsonl:" + path)
	if err != nil {
		t.Fatal(err)
	}
	tok := sharedLlama2Tok(t)
	ss, err := task.Samples(tok, Options{Samples: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 5 {
		t.Fatalf("%d samples, want 5", len(ss))
	}
	data, _ := os.ReadFile(path)
	var first rulerRecord
	if err := json.Unmarshal([]byte(strings.SplitN(string(data), "\n", 2)[0]), &first); err != nil {
		t.Fatal(err)
	}
	s := ss[0]
	if s.Context+s.Question+s.AnswerPrefix != first.Input || s.ID != "0" || s.Answers[0] != first.Outputs[0] {
		t.Error("sample 0 does not reassemble the record")
	}
	if !strings.HasPrefix(s.Question, "What is the special magic uuid for ") ||
		!strings.HasPrefix(s.AnswerPrefix, " The special magic uuid for ") || s.MaxNew != 128 || s.Length < 3000 {
		t.Errorf("split or fields: %q %q %d %d", s.Question, s.AnswerPrefix, s.MaxNew, s.Length)
	}
	if task.Score(s, " "+first.Outputs[0]+".") != 1 || task.Score(s, "no idea") != 0 {
		t.Error("Score")
	}
	// Relative paths resolve under DataDir.
	rel := &RulerJSONL{Path: "niah_multikey_3_4096.jsonl"}
	if got, err := rel.Samples(tok, Options{Samples: 1, DataDir: filepath.Dir(path)}); err != nil || len(got) != 1 {
		t.Errorf("relative path: %v", err)
	}
}

func TestRulerJSONLAnswerPrefixField(t *testing.T) {
	// RULER's own files carry the answer prefix in a field of its own.
	dir := t.TempDir()
	path := filepath.Join(dir, "cwe", "validation.jsonl")
	os.MkdirAll(filepath.Dir(path), 0o755)
	rec := `{"index": 3, "input": "Below is a numbered list of words.\n1. a 2. b\nQuestion: What are the 10 most common words in the above list?", "outputs": ["a"], "length": 100, "answer_prefix": " Answer: The top 10 words that appear most often in the list are:"}`
	os.WriteFile(path, []byte(rec+"\n\n"), 0o644)
	ss, err := (&RulerJSONL{Path: path}).Samples(sharedTok512(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := ss[0]
	if s.Context != "Below is a numbered list of words.\n1. a 2. b\n" || s.Question != "Question: What are the 10 most common words in the above list?" ||
		s.AnswerPrefix != " Answer: The top 10 words that appear most often in the list are:" || s.MaxNew != 120 || s.ID != "3" {
		t.Errorf("sample: %+v", s)
	}
	os.WriteFile(path, []byte(`{"index": 0, "input": "no markers", "outputs": ["a"]}`), 0o644)
	if _, err := (&RulerJSONL{Path: path}).Samples(sharedTok512(t), Options{}); err == nil {
		t.Error("no error for an input without the task's markers")
	}
}
