package eval

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/thinkv/thinkv/tokenizer"
)

// RulerJSONL is a RULER task read from a jsonl file as RULER's prepare.py
// (or KVCache-Factory's copy of it) writes it: fields index, input, outputs,
// length and, in RULER's own files, answer_prefix (else the prefix is the
// end of input). The task family, which sets the split, the generation
// length and the metric, comes from the file name ("niah_multikey_3_4096.jsonl",
// ".../cwe/validation.jsonl"). Options.Samples keeps the first N samples
// (default all); Options.Lengths and Seed do not apply; Sample.Length is the
// prompt's length in the model's tokens.
type RulerJSONL struct {
	Path string // the file; a relative path not found is tried under Options.DataDir
}

// Name returns "ruler-jsonl:" and the path.
func (t *RulerJSONL) Name() string { return "ruler-jsonl:" + t.Path }

// rulerTaskOf names the RULER task of a jsonl file: its base name without a
// trailing _LENGTH, or its directory's name for RULER's TASK/validation.jsonl.
func rulerTaskOf(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), ".jsonl")
	if base == "validation" || base == "test" {
		return filepath.Base(filepath.Dir(path))
	}
	if _, ok := rulerConfigs[base]; ok {
		return base
	}
	if i := strings.LastIndexByte(base, '_'); i > 0 && strings.IndexFunc(base[i+1:], func(r rune) bool { return !unicode.IsDigit(r) }) < 0 {
		base = base[:i]
	}
	return base
}

// family is the file's task family: niah, vt, cwe, fwe or qa.
func (t *RulerJSONL) family() string {
	task := rulerTaskOf(t.Path)
	if c, ok := rulerConfigs[task]; ok {
		return c.family
	}
	fam, _, _ := strings.Cut(task, "_")
	switch fam {
	case "variable":
		return "vt"
	case "common":
		return "cwe"
	case "freq":
		return "fwe"
	}
	return fam
}

type rulerRecord struct {
	Index        int      `json:"index"`
	Input        string   `json:"input"`
	Outputs      []string `json:"outputs"`
	Length       int      `json:"length"`
	AnswerPrefix *string  `json:"answer_prefix"`
}

// Samples reads the file.
func (t *RulerJSONL) Samples(tok *tokenizer.Tokenizer, opts Options) ([]Sample, error) {
	fam := t.family()
	f, ok := rulerFamilies[fam]
	if !ok {
		return nil, fmt.Errorf("%s: cannot tell the RULER task from the file name (%q)", t.Name(), rulerTaskOf(t.Path))
	}
	path := t.Path
	if _, err := os.Stat(path); err != nil && opts.DataDir != "" && !filepath.IsAbs(path) {
		path = filepath.Join(opts.DataDir, path)
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name(), err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(nil, 1<<30)
	var out []Sample
	for line := 1; sc.Scan() && (opts.Samples <= 0 || len(out) < opts.Samples); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var rec rulerRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		input := rec.Input
		if rec.AnswerPrefix != nil {
			input += *rec.AnswerPrefix
		}
		ctx, q, ap, ok := splitRuler(fam, input)
		if !ok {
			return nil, fmt.Errorf("%s:%d: no %s question or answer prefix in the input", path, line, fam)
		}
		out = append(out, Sample{
			ID: fmt.Sprint(rec.Index), Task: t.Name(),
			Context: ctx, Question: q, AnswerPrefix: ap,
			Answers: rec.Outputs, MaxNew: f.maxNew,
			Length: promptLen(tok, input), Depth: -1,
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// Score is RULER's metric for the family: string_match_part for QA,
// string_match_all otherwise, on the postprocessed prediction.
func (t *RulerJSONL) Score(s Sample, prediction string) float64 {
	if t.family() == "qa" {
		return StringMatchPart(RulerPostprocess(prediction), s.Answers)
	}
	return StringMatchAll(RulerPostprocess(prediction), s.Answers)
}
