package eval

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/internal/sharedtest"
)

const multiNewsHead = "You are given several news passages. Write a one-page summary of all news. \n\nNews:\n"
const multiNewsTail = "\n\nNow, write a one-page summary of all the news.\n\nSummary:"

func TestLongBenchMultiNews(t *testing.T) {
	dir := sharedtest.Path(t, "data/longbench")
	tok := sharedLlama2Tok(t)
	task, err := TaskByName("longbench:multi_news")
	if err != nil {
		t.Fatal(err)
	}
	whole, err := task.Samples(tok, Options{Samples: 4, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var recs []longBenchRecord
	for _, l := range strings.SplitN(string(mustRead(os.ReadFile(filepath.Join(dir, "multi_news.jsonl")))), "\n", 5)[:4] {
		var r longBenchRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if len(whole) != 4 {
		t.Fatalf("%d samples, want 4", len(whole))
	}
	for i, s := range whole {
		if s.Context != multiNewsHead+recs[i].Context || s.Question != multiNewsTail || s.AnswerPrefix != "" ||
			s.MaxNew != 512 || s.ID != recs[i].ID || s.Answers[0] != recs[i].Answers[0] || s.Depth != -1 {
			t.Errorf("sample %d: prompt or fields differ from LongBench's", i)
		}
		if s.Length != promptLen(tok, s.Context+s.Question) {
			t.Errorf("sample %d: Length %d", i, s.Length)
		}
		if got := task.Score(s, s.Answers[0]); !approxEq(got, 2/(2+1e-8)) {
			t.Errorf("sample %d: Score of the reference %v", i, got)
		}
	}

	// Middle truncation: the first and last 512 tokens of the prompt.
	const L = 1024
	cut, err := task.Samples(tok, Options{Samples: 4, DataDir: dir, Lengths: []int{L}})
	if err != nil {
		t.Fatal(err)
	}
	truncated := 0
	for i, s := range cut {
		p, full := s.Context+s.Question, whole[i].Context+whole[i].Question
		if whole[i].Length <= L {
			if p != full {
				t.Errorf("sample %d fits but was changed", i)
			}
			continue
		}
		truncated++
		ids := tok.Encode(full, true)
		want := tok.Decode(ids[:L/2]) + tok.Decode(ids[len(ids)-L/2:])
		if n := promptLen(tok, p); p != want || s.Length != L || n > L+2 || n < L-2 || s.Question != multiNewsTail ||
			!strings.HasPrefix(full, p[:200]) || !strings.HasSuffix(full, p[len(p)-200:]) {
			t.Errorf("sample %d: truncated to %d tokens: %.80q … %.80q", i, s.Length, p, p[len(p)-80:])
		}
	}
	if truncated == 0 {
		t.Error("no sample was long enough to truncate")
	}
}

func mustRead[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestLongBenchClassification builds a small trec file to check the
// few-shot template split, all_classes and the first-line rule.
func TestLongBenchClassification(t *testing.T) {
	shared := sharedtest.Path(t, "data/longbench/config")
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "config"), 0o755)
	for _, f := range []string{"dataset2prompt.json", "dataset2maxlen.json"} {
		os.WriteFile(filepath.Join(dir, "config", f), mustRead(os.ReadFile(filepath.Join(shared, f))), 0o644)
	}
	os.MkdirAll(filepath.Join(dir, "data"), 0o755)
	rec := `{"input": "What is the capital of France?\nType:", "context": "Question: Who wrote Hamlet?\nType: Human\n", "answers": ["Location"], "length": 12, "all_classes": ["Human", "Location", "Entity"], "_id": "t1"}`
	os.WriteFile(filepath.Join(dir, "data", "trec_e.jsonl"), []byte(rec+"\n"), 0o644)

	task, err := TaskByName("longbench:trec_e")
	if err != nil {
		t.Fatal(err)
	}
	ss, err := task.Samples(sharedTok512(t), Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s := ss[0]
	if s.Context != "Please determine the type of the question below. Here are some examples of questions.\n\nQuestion: Who wrote Hamlet?\nType: Human\n" ||
		s.Question != "\nWhat is the capital of France?\nType:" || s.MaxNew != 64 {
		t.Errorf("prompt: %q | %q (max %d)", s.Context, s.Question, s.MaxNew)
	}
	for pred, want := range map[string]float64{" Location\nHuman": 1, "Human or Location": 0.5, "Entity": 0, "\n\nLocation": 1} {
		if got := task.Score(s, pred); got != want {
			t.Errorf("Score(%q) = %v, want %v", pred, got, want)
		}
	}
	if _, err := (&LongBench{Dataset: "qasper"}).Samples(sharedTok512(t), Options{DataDir: dir}); err == nil {
		t.Error("no error for a missing dataset file")
	}
	if _, err := (&LongBench{Dataset: "nope"}).Samples(sharedTok512(t), Options{DataDir: dir}); err == nil {
		t.Error("no error for an unknown dataset")
	}
}
