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
	out, errOut, code := thinkv(t, "eval", "merge", "--out", tmp+"/merged", tmp+"/s0", tmp+"/s1")
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
		want string
	}{
		{[]string{"eval", "--task", "niah"}, "no model"},
		{[]string{"eval", "-m", "x"}, "no task"},
		{[]string{"eval", "-m", "x", "--task", "niah", "--query-aware", "--query-agnostic"}, "not both"},
		{[]string{"eval", "-m", "x", "--task", "nope"}, "unknown task"},
		{[]string{"eval", "-m", "x", "--task", "niah", "--shard", "2/2"}, "0 ≤ I < N"},
		{[]string{"eval", "-m", "x", "--task", "niah", "--lengths", "12,a"}, "--lengths"},
		{[]string{"eval", "-m", "x", "--task", "niah", "--press", "bogus"}, "valid"},
		{[]string{"eval", "merge"}, "no directories"},
		{[]string{"eval", "merge", "/nonexistent"}, "no such file"},
		{[]string{"analyze", "-m", "x"}, "no text"},
	} {
		_, errOut, code := thinkv(t, tc.args...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want it to mention %q", tc.args, code, errOut, tc.want)
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
	for _, want := range []string{"full cache", "snapkv:budget=48+think:ratio=0.5+think-v:ratio=0.5", "mean KL", "accuracy", "Done in"} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, out)
		}
	}
}
