package eval_test

import (
	"context"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/eval"
	"github.com/thinkv/thinkv/internal/sharedtest"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/press"
	"github.com/thinkv/thinkv/tokenizer"
)

// fakeTask is a tiny needle task over a story: the name of a dog is hidden
// at a depth of a context of about the requested length.
type fakeTask struct{}

func (fakeTask) Name() string { return "fake" }

func (fakeTask) Samples(tok *tokenizer.Tokenizer, opts eval.Options) ([]eval.Sample, error) {
	const filler = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
	var out []eval.Sample
	for _, n := range opts.Lengths {
		for _, depth := range []float64{0, 50, 100} {
			for k := 0; k < opts.Samples; k++ {
				sentences := max(1, n/len(tok.Encode(filler, false)))
				parts := make([]string, sentences)
				for i := range parts {
					parts[i] = filler
				}
				at := int(depth / 100 * float64(sentences))
				name := []string{"Max", "Spot", "Rex"}[(k+int(opts.Seed))%3]
				parts = append(parts[:at], append([]string{"Her dog was called " + name + ". "}, parts[at:]...)...)
				out = append(out, eval.Sample{ID: fmt.Sprintf("%d-%g-%d", n, depth, k), Task: "fake", Context: strings.Join(parts, ""),
					Question: "\nWhat was the dog called?", AnswerPrefix: " The dog was called", Answers: []string{name},
					MaxNew: 6, Length: n, Depth: depth})
			}
		}
	}
	return out, nil
}

func (fakeTask) Score(s eval.Sample, pred string) float64 {
	if strings.Contains(pred, s.Answers[0]) {
		return 1
	}
	return 0
}

func (fakeTask) Metrics(s eval.Sample, pred string) map[string]float64 {
	return map[string]float64{"length_chars": float64(len(pred))}
}

