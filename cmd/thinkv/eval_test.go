package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/eval"
	"github.com/thinkv/thinkv/internal/sharedtest"
)

// TestEvalTasks runs a small NIAH sweep on stories260K in two shards, merges
// them, and checks the merged report against a run of the whole.
func TestEvalTasks(t *testing.T) {
	dir := sharedtest.Dir(t)
	t.Setenv("THINKV_SHARED", dir)
	tmp := t.TempDir()
	base := []string{"eval", "-m", dir + "/models/stories260K/stories260K.bin", "-t", dir + "/models/stories260K/tok512.bin",
		"--task", "niah", "--lengths", "160", "--samples", "1", "--kv-type", "f32",
		"--press", "snapkv:budget=48", "--press", "snapkv:budget=48+think:ratio=0.5", "--query-agnostic"}
	run := func(args ...string) string {
		t.Helper()
		out, errOut, code := thinkv(t, append(base, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		return out
	}
	whole := run("--out", tmp+"/whole")
	for _, want := range []string{"niah", "niah rouge1_recall", "snapkv:budget=48+think:ratio=0.5", "KV bytes", "decode tok/s", "query-agnostic"} {
		if !strings.Contains(whole, want) {
			t.Errorf("the table lacks %q:\n%s", want, whole)
		}
	}
	for _, f := range []string{"results.json", "results.csv", "samples.jsonl", "run.json", "heatmap_niah_1_snapkv_budget_48.png", "score_vs_kv_niah.png"} {
		if _, err := os.Stat(filepath.Join(tmp, "whole", f)); err != nil {
			t.Error(err)
		}
	}
	run("--out", tmp+"/s0", "--shard", "0/2")
	run("--out", tmp+"/s1", "--shard", "1/2")
	// A finished shard resumes with nothing to do.
	run("--out", tmp+"/s1", "--shard", "1/2", "--resume")
	// Flags may follow the directories.
	out, errOut, code := thinkv(t, "eval", "merge", tmp+"/s0", tmp+"/s1", "--out", tmp+"/merged")
	if code != 0 {
		t.Fatalf("merge: exit %d: %s", code, errOut)
	}
	// The same samples under the same presses: the same scores and bytes
	// (speeds differ).
	a, b := results(t, tmp+"/whole"), results(t, tmp+"/merged")
	if len(a.Overall) != 6 || len(b.Overall) != len(a.Overall) {
		t.Fatalf("%d and %d rows:\n%s", len(a.Overall), len(b.Overall), out)
	}
	for i := range a.Overall {
		x, y := a.Overall[i], b.Overall[i]
		if x.Press != y.Press || x.Score != y.Score || x.KVBytes != y.KVBytes || x.Samples != y.Samples || x.Samples != 5 {
			t.Errorf("whole %+v\nmerged %+v", x, y)
		}
	}
	_, errOut, _ = thinkv(t, "eval", "merge", "--out", tmp+"/m2", tmp+"/s0")
	if !strings.Contains(errOut, "shards [1] are missing") {
		t.Errorf("merging one shard of two: %q", errOut)
	}
	if _, errOut, code := thinkv(t, append(base, "--out", tmp+"/whole")...); code == 0 || !strings.Contains(errOut, "--resume") {
		t.Errorf("rerun into a full directory: exit %d, %s", code, errOut)
	}
}

func results(t *testing.T, dir string) eval.Report {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r eval.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestEvalErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"eval", "--task", "niah"}, 2, "no model"},
		{[]string{"eval", "-m", "x"}, 2, "no task"},
		{[]string{"eval", "-m", "x", "--task", "niah", "--query-aware", "--query-agnostic"}, 2, "not both"},
		{[]string{"eval", "-m", "x", "--task", "nope"}, 2, "unknown task"},
		{[]string{"eval", "-m", "x", "--task", "niah", "--shard", "2/2"}, 2, "0 ≤ I < N"},
		{[]string{"eval", "-m", "x", "--task", "niah", "--lengths", "12,a"}, 2, "--lengths"},
		{[]string{"eval", "-m", "x", "--task", "niah", "--press", "bogus"}, 2, "valid"},
		{[]string{"eval", "-m", "x", "--task", "niah", "--seed", "-1", "--resume"}, 2, "give the seed in run.json"},
		{[]string{"eval", "-m", "x", "--task", "niah", "--samples", "-1"}, 2, "--samples"},
		{[]string{"eval", "-m", "x", "--task", "niah", "--samples", "1", "--samples", "2"}, 2, "given twice"},
		{[]string{"eval", "merge"}, 2, "no directories"},
		{[]string{"eval", "merge", "/nonexistent"}, 1, "no such file"},
		{[]string{"eval", "fidelity", "-m", "x", "-f", "y", "--forced", "0"}, 2, "--forced"},
		{[]string{"analyze", "-m", "x"}, 2, "no text"},
		{[]string{"analyze", "-m", "x", "-f", "y", "--window", "0"}, 2, "--window"},
	} {
		_, errOut, code := thinkv(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d (want %d), stderr %q, want it to mention %q", tc.args, code, tc.code, errOut, tc.want)
		}
	}
}

