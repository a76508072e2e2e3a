package convert_test

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/thinkv/thinkv/convert"
	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/gguf"
	"github.com/thinkv/thinkv/internal/sharedtest"
	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/model"
)

// logits runs tokens through m and returns every position's logits.
func logits(t *testing.T, m *model.Model, tokens []int) []float32 {
	t.Helper()
	c, err := kvcache.New(kvcache.Config{Layers: m.Config.Layers, KVHeads: m.KVHeads, HeadDim: m.HeadDim, Type: kvcache.F32, Capacity: len(tokens)})
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Forward(m.NewState(kernels.NewPool(0), 8), c, tokens, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), out...)
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// compareLogits returns the relative RMS difference of got from want and the
// share of positions whose top token agrees.
func compareLogits(got, want []float32, vocab int) (rel, top1 float64) {
	var num, den float64
	for i := range want {
		d := float64(got[i] - want[i])
		num += d * d
		den += float64(want[i]) * float64(want[i])
	}
	agree, n := 0, len(want)/vocab
	for p := range n {
		if argmax(got[p*vocab:(p+1)*vocab]) == argmax(want[p*vocab:(p+1)*vocab]) {
			agree++
		}
	}
	return math.Sqrt(num / den), float64(agree) / float64(n)
}

// TestConvertNeedleQ4KM converts the needle model (4 layers, dim 256, hidden
// 768, tied head) to q4_k_m and checks llama.cpp's mix, the metadata, and
// the logits on a 40-token prompt against the f32 checkpoint's: relative RMS
// difference at most 0.05 (measured: q4_k_m 0.020, q4_k 0.030, q6_k 0.008)
// and the same top token at 85% of positions or more (measured 95%, 90%,
// 98%); q6_k must be closer than q4_k_m, and q4_k_m no further than q4_k.
func TestConvertNeedleQ4KM(t *testing.T) {
	dir := sharedtest.Dir(t)
	src, err := engine.Load(dir+"/models/needle/needle.bin", dir+"/models/needle/tok512.bin", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tokens := src.Tok.Encode("The best thing about the city is that it is full of people who want to make things.", true)
	want := logits(t, src.Model, tokens)
	rels := map[string]float64{}
	for _, typName := range []string{"q4_k_m", "q4_k", "q6_k"} {
		sc, err := convert.ParseScheme(typName)
		if err != nil {
			t.Fatal(err)
		}
		w, err := convert.ToGGUFScheme(src.Model, src.Tok, sc, "needle")
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), typName+".gguf")
		if err := w.WriteFile(out); err != nil {
			t.Fatal(err)
		}
		if typName == "q4_k_m" {
			checkQ4KMFile(t, out)
		}
		e, err := engine.Load(out, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if e.Model.Output != e.Model.Embed {
			t.Errorf("%s: the tied head was not loaded as the embedding", typName)
		}
		rel, top1 := compareLogits(logits(t, e.Model, tokens), want, e.Model.Vocab)
		e.Close()
		rels[typName] = rel
		t.Logf("%s: logits relative RMS difference %.4f, top-1 agreement %.0f%% over %d positions", typName, rel, 100*top1, len(tokens))
		if rel > 0.05 || top1 < 0.85 {
			t.Errorf("%s: logits relative RMS difference %.4f (max 0.05), top-1 agreement %.2f (min 0.85)", typName, rel, top1)
		}
	}
	if !(rels["q6_k"] < rels["q4_k_m"] && rels["q4_k_m"] <= rels["q4_k"]) {
		t.Errorf("logit errors not ordered q6_k < q4_k_m ≤ q4_k: %v", rels)
	}
}

