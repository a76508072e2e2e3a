package eval_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/eval"
)

// linkTwins hard-links each file to a twin, so that a rewrite in place
// (which keeps the file, and so the twin's content) tells from an atomic one
// (a new file renamed over the old name). The check it returns fails for
// every file rewritten in place, and for any temporary file left beside them.
func linkTwins(t *testing.T, paths ...string) func() {
	t.Helper()
	for _, p := range paths {
		if err := os.Link(p, p+".twin"); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		t.Helper()
		for _, p := range paths {
			a, err1 := os.Stat(p)
			b, err2 := os.Stat(p + ".twin")
			if err1 != nil || err2 != nil || os.SameFile(a, b) {
				t.Errorf("%s was rewritten in place, not replaced (%v, %v)", filepath.Base(p), err1, err2)
			}
			tmp, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".*tmp*"))
			if len(tmp) > 0 {
				t.Errorf("temporary files left: %v", tmp)
			}
		}
	}
}

// fakeRecords are records of two lengths and depths under two presses.
func fakeRecords() (eval.Meta, []eval.Record) {
	m := eval.Meta{Model: "m", Tasks: []string{"fake"}, Protocol: eval.QueryAware, Lengths: []int{64, 128}, Samples: 1, KVType: "f32",
		Presses: []eval.PressInfo{{Label: "none", Spec: "none"}, {Label: "snapkv:budget=8", Spec: "snapkv:budget=8"}}}
	var recs []eval.Record
	for _, p := range m.Presses {
		for _, n := range m.Lengths {
			for _, d := range []float64{0, 100} {
				recs = append(recs, eval.Record{Task: "fake", ID: strings.Repeat("i", n/64) + p.Spec, Press: p.Spec, Length: n, Depth: d,
					Score: d / 100, PromptTokens: n, KVBytes: int64(n), KVBytesFull: 2 * int64(n), PrefillSeconds: 1, DecodeSeconds: 1, DecodeSteps: 3})
			}
		}
	}
	return m, recs
}

// TestReportWritesAreAtomic checks that results.json, results.csv, the plots,
// run.json and a merged samples.jsonl replace what was there rather than
// rewriting it.
func TestReportWritesAreAtomic(t *testing.T) {
	dir := t.TempDir()
	meta, recs := fakeRecords()
	st, err := eval.OpenStore(dir, meta, false)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	rep := eval.Summarize(meta, recs)
	if err := rep.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	plots, err := rep.WritePlots(dir, recs)
	if err != nil || len(plots) != 2+2+1 {
		t.Fatalf("plots %v, %v", plots, err)
	}
	check := linkTwins(t, append(plots, filepath.Join(dir, "results.json"), filepath.Join(dir, "results.csv"), filepath.Join(dir, eval.MetaFile))...)
	if st, err = eval.OpenStore(dir, meta, false); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := rep.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := rep.WritePlots(dir, recs); err != nil {
		t.Fatal(err)
	}
	check()
	for _, f := range plots {
		checkPNG(t, f)
	}

	merged := t.TempDir()
	if err := eval.WriteMerged(merged, meta, recs, []string{dir}); err != nil {
		t.Fatal(err)
	}
	check = linkTwins(t, filepath.Join(merged, eval.MetaFile), filepath.Join(merged, eval.SamplesFile))
	if err := eval.WriteMerged(merged, meta, recs, []string{dir}); err != nil {
		t.Fatal(err)
	}
	check()
	if _, got, err := eval.LoadDir(merged); err != nil || len(got) != len(recs) {
		t.Errorf("merged: %d records, %v", len(got), err)
	}
}

// TestMergeNothing checks that merging directories without results is an
// error, not an empty report.
func TestMergeNothing(t *testing.T) {
	meta, _ := fakeRecords()
	a, b := t.TempDir(), t.TempDir()
	for _, dir := range []string{a, b} {
		st, err := eval.OpenStore(dir, meta, false) // run.json and an empty samples.jsonl
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
	if _, _, _, err := eval.Merge([]string{a, b}); err == nil || !strings.Contains(err.Error(), "nothing to merge") {
		t.Errorf("merging empty directories: %v", err)
	}
}