// TestAnalyzeCommand runs analyze on stories260K and checks its outputs.
func TestAnalyzeCommand(t *testing.T) {
	dir := sharedtest.Dir(t)
	tmp := t.TempDir()
	text := filepath.Join(tmp, "story.txt")
	os.WriteFile(text, []byte(strings.Repeat("Once upon a time, there was a little girl named Lily. She loved to play outside. ", 12)), 0o644)
	out, errOut, code := thinkv(t, "analyze", "-m", dir+"/models/stories260K/stories260K.bin", "-t", dir+"/models/stories260K/tok512.bin",
		"-f", text, "--out", tmp+"/an", "--window", "16")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "rank for 90%") || !strings.Contains(out, "key_magnitude.png") {
		t.Errorf("output:\n%s", out)
	}
	var a eval.Analysis
	b, err := os.ReadFile(tmp + "/an/analysis.json")
	if err != nil || json.Unmarshal(b, &a) != nil || a.Layers != 5 || a.Window != 16 {
		t.Errorf("analysis.json: %v, %+v", err, a.Layers)
	}
}

// TestDemo runs the demo, shrunk, on the embedded model.
func TestDemo(t *testing.T) {
	saved := demoSize
	defer func() { demoSize = saved }()
	demoSize.prefix, demoSize.forced, demoSize.needles, demoSize.needleLen = 192, 32, 1, 200
	out, errOut, code := thinkv(t, "demo")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// It says what a press is, what its measures mean, and when each bytes
	// column was measured.
	for _, want := range []string{"full cache", "snapkv:budget=48+think:ratio=0.5+think-v:ratio=0.5", "mean KL", "accuracy", "Done in",
		"A press compresses", "snapkv drops whole tokens", "think (ThinK) drops", "think-v does",
		"Teacher forcing:", "KL:", "Top-1 agree:", "Perplexity may fall", "KV bytes after prefill", "KV bytes at the end"} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, out)
		}
	}
}

