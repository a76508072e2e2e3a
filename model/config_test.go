package model_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/gguf"
	"github.com/thinkv/thinkv/model"
)

// tinyShape is the smallest model the config tests build.
var tinyShape = model.Config{Dim: 32, Hidden: 64, Layers: 1, Heads: 4, KVHeads: 2, HeadDim: 8, Vocab: 16, Context: 8}

// tinyGGUF returns a small llama GGUF with the extra metadata set (replacing
// the defaults), parsed.
func tinyGGUF(t *testing.T, extra map[string]gguf.Value) *gguf.File {
	t.Helper()
	c := tinyShape
	names, shapes, data := syntheticWeights(c, 1)
	w := gguf.NewWriter()
	w.AddKV("general.architecture", gguf.StringValue("llama"))
	for k, v := range map[string]int{"context_length": c.Context, "embedding_length": c.Dim, "block_count": c.Layers,
		"feed_forward_length": c.Hidden, "attention.head_count": c.Heads, "attention.head_count_kv": c.KVHeads} {
		w.AddKV("llama."+k, gguf.Uint32Value(uint32(v)))
	}
	w.AddKV("llama.rope.freq_base", gguf.Float32Value(10000))
	w.AddKV("llama.attention.layer_norm_rms_epsilon", gguf.Float32Value(1e-5))
	for k, v := range extra {
		w.AddKV(k, v)
	}
	for _, n := range names {
		if err := w.AddFloat32Tensor(n, gguf.TypeF32, shapes[n], data[n]); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// badFloats are the values no epsilon, RoPE base or scale may take.
var badFloats = []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, -1}

// TestGGUFBadNormAndRope checks that a NaN, infinite, zero or negative RMS
// epsilon, RoPE base or RoPE scale factor is a load error naming it, where it
// used to load and produce <unk> forever.
func TestGGUFBadNormAndRope(t *testing.T) {
	m, err := model.FromGGUF(tinyGGUF(t, nil), 0)
	if err != nil {
		t.Fatalf("valid file: %v", err)
	}
	if m.Output == m.Embed { // its output.weight differs from the embedding
		t.Error("an untied output head was taken for the embedding")
	}
	for _, x := range badFloats {
		for _, tc := range []struct {
			kv   map[string]gguf.Value
			want string
		}{
			{map[string]gguf.Value{"llama.attention.layer_norm_rms_epsilon": gguf.Float32Value(float32(x))}, "RMS norm epsilon"},
			{map[string]gguf.Value{"llama.rope.freq_base": gguf.Float32Value(float32(x))}, "RoPE base"},
			{map[string]gguf.Value{"llama.rope.freq_base": gguf.Float64Value(x)}, "RoPE base"},
			{map[string]gguf.Value{"llama.rope.scaling.type": gguf.StringValue("linear"),
				"llama.rope.scaling.factor": gguf.Float32Value(float32(x))}, "RoPE scaling factor"},
			{map[string]gguf.Value{"llama.rope.scale_linear": gguf.Float32Value(float32(x))}, "RoPE scaling factor"},
		} {
			_, err := model.FromGGUF(tinyGGUF(t, tc.kv), 0)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v = %v: got %v, want an error mentioning %q", tc.kv, x, err, tc.want)
			}
		}
	}
	// An epsilon too small for float32 becomes zero.
	if _, err := model.FromGGUF(tinyGGUF(t, map[string]gguf.Value{
		"llama.attention.layer_norm_rms_epsilon": gguf.Float64Value(1e-60)}), 0); err == nil {
		t.Error("epsilon 1e-60: no error")
	}
	if _, err := model.FromGGUF(tinyGGUF(t, map[string]gguf.Value{
		"llama.rope.freq_base": gguf.StringValue("10000")}), 0); err == nil || !strings.Contains(err.Error(), "want a number") {
		t.Errorf("string RoPE base: got %v", err)
	}
}

// TestGGUFBadRopeFactors checks that a rope_freqs tensor holding a zero or NaN
// divisor is refused.
func TestGGUFBadRopeFactors(t *testing.T) {
	for _, x := range []float32{0, float32(math.NaN()), -2} {
		w := gguf.NewWriter()
		f := tinyGGUF(t, nil)
		for _, kv := range f.KV {
			w.AddKV(kv.Key, kv.Value)
		}
		for i := range f.Tensors {
			ti := &f.Tensors[i]
			if err := w.AddTensor(ti.Name, ti.Type, ti.Shape, f.TensorData(ti)); err != nil {
				t.Fatal(err)
			}
		}
		factors := []float32{1, 1, x, 1}
		if err := w.AddFloat32Tensor("rope_freqs.weight", gguf.TypeF32, []uint64{4}, factors); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		g, err := gguf.Parse(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := model.FromGGUF(g, 0); err == nil || !strings.Contains(err.Error(), "rope_freqs.weight[2]") {
			t.Errorf("factor %v: got %v", x, err)
		}
	}
}

// TestHFBadNormAndRope checks the same for config.json: an explicit zero or a
// negative rms_norm_eps or rope_theta, and a bad rope_scaling factor.
func TestHFBadNormAndRope(t *testing.T) {
	base := `"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
		"num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 16, "max_position_embeddings": 8`
	for _, tc := range []struct{ extra, want string }{
		{`"rms_norm_eps": 0`, "RMS norm epsilon"},
		{`"rms_norm_eps": -1e-5`, "RMS norm epsilon"},
		{`"rms_norm_eps": 1e-300`, "RMS norm epsilon"}, // zero as float32
		{`"rope_theta": 0`, "RoPE base"},
		{`"rope_theta": -10000`, "RoPE base"},
		{`"rope_scaling": {"type": "linear", "factor": 0}`, "rope_scaling factor"},
		{`"rope_scaling": {"type": "linear", "factor": -2}`, "rope_scaling factor"},
		{`"rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 4, "high_freq_factor": 4,
			"original_max_position_embeddings": 8192}`, "llama3 rope_scaling"},
		{`"rope_scaling": {"rope_type": "llama3", "factor": 0, "low_freq_factor": 1, "high_freq_factor": 4,
			"original_max_position_embeddings": 8192}`, "llama3 rope_scaling"},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte("{"+base+", "+tc.extra+"}"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := model.LoadHF(dir, 0)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error mentioning %q", tc.extra, err, tc.want)
		}
	}
}
