package eval

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/thinkv/thinkv/tokenizer"
)

// longBenchMetrics is LongBench's dataset2metric (eval.py).
var longBenchMetrics = map[string]func(pred, gt string, classes []string) float64{
	"narrativeqa":          noClasses(QAF1),
	"qasper":               noClasses(QAF1),
	"multifieldqa_en":      noClasses(QAF1),
	"multifieldqa_zh":      noClasses(QAF1Zh),
	"hotpotqa":             noClasses(QAF1),
	"2wikimqa":             noClasses(QAF1),
	"musique":              noClasses(QAF1),
	"dureader":             noClasses(RougeLZh),
	"gov_report":           noClasses(RougeL),
	"qmsum":                noClasses(RougeL),
	"multi_news":           noClasses(RougeL),
	"vcsum":                noClasses(RougeLZh),
	"trec":                 ClassificationScore,
	"triviaqa":             noClasses(QAF1),
	"samsum":               noClasses(RougeL),
	"lsht":                 ClassificationScore,
	"passage_retrieval_en": noClasses(RetrievalScore),
	"passage_count":        noClasses(CountScore),
	"passage_retrieval_zh": noClasses(RetrievalZhScore),
	"lcc":                  noClasses(CodeSimScore),
	"repobench-p":          noClasses(CodeSimScore),
}

func noClasses(f func(pred, gt string) float64) func(string, string, []string) float64 {
	return func(pred, gt string, _ []string) float64 { return f(pred, gt) }
}

// longBenchFirstLine are the datasets whose prediction LongBench cuts to its
// first line (after leading newlines) before scoring.
var longBenchFirstLine = map[string]bool{"trec": true, "triviaqa": true, "samsum": true, "lsht": true}

// LongBenchDatasets lists the LongBench datasets TaskByName accepts (each
// also as DATASET_e, LongBench-E).
func LongBenchDatasets() []string {
	var out []string
	for k := range longBenchMetrics {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// LongBenchScore is LongBench's per-sample score (eval.py's scorer): the
// dataset's metric, maximised over the reference answers, on the first line
// of the prediction for trec, triviaqa, samsum and lsht. classes is the
// dataset's all_classes (trec, lsht).
func LongBenchScore(dataset, pred string, answers, classes []string) float64 {
	dataset = strings.TrimSuffix(dataset, "_e")
	metric, ok := longBenchMetrics[dataset]
	if !ok {
		return 0
	}
	if longBenchFirstLine[dataset] {
		pred, _, _ = strings.Cut(strings.TrimLeft(pred, "\n"), "\n")
	}
	best := 0.0
	for _, gt := range answers {
		best = max(best, metric(pred, gt, classes))
	}
	return best
}

// LongBench is a LongBench (v1) dataset read from DATASET.jsonl in
// Options.DataDir (or its data/ folder; default the shared copy), prompted
// with config/dataset2prompt.json and generating dataset2maxlen.json tokens
// (config/ in DataDir or beside it). Each of Options.Lengths is a prompt
// budget, as LongBench's model2maxlen: a longer prompt keeps its first and
// last halves of that many tokens (LongBench's middle truncation), and
// Sample.Length is the budget; with no Lengths prompts are whole and
// Sample.Length is the prompt's tokens. Options.Samples keeps the first N
// (default all).
//
// Context is the prompt up to the end of the document, Question the rest of
// the template (instructions, the question, "Answer:"); AnswerPrefix is
// empty, as LongBench puts its answer cue inside the prompt.
type LongBench struct {
	Dataset string // e.g. "multi_news"; "multi_news_e" for LongBench-E

	mu      sync.Mutex
	classes []string // all_classes, read by Samples
}

// Name returns "longbench:" and the dataset.
func (t *LongBench) Name() string { return "longbench:" + t.Dataset }

type longBenchRecord struct {
	Input      string   `json:"input"`
	Context    string   `json:"context"`
	Answers    []string `json:"answers"`
	Length     int      `json:"length"`
	AllClasses []string `json:"all_classes"`
	ID         string   `json:"_id"`
}

// longBenchConfig reads the dataset's prompt template and generation length.
func longBenchConfig(dataDir, dataset string) (string, int, error) {
	dir, err := findDir(dataDir, "config", "dataset2prompt.json", true, false, "--data")
	if err != nil {
		return "", 0, err
	}
	var prompts map[string]string
	var maxLens map[string]int
	for name, dst := range map[string]any{"dataset2prompt.json": &prompts, "dataset2maxlen.json": &maxLens} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return "", 0, err
		}
		if err := json.Unmarshal(data, dst); err != nil {
			return "", 0, fmt.Errorf("%s: %w", name, err)
		}
	}
	p, ok1 := prompts[dataset]
	n, ok2 := maxLens[dataset]
	if !ok1 || !ok2 {
		return "", 0, fmt.Errorf("%s: no prompt or generation length for %q", dir, dataset)
	}
	return p, n, nil
}