// TestEvalResumeChecks checks that --resume refuses a run that differs from
// the one in the directory (another model file of the same name, another
// --ctx), saying what differs, and continues one that does not.
func TestEvalResumeChecks(t *testing.T) {
	dir := sharedtest.Dir(t)
	t.Setenv("THINKV_SHARED", dir)
	tmp := t.TempDir()
	model, tok := dir+"/models/stories260K/stories260K.bin", dir+"/models/stories260K/tok512.bin"
	// Another model under the same base name.
	impostor := filepath.Join(tmp, "other", "stories260K.bin")
	os.Mkdir(filepath.Dir(impostor), 0o755)
	if err := os.Symlink(dir+"/models/needle/needle.bin", impostor); err != nil {
		t.Fatal(err)
	}
	args := func(m string, more ...string) []string {
		return append([]string{"eval", "-m", m, "-t", tok, "--task", "niah", "--lengths", "160", "--samples", "1",
			"--press", "snapkv:budget=48", "--out", tmp + "/run"}, more...)
	}
	if _, errOut, code := thinkv(t, args(model)...); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	samples, _ := os.ReadFile(tmp + "/run/samples.jsonl")
	runJSON, _ := os.ReadFile(tmp + "/run/run.json")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{args(impostor, "--resume"), []string{"model (-m): run.json has stories260K.bin (1.01 MiB", "this run stories260K.bin (13.01 MiB",
			"--ctx): run.json has 512, this run 2048"}},
		{args(model, "--resume", "--ctx", "256"), []string{"--ctx): run.json has 512, this run 256"}},
		{args(model, "--resume", "--kv-type", "f32", "--seed", "4"), []string{"--kv-type: run.json has f16, this run f32", "--seed: run.json has 0, this run 4"}},
	} {
		_, errOut, code := thinkv(t, tc.args...)
		if code == 0 || !strings.Contains(errOut, "cannot resume") {
			t.Errorf("%v: exit %d, %s", tc.args, code, errOut)
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%v: the error lacks %q:\n%s", tc.args[8:], w, errOut)
			}
		}
	}
	if b, _ := os.ReadFile(tmp + "/run/samples.jsonl"); string(b) != string(samples) {
		t.Error("a refused resume changed samples.jsonl")
	}
	if b, _ := os.ReadFile(tmp + "/run/run.json"); string(b) != string(runJSON) {
		t.Error("a refused resume changed run.json")
	}
	// The same settings resume, with nothing left to do.
	if _, errOut, code := thinkv(t, args(model, "--resume")...); code != 0 {
		t.Fatalf("resume: exit %d: %s", code, errOut)
	}
	if b, _ := os.ReadFile(tmp + "/run/samples.jsonl"); string(b) != string(samples) {
		t.Error("resuming a finished run changed samples.jsonl")
	}
	// A report that cannot be written says where the results are.
	os.Remove(tmp + "/run/results.json")
	os.MkdirAll(tmp+"/run/results.json/x", 0o755)
	_, errOut, code := thinkv(t, args(model, "--resume")...)
	if code == 0 || !strings.Contains(errOut, "results are safe in "+tmp+"/run/samples.jsonl") || !strings.Contains(errOut, "eval merge") {
		t.Errorf("report not written: exit %d, %s", code, errOut)
	}
}