func loadStories(t *testing.T) *engine.Engine {
	t.Helper()
	dir := sharedtest.Dir(t)
	e, err := engine.Load(dir+"/models/stories260K/stories260K.bin", dir+"/models/stories260K/tok512.bin", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func presses(t *testing.T, specs ...string) []eval.PressSpec {
	t.Helper()
	var out []eval.PressSpec
	for _, s := range specs {
		p, err := press.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, eval.PressSpec{Label: s, Press: p})
	}
	return out
}

func meta(ps []eval.PressSpec, proto eval.Protocol) eval.Meta {
	m := eval.Meta{Model: "stories260K", Context: 512, Tasks: []string{"fake"}, Protocol: proto, Lengths: []int{96, 160}, Samples: 1, KVType: "f32"}
	for _, p := range ps {
		m.Presses = append(m.Presses, eval.PressInfo{Label: p.Label, Spec: p.Spec()})
	}
	return m
}

// TestRun runs every press on the same samples under both protocols and
// checks the records, the resume logic and the report files.
func TestRun(t *testing.T) {
	e := loadStories(t)
	ps := presses(t, "none", "snapkv:budget=32", "snapkv:budget=32+think:ratio=0.5")
	for _, proto := range []eval.Protocol{eval.QueryAware, eval.QueryAgnostic} {
		t.Run(string(proto), func(t *testing.T) {
			dir := t.TempDir()
			st, err := eval.OpenStore(dir, meta(ps, proto), false)
			if err != nil {
				t.Fatal(err)
			}
			cfg := eval.RunConfig{Tasks: []eval.Task{fakeTask{}}, Options: eval.Options{Lengths: []int{96, 160}, Samples: 1},
				Presses: ps, Protocol: proto, KVType: kvcache.F32, Done: st.Done, OnRecord: st.Add}
			var total int
			cfg.OnStart = func(n int) { total = n }
			if err := eval.Run(context.Background(), e, cfg); err != nil {
				t.Fatal(err)
			}
			st.Close()
			recs := st.Records()
			if total != 18 || len(recs) != 18 {
				t.Fatalf("announced %d, recorded %d, want 18 (6 samples × 3 presses)", total, len(recs))
			}
			for i, r := range recs {
				switch {
				case r.Press == "none" && r.KVBytes != r.KVBytesFull:
					t.Errorf("%s: the full cache holds %d bytes of %d", r.ID, r.KVBytes, r.KVBytesFull)
				case r.Press != "none" && r.KVBytes >= r.KVBytesFull:
					t.Errorf("%s %s: %d bytes, not fewer than %d", r.ID, r.Press, r.KVBytes, r.KVBytesFull)
				case r.NewTokens < 1 || r.Metrics["length_chars"] != float64(len(r.Prediction)):
					t.Errorf("%+v", r)
				case proto == eval.QueryAware && r.CompressedTokens != r.PromptTokens,
					proto == eval.QueryAgnostic && r.CompressedTokens >= r.PromptTokens-5:
					t.Errorf("%s: compressed %d of %d prompt tokens", proto, r.CompressedTokens, r.PromptTokens)
				}
				if r.ID != recs[i/3*3].ID {
					t.Errorf("record %d is sample %s: presses should run on each sample in turn", i, r.ID)
				}
			}
			// A resumed run has nothing left to do, even after an
			// interrupt cut a line short.
			f, _ := os.OpenFile(filepath.Join(dir, eval.SamplesFile), os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString(`{"task":"fake","id":"cut`)
			f.Close()
			st, err = eval.OpenStore(dir, meta(ps, proto), true)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Done, cfg.OnRecord = st.Done, st.Add
			cfg.OnStart = func(n int) { total = n }
			if err := eval.Run(context.Background(), e, cfg); err != nil || total != 0 || len(st.Records()) != 18 {
				t.Errorf("resumed: %v, %d to do, %d records", err, total, len(st.Records()))
			}
			st.Close()
			if _, err := eval.OpenStore(dir, meta(ps, proto), false); err == nil || !strings.Contains(err.Error(), "--resume") {
				t.Errorf("reopening without resume: %v", err)
			}
			m2 := meta(ps, proto)
			m2.Seed = 9
			if _, err := eval.OpenStore(dir, m2, true); err == nil {
				t.Error("resumed with another seed")
			}
			m2.Context = 1024
			_, err = eval.OpenStore(dir, m2, true)
			if msg := fmt.Sprint(err); !strings.Contains(msg, "--seed: run.json has 0, this run 9") || !strings.Contains(msg, "--ctx): run.json has 512, this run 1024") {
				t.Errorf("resumed with another seed and context: %v", err)
			}
			checkReport(t, dir)
		})
	}
}

// checkReport summarizes a finished directory and checks the files it writes.
func checkReport(t *testing.T, dir string) {
	m, recs, err := eval.LoadDir(dir)
	if err != nil || len(recs) != 18 {
		t.Fatalf("LoadDir: %v, %d records", err, len(recs))
	}
	rep := eval.Summarize(m, recs)
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"press", "fake", "average", "snapkv:budget=32+think:ratio=0.5", "decode tok/s"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if a, ok := rep.Find("none", eval.Average); !ok || a.KVRatio != 1 || a.Samples != 6 {
		t.Errorf("average row of none: %+v", a)
	}
	if err := rep.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	csv, _ := os.ReadFile(filepath.Join(dir, "results.csv"))
	if lines := strings.Count(string(csv), "\n"); lines != 1+3*2+3*2 {
		t.Errorf("results.csv has %d lines:\n%s", lines, csv)
	}
	files, err := rep.WritePlots(dir, recs)
	if err != nil {
		t.Fatal(err)
	}
	// Heat maps of the score and of the extra metric per press, score
	// against KV bytes for the task and the average, score by length.
	if len(files) != 3+3+2+1 {
		t.Errorf("plots: %v", files)
	}
	for _, f := range files {
		checkPNG(t, f)
	}
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 200 {
		t.Errorf("%s: %v is too small to read", path, b)
	}
}

// TestShards checks that shards are disjoint and cover every sample.
func TestShards(t *testing.T) {
	e := loadStories(t)
	seen := map[string]int{}
	for i := range 3 {
		cfg := eval.RunConfig{Tasks: []eval.Task{fakeTask{}}, Options: eval.Options{Lengths: []int{64}, Samples: 2},
			Presses: presses(t, "none"), Protocol: eval.QueryAware, Shard: i, Shards: 3,
			OnRecord: func(r eval.Record) error { seen[r.ID]++; return nil }}
		if err := eval.Run(context.Background(), e, cfg); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 6 {
		t.Errorf("%d samples run, want 6: %v", len(seen), seen)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("sample %s ran %d times", id, n)
		}
	}
}

// TestRunTooLong checks that a prompt longer than the context fails before
// anything runs, unless truncation is asked for.
func TestRunTooLong(t *testing.T) {
	e := loadStories(t)
	var recs []eval.Record
	cfg := eval.RunConfig{Tasks: []eval.Task{fakeTask{}}, Options: eval.Options{Lengths: []int{64, 900}, Samples: 1},
		Presses: presses(t, "none"), Protocol: eval.QueryAgnostic, OnRecord: func(r eval.Record) error { recs = append(recs, r); return nil }}
	err := eval.Run(context.Background(), e, cfg)
	if err == nil || !strings.Contains(err.Error(), "--lengths") || len(recs) != 0 {
		t.Errorf("got %v after %d samples", err, len(recs))
	}
	cfg.Truncate = true
	if err := eval.Run(context.Background(), e, cfg); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		long := r.Length == 900
		if long != (r.TruncatedTokens > 0) || r.PromptTokens+6 != 512 && long || r.CompressedTokens >= r.PromptTokens {
			t.Errorf("%s: %d tokens cut, %d left of which %d compressed", r.ID, r.TruncatedTokens, r.PromptTokens, r.CompressedTokens)
		}
	}
	// The needle at depth 0 and 100 survives a cut in the middle.
	if r := recs[3]; r.Depth != 0 || r.Length != 900 || r.Prediction == "" {
		t.Errorf("%+v", r)
	}
}