// Samples reads the dataset and builds its prompts.
func (t *LongBench) Samples(tok *tokenizer.Tokenizer, opts Options) ([]Sample, error) {
	base := strings.TrimSuffix(t.Dataset, "_e")
	if _, ok := longBenchMetrics[base]; !ok {
		return nil, fmt.Errorf("longbench: unknown dataset %q (have %s)", t.Dataset, strings.Join(LongBenchDatasets(), ", "))
	}
	file := t.Dataset + ".jsonl"
	dir, err := findDir(opts.DataDir, "longbench", file, true, false, "--data")
	if err != nil {
		var err2 error
		if dir, err2 = findDir(opts.DataDir, "data", file, true, false, "--data"); err2 != nil {
			return nil, fmt.Errorf("%s: %w", t.Name(), err)
		}
	}
	template, maxNew, err := longBenchConfig(dir, base)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name(), err)
	}
	recs, err := readLongBench(filepath.Join(dir, file), opts.Samples)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name(), err)
	}
	budgets := optLengths(opts, 0)
	var out []Sample
	for _, rec := range recs {
		if rec.AllClasses != nil {
			t.mu.Lock()
			t.classes = rec.AllClasses // eval.py keeps the last record's
			t.mu.Unlock()
		}
		// str.format substitutes both fields in one pass.
		prompt := strings.NewReplacer("{context}", rec.Context, "{input}", rec.Input).Replace(template)
		_, after, _ := strings.Cut(template, "{context}")
		tail := strings.ReplaceAll(after, "{input}", rec.Input)
		ids := tok.Encode(prompt, true)
		for _, L := range budgets {
			p, n := prompt, len(ids)
			if L > 0 {
				n = L
				if len(ids) > L {
					half := L / 2
					p = tok.Decode(ids[:half]) + tok.Decode(ids[len(ids)-half:])
				}
			}
			ctx, q := p, ""
			if strings.HasSuffix(p, tail) {
				ctx, q = p[:len(p)-len(tail)], tail
			}
			id := rec.ID
			if len(budgets) > 1 {
				id = fmt.Sprintf("%s-L%d", rec.ID, L)
			}
			out = append(out, Sample{
				ID: id, Task: t.Name(), Context: ctx, Question: q,
				Answers: rec.Answers, MaxNew: maxNew,
				Length: n, Depth: -1,
			})
		}
	}
	return out, nil
}

func readLongBench(path string, limit int) ([]longBenchRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<30)
	var out []longBenchRecord
	for line := 1; sc.Scan() && (limit <= 0 || len(out) < limit); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var rec longBenchRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, rec)
	}
	return out, sc.Err()
}

// Score is LongBenchScore for the dataset, with the all_classes that Samples
// read (trec and lsht need them).
func (t *LongBench) Score(s Sample, prediction string) float64 {
	t.mu.Lock()
	classes := t.classes
	t.mu.Unlock()
	return LongBenchScore(t.Dataset, prediction, s.Answers, classes)
}
