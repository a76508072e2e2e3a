package model_test

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/convert"
	"github.com/thinkv/thinkv/gguf"
	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/model"
)

// writeScheme writes the synthetic weights as a GGUF file with each matrix
// of the type the convert scheme (such as q4_k_m) gives it.
func writeScheme(t testing.TB, c model.Config, scheme string, names []string, shapes map[string][]uint64, data map[string][]float32) string {
	t.Helper()
	sc, err := convert.ParseScheme(scheme)
	if err != nil {
		t.Fatal(err)
	}
	w := gguf.NewWriter()
	w.AddKV("general.architecture", gguf.StringValue("llama"))
	for k, v := range map[string]int{"context_length": c.Context, "embedding_length": c.Dim, "block_count": c.Layers,
		"feed_forward_length": c.Hidden, "attention.head_count": c.Heads, "attention.head_count_kv": c.KVHeads,
		"rope.dimension_count": c.HeadDim} {
		w.AddKV("llama."+k, gguf.Uint32Value(uint32(v)))
	}
	w.AddKV("llama.rope.freq_base", gguf.Float32Value(10000))
	w.AddKV("llama.attention.layer_norm_rms_epsilon", gguf.Float32Value(1e-5))
	for _, name := range names {
		typ := gguf.TypeF32 // norms
		if dims := shapes[name]; len(dims) == 2 {
			layer := -1
			if rest, ok := strings.CutPrefix(name, "blk."); ok {
				layer, _ = strconv.Atoi(rest[:strings.IndexByte(rest, '.')])
			}
			typ = sc.TensorType(name, layer, c.Layers, int(dims[0]), false)
		}
		if err := w.AddFloat32Tensor(name, typ, shapes[name], data[name]); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "synthetic-"+scheme+".gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestQ4KMIntegerProducts runs the random Llama-shaped model of
// TestSyntheticLlamaShapes as q4_k_m (Q4_K, with Q6_K for the head and the
// second layer's attn_v and ffn_down) with the float K-quant products and
// with the integer ones (kernels.SetIntegerKQuants), and logs each one's
// logit error against the f32 model of its own dequantized weights, and
// against the original f32 model. The
// float products are exact up to rounding (1e-5); the integer ones add the
// error of quantizing the activations to Q8, bounded as in
// TestSyntheticLlamaShapes.
func TestQ4KMIntegerProducts(t *testing.T) {
	defer kernels.SetIntegerKQuants(kernels.SetIntegerKQuants(false))
	c := llamaShape
	names, shapes, data := syntheticWeights(c, 7)
	tokens := []int{1, 17, 200, 3, 99, 45, 45, 128, 255, 0, 64, 32}
	m, _, err := model.Load(writeScheme(t, c, "q4_k_m", names, shapes, data), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Layers[0].Wq.Type != kernels.Q4_K || m.Output.Type != kernels.Q6_K || m.Layers[1].Down.Type != kernels.Q6_K {
		t.Fatalf("loaded as Wq %v, head %v, layer 1 down %v", m.Layers[0].Wq.Type, m.Output.Type, m.Layers[1].Down.Type)
	}
	want := runAll(t, dequantized(m), tokens)
	ref, _, err := model.Load(writeSynthetic(t, c, gguf.TypeF32, names, shapes, data), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	orig := runAll(t, ref, tokens)
	for _, on := range []bool{false, true} {
		kernels.SetIntegerKQuants(on)
		if m.Layers[0].Wq.TakesQ8() != on {
			t.Fatalf("integer %v: Q4_K TakesQ8 %v", on, m.Layers[0].Wq.TakesQ8())
		}
		got := runAll(t, m, tokens)
		e := relRMS(got, want)
		tol := 1e-5
		if on {
			tol = 2 * actError() * math.Sqrt(float64(3*c.Layers+1))
		}
		t.Logf("q4_k_m, integer products %v: logits relative RMS error against the dequantized-f32 model %.3g (tolerance %.3g)", on, e, tol)
		t.Logf("q4_k_m, integer products %v: against the original f32 model (weights' error too) %.3g", on, relRMS(got, orig))
		if e > tol {
			t.Errorf("q4_k_m, integer products %v: logits relative RMS error %.3g > %.3g", on, e, tol)
		}
	}
}

// BenchmarkQ4KMLlama prefills 256 tokens (one step) and decodes one token
// after 512 of context on llamaBench in q4_k_m, with the float K-quant
// products ("float") and the integer ones ("int"), side by side.
func BenchmarkQ4KMLlama(b *testing.B) {
	defer kernels.SetIntegerKQuants(kernels.SetIntegerKQuants(false))
	names, shapes, data := syntheticWeights(llamaBench, 5)
	m, _, err := model.Load(writeScheme(b, llamaBench, "q4_k_m", names, shapes, data), 0)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	for _, bench := range []string{"prefill256", "decode@512"} {
		for _, path := range []string{"float", "int"} {
			b.Run(fmt.Sprintf("%s/%s", bench, path), func(b *testing.B) {
				kernels.SetIntegerKQuants(path == "int")
				if bench == "prefill256" {
					benchPrefill(b, m, 256, kvcache.F16)
				} else {
					benchDecode(b, m, 512, kvcache.F16)
				}
			})
		}
	}
}
