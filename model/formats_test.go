package model_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/convert"
	"github.com/thinkv/thinkv/gguf"
	"github.com/thinkv/thinkv/model"
	"github.com/thinkv/thinkv/safetensors"
	"github.com/thinkv/thinkv/tokenizer"
)

// arch is a synthetic model in the shape of a real family.
type arch struct {
	name    string
	cfg     model.Config
	hf      map[string]any // config.json fields beyond the shapes
	biases  bool
	factors []float32 // rope_freqs, as llama.cpp derives them
}

func archs() []arch {
	llama3 := model.Config{Arch: "llama", Dim: 512, Hidden: 1024, Layers: 2, Heads: 4, KVHeads: 1, HeadDim: 128, RopeDim: 128, Vocab: 512, Context: 64, RopeTheta: 500000, NormEps: 1e-5}
	scaling := map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
	return []arch{
		{name: "llama3", cfg: llama3, hf: map[string]any{"model_type": "llama", "rope_scaling": scaling},
			factors: model.Llama3RopeFactors(llama3, 8, 1, 4, 64)},
		{name: "mistral", cfg: model.Config{Arch: "llama", Dim: 256, Hidden: 512, Layers: 2, Heads: 8, KVHeads: 2, HeadDim: 32, RopeDim: 32, Vocab: 512, Context: 64, RopeTheta: 1e6, NormEps: 1e-5},
			hf: map[string]any{"model_type": "mistral", "sliding_window": 4096}},
		{name: "qwen2", cfg: model.Config{Arch: "qwen2", Dim: 256, Hidden: 512, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 64, RopeDim: 64, Vocab: 512, Context: 64, RopeTheta: 1e6, NormEps: 1e-6, RopeNeoX: true},
			hf: map[string]any{"model_type": "qwen2", "sliding_window": 32, "use_sliding_window": false}, biases: true},
		{name: "tinyllama", cfg: model.Config{Arch: "llama", Dim: 512, Hidden: 1024, Layers: 2, Heads: 8, KVHeads: 1, HeadDim: 64, RopeDim: 64, Vocab: 512, Context: 64, RopeTheta: 10000, NormEps: 1e-5},
			hf: map[string]any{"model_type": "llama"}},
	}
}

// weights returns random weights in GGUF layout, by GGUF name.
func (a arch) weights(seed uint64) ([]string, map[string][]uint64, map[string][]float32) {
	names, shapes, data := syntheticWeights(a.cfg, seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	add := func(name string, n int, base float32) {
		v := make([]float32, n)
		for i := range v {
			v[i] = base + float32(rng.NormFloat64()*0.1)
		}
		names, shapes[name], data[name] = append(names, name), []uint64{uint64(n)}, v
	}
	kvDim := a.cfg.KVHeads * a.cfg.HeadDim
	for l := 0; l < a.cfg.Layers && a.biases; l++ {
		add(fmt.Sprintf("blk.%d.attn_q.bias", l), a.cfg.Dim, 0)
		add(fmt.Sprintf("blk.%d.attn_k.bias", l), kvDim, 0)
		add(fmt.Sprintf("blk.%d.attn_v.bias", l), kvDim, 0)
	}
	if a.factors != nil {
		names, shapes["rope_freqs.weight"], data["rope_freqs.weight"] = append(names, "rope_freqs.weight"), []uint64{uint64(len(a.factors))}, a.factors
	}
	return names, shapes, data
}

func (a arch) writeGGUF(t *testing.T, names []string, shapes map[string][]uint64, data map[string][]float32) string {
	w := gguf.NewWriter()
	c, p := a.cfg, a.cfg.Arch+"."
	w.AddKV("general.architecture", gguf.StringValue(c.Arch))
	for k, v := range map[string]int{"context_length": c.Context, "embedding_length": c.Dim, "block_count": c.Layers,
		"feed_forward_length": c.Hidden, "attention.head_count": c.Heads, "attention.head_count_kv": c.KVHeads, "rope.dimension_count": c.RopeDim} {
		w.AddKV(p+k, gguf.Uint32Value(uint32(v)))
	}
	w.AddKV(p+"rope.freq_base", gguf.Float32Value(float32(c.RopeTheta)))
	w.AddKV(p+"attention.layer_norm_rms_epsilon", gguf.Float32Value(c.NormEps))
	for _, n := range names {
		if err := w.AddFloat32Tensor(n, gguf.TypeF32, shapes[n], data[n]); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), a.name+".gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// hfName maps a GGUF tensor name to Hugging Face's.
var hfName = strings.NewReplacer("token_embd", "model.embed_tokens", "output_norm", "model.norm", "output.weight", "lm_head.weight",
	"blk.", "model.layers.", "attn_norm", "input_layernorm", "ffn_norm", "post_attention_layernorm",
	"attn_q", "self_attn.q_proj", "attn_k", "self_attn.k_proj", "attn_v", "self_attn.v_proj", "attn_output", "self_attn.o_proj",
	"ffn_gate", "mlp.gate_proj", "ffn_up", "mlp.up_proj", "ffn_down", "mlp.down_proj")

// writeHF writes the same weights as a Hugging Face directory in dtype, with
// llama query/key rows in Hugging Face's rotate-half order, split over two shards.
func (a arch) writeHF(t *testing.T, dtype string, names []string, shapes map[string][]uint64, data map[string][]float32) string {
	dir := t.TempDir()
	c := a.cfg
	cfg := map[string]any{"hidden_size": c.Dim, "intermediate_size": c.Hidden, "num_hidden_layers": c.Layers,
		"num_attention_heads": c.Heads, "num_key_value_heads": c.KVHeads, "vocab_size": c.Vocab,
		"max_position_embeddings": c.Context, "rms_norm_eps": c.NormEps, "rope_theta": c.RopeTheta, "tie_word_embeddings": false}
	for k, v := range a.hf {
		cfg[k] = v
	}
	raw, _ := json.Marshal(cfg)
	os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644)
	shards := []*safetensors.Writer{safetensors.NewWriter(), safetensors.NewWriter()}
	weightMap := map[string]string{}
	for i, n := range names {
		if n == "rope_freqs.weight" {
			continue // Hugging Face derives it from rope_scaling
		}
		v, shape := data[n], shapes[n]
		hs := []int{int(shape[0])}
		if len(shape) == 2 {
			hs = []int{int(shape[1]), int(shape[0])}
		}
		width := hs[len(hs)-1]
		if len(hs) == 1 {
			width = 1
		}
		if heads := map[bool]int{true: c.Heads, false: c.KVHeads}[strings.Contains(n, "attn_q")]; c.Arch == "llama" && (strings.Contains(n, "attn_q") || strings.Contains(n, "attn_k")) {
			v = unpermute(v, width, heads, c.HeadDim)
		}
		file := fmt.Sprintf("model-%05d-of-00002.safetensors", i%2+1)
		if err := shards[i%2].Add(hfName.Replace(n), map[bool]string{true: "F32", false: dtype}[len(hs) == 1], hs, v); err != nil {
			t.Fatal(err)
		}
		weightMap[hfName.Replace(n)] = file
	}
	for i, s := range shards {
		if err := s.WriteFile(filepath.Join(dir, fmt.Sprintf("model-%05d-of-00002.safetensors", i+1))); err != nil {
			t.Fatal(err)
		}
	}
	raw, _ = json.Marshal(map[string]any{"weight_map": weightMap})
	os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), raw, 0o644)
	return dir
}