// checkQ4KMFile checks a q4_k_m conversion of the needle model: the tied
// embedding and head Q6_K, attn_v and ffn_down Q6_K on layers 2 and 3 (for 4
// layers, llama.cpp's use_more_bits picks i ≥ 7·4/8 = 3 and (i − 0) mod 3 =
// 2), every other matrix Q4_K, norms F32, file type 15, pre-tokenizer
// "default".
func checkQ4KMFile(t *testing.T, path string) {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]gguf.Type{"token_embd.weight": gguf.TypeQ6_K, "output.weight": gguf.TypeQ6_K, "output_norm.weight": gguf.TypeF32}
	for l := range 4 {
		more := gguf.TypeQ4_K
		if l >= 2 {
			more = gguf.TypeQ6_K
		}
		for _, n := range []string{"attn_q", "attn_k", "attn_output", "ffn_gate", "ffn_up"} {
			want[fmt.Sprintf("blk.%d.%s.weight", l, n)] = gguf.TypeQ4_K
		}
		want[fmt.Sprintf("blk.%d.attn_v.weight", l)] = more
		want[fmt.Sprintf("blk.%d.ffn_down.weight", l)] = more
		want[fmt.Sprintf("blk.%d.attn_norm.weight", l)] = gguf.TypeF32
		want[fmt.Sprintf("blk.%d.ffn_norm.weight", l)] = gguf.TypeF32
	}
	if len(f.Tensors) != len(want) {
		t.Errorf("%d tensors, want %d", len(f.Tensors), len(want))
	}
	for _, ti := range f.Tensors {
		if ti.Type != want[ti.Name] {
			t.Errorf("%s is %v, want %v", ti.Name, ti.Type, want[ti.Name])
		}
	}
	if ft, _ := f.Uint("general.file_type"); ft != 15 {
		t.Errorf("general.file_type = %d, want 15 (LLAMA_FTYPE_MOSTLY_Q4_K_M)", ft)
	}
	if pre, _ := f.String("tokenizer.ggml.pre"); pre != "default" {
		t.Errorf("tokenizer.ggml.pre = %q, want \"default\"", pre)
	}
}

// TestSchemeFallback checks the per-tensor types of schemes on rows that K
// blocks do not divide (llama.cpp's fallbacks), the _M layer choice for 32
// layers, and that unknown names are refused with the list of valid ones.
func TestSchemeFallback(t *testing.T) {
	km, _ := convert.ParseScheme("Q4_K_M")
	for _, c := range []struct {
		name        string
		layer, cols int
		tied        bool
		want        gguf.Type
	}{
		{"blk.0.attn_q.weight", 0, 64, false, gguf.TypeQ5_0},   // Q4_K → Q5_0
		{"output.weight", -1, 64, false, gguf.TypeQ8_0},        // Q6_K → Q8_0
		{"blk.0.ffn_down.weight", 0, 172, false, gguf.TypeF16}, // not even 32
		{"token_embd.weight", -1, 512, false, gguf.TypeQ4_K},   // untied: base type
		{"token_embd.weight", -1, 512, true, gguf.TypeQ6_K},    // tied: the head's
		{"blk.3.attn_v.weight", 3, 4096, false, gguf.TypeQ6_K}, // 32 layers: i < 4
		{"blk.4.attn_v.weight", 4, 4096, false, gguf.TypeQ4_K},
		{"blk.6.ffn_down.weight", 6, 4096, false, gguf.TypeQ6_K}, // (6−4) mod 3 = 2
		{"blk.28.ffn_down.weight", 28, 4096, false, gguf.TypeQ6_K},
		{"blk.27.ffn_down.weight", 27, 4096, false, gguf.TypeQ6_K}, // (27−4) mod 3 = 2
		{"blk.26.ffn_down.weight", 26, 4096, false, gguf.TypeQ4_K},
		{"blk.6.ffn_up.weight", 6, 4096, false, gguf.TypeQ4_K},
	} {
		if got := km.TensorType(c.name, c.layer, 32, c.cols, c.tied); got != c.want {
			t.Errorf("q4_k_m %s (layer %d, %d columns, tied %v) = %v, want %v", c.name, c.layer, c.cols, c.tied, got, c.want)
		}
	}
	q5k, _ := convert.ParseScheme("q5_k")
	if got := q5k.TensorType("output.weight", -1, 32, 96, false); got != gguf.TypeQ5_1 {
		t.Errorf("q5_k on 96 columns = %v, want Q5_1", got)
	}
	if _, err := convert.ParseScheme("q3_k"); err == nil {
		t.Error("q3_k accepted")
	}
	for name, ft := range map[string]uint32{"q4_1": 3, "q5_0": 8, "q5_1": 9, "q4_k": 14, "q4_k_m": 15, "q5_k_m": 17, "q6_k": 18} {
		if sc, err := convert.ParseScheme(name); err != nil || sc.FileType != ft {
			t.Errorf("%s: file type %d, %v; want %d", name, sc.FileType, err, ft)
		}
	}
}