// TestEvalChecksFirst checks that a run whose samples do not fit creates
// nothing, and that merging a directory without results is an error.
func TestEvalChecksFirst(t *testing.T) {
	dir := sharedtest.Dir(t)
	t.Setenv("THINKV_SHARED", dir)
	tmp := t.TempDir()
	_, errOut, code := thinkv(t, "eval", "-m", dir+"/models/stories260K/stories260K.bin", "-t", dir+"/models/stories260K/tok512.bin",
		"--task", "niah", "--lengths", "900", "--samples", "1", "--out", tmp+"/run")
	if code == 0 || !strings.Contains(errOut, "--lengths") {
		t.Errorf("too long: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(tmp + "/run"); err == nil {
		t.Error("a run that failed its checks created its --out directory")
	}
	// As an interrupted first sample leaves it: run.json, no results.
	os.Mkdir(tmp+"/empty", 0o755)
	os.WriteFile(tmp+"/empty/run.json", []byte(`{"model":"m","tasks":["niah"],"presses":[],"protocol":"query-aware","lengths":null,"samples":0,"seed":0,"kv_type":"f16","shard":0,"shards":0}`), 0o644)
	os.WriteFile(tmp+"/empty/samples.jsonl", nil, 0o644)
	_, errOut, code = thinkv(t, "eval", "merge", "--out", tmp+"/merged", tmp+"/empty")
	if code == 0 || !strings.Contains(errOut, "nothing to merge") {
		t.Errorf("merging no results: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(tmp + "/merged"); err == nil {
		t.Error("merging no results created --out")
	}
}

// TestEvalDataHint checks that data not found where the defaults look says
// how to give it.
func TestEvalDataHint(t *testing.T) {
	dir := sharedtest.Dir(t)
	t.Setenv("THINKV_SHARED", t.TempDir())
	tmp := t.TempDir()
	if err := os.Symlink(dir+"/data/ruler_wordlists", tmp+"/ruler_wordlists"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ task, flag, more string }{
		{"niah", "--haystack", ""},
		{"ruler:niah_single_1", "--wordlists", ""},
		{"ruler:niah_single_2", "--haystack", tmp + "/ruler_wordlists"}, // its essays
		{"longbench:multi_news", "--data", ""},
	} {
		args := []string{"eval", "-m", dir + "/models/stories260K/stories260K.bin", "-t", dir + "/models/stories260K/tok512.bin",
			"--task", tc.task, "--lengths", "160", "--out", tmp + "/run"}
		if tc.more != "" {
			args = append(args, "--wordlists", tc.more)
		}
		_, errOut, code := thinkv(t, args...)
		if code == 0 || !strings.Contains(errOut, "THINKV_SHARED") || !strings.Contains(errOut, tc.flag) {
			t.Errorf("%s: exit %d, want the error to name THINKV_SHARED and %s: %s", tc.task, code, tc.flag, errOut)
		}
	}
	if _, err := os.Stat(tmp + "/run"); err == nil {
		t.Error("a run without its data created its --out directory")
	}
}

// TestEvalLongTaskName runs a ruler-jsonl task whose path is far longer than
// a file name may be, and checks that its plots are written under short names.
func TestEvalLongTaskName(t *testing.T) {
	dir := sharedtest.Dir(t)
	tmp := t.TempDir()
	deep := filepath.Join(tmp, strings.Repeat("d", 200), strings.Repeat("e", 200))
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(deep, "niah_multikey_3_4096.jsonl")
	if err := os.Symlink(dir+"/data/ruler_kvcache_factory/niah_multikey_3_4096.jsonl", data); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := thinkv(t, "eval", "-m", dir+"/models/stories260K/stories260K.bin", "-t", dir+"/models/stories260K/tok512.bin",
		"--task", "ruler-jsonl:"+data, "--samples", "1", "--truncate", "--press", "snapkv:budget=48", "--out", tmp+"/run")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	pngs, _ := filepath.Glob(tmp + "/run/*.png")
	if len(pngs) != 2 || !strings.Contains(out, "2 plots") {
		t.Errorf("plots %v:\n%s", pngs, out)
	}
	for _, p := range pngs {
		if n := len(filepath.Base(p)); n > 64 {
			t.Errorf("%s: %d bytes", filepath.Base(p), n)
		}
	}
}

// TestEvalRandomSeed checks that --seed -1 picks a seed and records it, as
// generate reports its own.
func TestEvalRandomSeed(t *testing.T) {
	dir := sharedtest.Dir(t)
	t.Setenv("THINKV_SHARED", dir)
	tmp := t.TempDir()
	args := []string{"eval", "-m", dir + "/models/stories260K/stories260K.bin", "-t", dir + "/models/stories260K/tok512.bin",
		"--task", "niah", "--lengths", "160", "--samples", "1", "--press", "snapkv:budget=48", "--seed", "-1"}
	seeds := map[uint64]bool{}
	for _, out := range []string{"a", "b"} {
		if _, errOut, code := thinkv(t, append(args, "--out", filepath.Join(tmp, out))...); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		b, err := os.ReadFile(filepath.Join(tmp, out, eval.MetaFile))
		if err != nil {
			t.Fatal(err)
		}
		var m eval.Meta
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		seeds[m.Seed] = true
	}
	if len(seeds) != 2 {
		t.Errorf("two runs with --seed -1 recorded seeds %v, want two different ones", seeds)
	}
}
