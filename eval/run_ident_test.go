package eval

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/internal/sharedtest"
	"github.com/thinkv/thinkv/safetensors"
)

// TestSafeName checks that names made from tasks are short, safe and
// distinct, however long or odd the task's name.
func TestSafeName(t *testing.T) {
	long := "ruler-jsonl:" + strings.Repeat("/a/rather/long/directory/name", 12) + "/niah_multikey_3_4096.jsonl"
	safe := regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	seen := map[string]string{}
	for _, s := range []string{"niah", "rouge1_recall", "ruler:niah_single_1", "ruler_niah_single_1", long,
		strings.Replace(long, "4096", "8192", 1), long[:len(long)-1] + "_", "ruler-jsonl:déjà vu/../x.jsonl", strings.Repeat("x", 300)} {
		n := safeName(s)
		if len(n) > nameMax || !safe.MatchString(n) {
			t.Errorf("safeName(%.40q…) = %q: longer than %d bytes or unsafe", s, n, nameMax)
		}
		if other, dup := seen[n]; dup {
			t.Errorf("%.60q and %.60q both give %q", s, other, n)
		}
		seen[n] = s
	}
	if safeName("niah") != "niah" || safeName("rouge1_recall") != "rouge1_recall" {
		t.Errorf("a safe short name changed: %q, %q", safeName("niah"), safeName("rouge1_recall"))
	}
	if n := shortName("snapkv:budget=48+think:ratio=0.5"); n != "snapkv_budget_48_think_ratio_0.5" {
		t.Errorf("shortName: %q", n)
	}
}

// TestDifferences checks that a resume lists every setting that differs,
// with both values, and that settings an old run.json lacks are not held
// against it.
func TestDifferences(t *testing.T) {
	a := Meta{Model: "m.gguf", ModelID: &FileID{Name: "m.gguf", Size: 3_600_000, SHA256: "aaaaaaaaaaaaaaaa"},
		Tokenizer: &FileID{Name: OwnTokenizer}, Context: 2048, Tasks: []string{"niah", "ruler:vt"},
		TaskSamples: map[string]string{"niah": "1111111111111111", "ruler:vt": "3333"}, Protocol: QueryAware,
		Lengths: []int{1024}, Samples: 2, KVType: "f16"}
	b := a
	b.ModelID = &FileID{Name: "m.gguf", Size: 4_100_000, SHA256: "bbbbbbbbbbbbbbbb"}
	b.Tokenizer = &FileID{Name: "tok.bin", Size: 6227, SHA256: "cccc"}
	b.Context = 4096
	b.TaskSamples = map[string]string{"niah": "2222222222222222"}
	b.Seed = 3
	d := a.differences(b, "run.json", "this run")
	want := [][]string{
		{"model (-m)", "3.43 MiB", "3.91 MiB", "aaaaaaaaaaaa", "bbbbbbbbbbbb"},
		{"tokenizer (-t)", OwnTokenizer, "tok.bin"},
		{"--ctx", "run.json has 2048", "this run 4096"},
		{"--seed", "0", "3"},
		{"samples of niah", "111111111111", "222222222222"},
	}
	if len(d) != len(want) {
		t.Fatalf("%d differences, want %d:\n%s", len(d), len(want), strings.Join(d, "\n"))
	}
	for i, w := range want {
		for _, s := range w {
			if !strings.Contains(d[i], s) {
				t.Errorf("difference %q lacks %q", d[i], s)
			}
		}
	}
	if d := a.differences(a, "run.json", "this run"); len(d) != 0 {
		t.Errorf("a run differs from itself: %v", d)
	}
	old := Meta{Model: "m.gguf", Tasks: a.Tasks, Protocol: QueryAware, Lengths: []int{1024}, Samples: 2, KVType: "f16"}
	if d := old.differences(a, "run.json", "this run"); len(d) != 0 {
		t.Errorf("a run.json without identities: %v", d)
	}
	old.Model = "other.gguf"
	if d := old.differences(a, "run.json", "this run"); len(d) != 1 || !strings.Contains(d[0], "other.gguf") {
		t.Errorf("a run.json without identities, of another model: %v", d)
	}
}

// TestIdentifyModel checks that a model's identity follows its content, not
// its name, in each format.
func TestIdentifyModel(t *testing.T) {
	dir := sharedtest.Dir(t)
	tmp := t.TempDir()
	id := func(path string) FileID {
		t.Helper()
		id, err := IdentifyModel(path)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	bin, gguf, needle := dir+"/models/stories260K/stories260K.bin", dir+"/models/stories260K/stories260K.gguf", dir+"/models/needle/needle.bin"
	a, b, c := id(bin), id(gguf), id(needle)
	if a.Name != "stories260K.bin" || a.Size != 1056540 || len(a.SHA256) != 64 {
		t.Errorf("%+v", a)
	}
	if a.SHA256 == b.SHA256 || a.SHA256 == c.SHA256 || b.SHA256 == c.SHA256 {
		t.Errorf("different models, same hash: %v %v %v", a, b, c)
	}
	link := filepath.Join(tmp, "renamed.gguf")
	if err := os.Symlink(gguf, link); err != nil {
		t.Fatal(err)
	}
	if r := id(link); r.SHA256 != b.SHA256 || r.Size != b.Size {
		t.Errorf("the same GGUF under another name: %v, %v", r, b)
	}
	// A Hugging Face directory: config.json and the safetensors headers.
	hf := filepath.Join(tmp, "hf")
	os.Mkdir(hf, 0o755)
	w := safetensors.NewWriter()
	if err := w.Add("x", "F32", []int{2}, []float32{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFile(filepath.Join(hf, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(hf, "config.json"), []byte(`{"hidden_size": 8}`), 0o644)
	h1 := id(hf)
	os.WriteFile(filepath.Join(hf, "config.json"), []byte(`{"hidden_size": 16}`), 0o644)
	if h2 := id(hf); h2.SHA256 == h1.SHA256 || h2.Size != h1.Size+1 {
		t.Errorf("config.json changed: %v, %v", h1, h2)
	}
	if _, err := IdentifyModel(filepath.Join(tmp, "missing.bin")); err == nil {
		t.Error("identified a missing model")
	}
	tok, err := IdentifyTokenizer(dir + "/models/stories260K/tok512.bin")
	if own, _ := IdentifyTokenizer(""); err != nil || tok.Size != 6227 || own.Name != OwnTokenizer || own.SHA256 != "" {
		t.Errorf("tokenizers: %v, %v, %v", tok, own, err)
	}
}