// unpermute is the inverse of the loader's permutation: GGUF row 2i+j goes
// back to Hugging Face row j·headDim/2+i.
func unpermute(x []float32, width, heads, headDim int) []float32 {
	out := make([]float32, len(x))
	half := headDim / 2
	for h := 0; h < heads; h++ {
		for i := 0; i < half; i++ {
			for j := 0; j < 2; j++ {
				src, dst := h*headDim+2*i+j, h*headDim+j*half+i
				copy(out[dst*width:(dst+1)*width], x[src*width:(src+1)*width])
			}
		}
	}
	return out
}

// TestFormatsAgree writes each family as GGUF and as a Hugging Face directory
// (F32 and BF16/F16 shards) and checks that they give the same logits, and
// that the directory converted to GGUF gives the directory's logits.
func TestFormatsAgree(t *testing.T) {
	tok, err := tokenizer.LoadLlama2C(sharedPath(t, "models", "stories260K", "tok512.bin"), 512)
	if err != nil {
		t.Fatal(err)
	}
	tokens := []int{1, 17, 200, 3, 99, 45, 45, 128, 255, 0, 64, 32, 500, 7}
	for _, a := range archs() {
		names, shapes, data := a.weights(11)
		g, _, err := model.Load(a.writeGGUF(t, names, shapes, data), 0)
		if err != nil {
			t.Fatalf("%s gguf: %v", a.name, err)
		}
		want := runAll(t, g, tokens)
		for _, dtype := range []string{"F32", "BF16", "F16"} {
			h, _, err := model.Load(a.writeHF(t, dtype, names, shapes, data), 0)
			if err != nil {
				t.Fatalf("%s hf %s: %v", a.name, dtype, err)
			}
			if h.Config != g.Config {
				t.Fatalf("%s %s: configs differ\nhf   %+v\ngguf %+v", a.name, dtype, h.Config, g.Config)
			}
			got := runAll(t, h, tokens)
			tol := 1e-5
			if dtype != "F32" {
				tol = 2 * weightError(h.Layers[0].Wv, data["blk.0.attn_v.weight"]) * 3
			}
			if e := relRMS(got, want); e > tol {
				t.Errorf("%s: hf %s logits differ from gguf by relative RMS %.3g > %.3g", a.name, dtype, e, tol)
			}
			if dtype != "F32" {
				continue
			}
			w, err := convert.ToGGUF(h, tok, gguf.TypeF32, a.name)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "converted.gguf")
			if err := w.WriteFile(path); err != nil {
				t.Fatal(err)
			}
			c, _, err := model.Load(path, 0)
			if err != nil {
				t.Fatalf("%s converted: %v", a.name, err)
			}
			if e := relRMS(runAll(t, c, tokens), got); e > 1e-6 {
				t.Errorf("%s: converted GGUF logits differ from the directory's by %.3g", a.name, e)
			}
		}
	}
}

// TestSlidingWindowCapsContext checks that a window shorter than the context
// caps it, from both formats, and that Qwen2's use_sliding_window=false does not.
func TestSlidingWindowCapsContext(t *testing.T) {
	a := archs()[1] // mistral
	a.hf = map[string]any{"model_type": "mistral", "sliding_window": 32}
	names, shapes, data := a.weights(5)
	h, _, err := model.Load(a.writeHF(t, "F32", names, shapes, data), 0)
	if err != nil {
		t.Fatal(err)
	}
	if h.Context != 32 || h.SlidingWindow != 32 {
		t.Errorf("hf: context %d, window %d; want both 32", h.Context, h.SlidingWindow)
	}
	q := archs()[2] // qwen2 with use_sliding_window false
	names, shapes, data = q.weights(5)
	if h, _, err = model.Load(q.writeHF(t, "F32", names, shapes, data), 0); err != nil || h.Context != 64 || h.SlidingWindow != 0 {
		t.Errorf("qwen2: context %d, window %d, err %v; want 64, 0", h.Context, h.SlidingWindow, err)
	}
}
