package eval_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/thinkv/thinkv/eval"
)

// TestAnalyze runs the analysis on stories260K and checks its shape, its
// invariants and its files.
func TestAnalyze(t *testing.T) {
	e := loadStories(t)
	var ids []int
	for len(ids) < 200 {
		ids = append(ids, e.Tok.Encode("Once upon a time, there was a little girl named Lily. She loved to play outside. ", len(ids) == 0)...)
	}
	a, err := eval.Analyze(e, ids, 16, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Layers != 5 || a.KVHeads != 4 || a.HeadDim != 8 || a.Window != 16 || a.Tokens != len(ids) {
		t.Fatalf("%+v", a)
	}
	for l := range a.Layers {
		if len(a.KeyMagnitude[l]) != 4 || len(a.KeyMagnitude[l][0]) != 8 || len(a.Singular[l]) != 8 || len(a.Singular[l][0]) != 16 {
			t.Fatalf("layer %d: shapes %d×%d, %d×%d", l, len(a.KeyMagnitude[l]), len(a.KeyMagnitude[l][0]), len(a.Singular[l]), len(a.Singular[l][0]))
		}
		for g := range a.KVHeads {
			e, r := a.Energy[l][g], a.ScoreError[l][g]
			if e[0] != 1 || r[0] != 0 || e[len(e)-1] >= 1 {
				t.Errorf("layer %d head %d: energy %v, error %v", l, g, e, r)
			}
		}
		for h, rank := range a.Rank90[l] {
			if rank < 1 || rank > 16 {
				t.Errorf("layer %d head %d: rank %d", l, h, rank)
			}
		}
	}
	dir := t.TempDir()
	files, err := a.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1+5+3 {
		t.Errorf("files: %v", files)
	}
	for _, f := range files {
		checkPNG(t, f)
	}
	if _, err := os.Stat(filepath.Join(dir, "analysis.json")); err != nil {
		t.Error(err)
	}
	// Written again, every file is replaced, not rewritten in place.
	check := linkTwins(t, append(files, filepath.Join(dir, "analysis.json"))...)
	if _, err := a.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	check()
}
