package model_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/gguf"
	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/model"
)

// llamaShape is a small model with a real Llama layout: GQA 4:1 and head_dim 128.
var llamaShape = model.Config{Dim: 512, Hidden: 1024, Layers: 2, Heads: 4, KVHeads: 1, HeadDim: 128, Vocab: 256, Context: 64}

// syntheticWeights returns random weights by GGUF tensor name, with their shapes.
func syntheticWeights(c model.Config, seed uint64) (names []string, shapes map[string][]uint64, data map[string][]float32) {
	rng := rand.New(rand.NewPCG(seed, 1))
	shapes, data = map[string][]uint64{}, map[string][]float32{}
	add := func(name string, std float64, base float32, dims ...uint64) {
		n := uint64(1)
		for _, d := range dims {
			n *= d
		}
		w := make([]float32, n)
		for i := range w {
			w[i] = base + float32(rng.NormFloat64()*std)
		}
		names = append(names, name)
		shapes[name], data[name] = dims, w
	}
	d, h, kv := uint64(c.Dim), uint64(c.Hidden), uint64(c.KVHeads*c.HeadDim)
	add("token_embd.weight", 1, 0, d, uint64(c.Vocab))
	for l := 0; l < c.Layers; l++ {
		n := func(s string) string { return fmt.Sprintf("blk.%d.%s.weight", l, s) }
		add(n("attn_norm"), 0.1, 1, d)
		add(n("attn_q"), 0.06, 0, d, d)
		add(n("attn_k"), 0.06, 0, d, kv)
		add(n("attn_v"), 0.06, 0, d, kv)
		add(n("attn_output"), 0.04, 0, d, d)
		add(n("ffn_norm"), 0.1, 1, d)
		add(n("ffn_gate"), 0.04, 0, d, h)
		add(n("ffn_up"), 0.04, 0, d, h)
		add(n("ffn_down"), 0.03, 0, h, d)
	}
	add("output_norm.weight", 0.1, 1, d)
	add("output.weight", 0.04, 0, d, uint64(c.Vocab))
	return names, shapes, data
}

// writeSynthetic writes the weights as a GGUF file with matrices of type typ.
func writeSynthetic(t testing.TB, c model.Config, typ gguf.Type, names []string, shapes map[string][]uint64, data map[string][]float32) string {
	t.Helper()
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
		tt := typ
		if len(shapes[name]) == 1 {
			tt = gguf.TypeF32 // norms stay f32, as llama.cpp writes them
		}
		if err := w.AddFloat32Tensor(name, tt, shapes[name], data[name]); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "synthetic-"+typ.String()+".gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func runAll(t *testing.T, m *model.Model, tokens []int) []float32 {
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

// dequantized returns a copy of m whose matrices are f32 copies of m's
// (dequantized) weights: the exact reference for m's quantized kernels.
func dequantized(m *model.Model) *model.Model {
	f := func(w *kernels.Matrix) *kernels.Matrix {
		out := make([]float32, w.Rows*w.Cols)
		for r := 0; r < w.Rows; r++ {
			w.Row(out[r*w.Cols:(r+1)*w.Cols], r)
		}
		return kernels.F32Matrix(w.Rows, w.Cols, out)
	}
	d := *m
	d.Embed, d.Output = f(m.Embed), f(m.Output)
	d.Layers = nil
	for _, l := range m.Layers {
		l.Wq, l.Wk, l.Wv, l.Wo = f(l.Wq), f(l.Wk), f(l.Wv), f(l.Wo)
		l.Gate, l.Up, l.Down = f(l.Gate), f(l.Up), f(l.Down)
		d.Layers = append(d.Layers, l)
	}
	return &d
}

func relRMS(got, want []float32) float64 {
	var num, den float64
	for i := range got {
		e := float64(got[i] - want[i])
		num += e * e
		den += float64(want[i]) * float64(want[i])
	}
	return math.Sqrt(num / den)
}

// TestSyntheticLlamaShapes writes one random model in Llama shapes as F32, F16,
// Q8_0 and Q4_0 GGUF files and checks that each loads and runs: its logits equal
// those of an f32 model holding its own dequantized weights (F16: so the
// kernels are exact), or are within the error of quantizing the activations
// to Q8 (Q8_0, Q4_0, whose products are integer), and stay within a
// tolerance of the f32 model's derived from the weights' quantization error.
func TestSyntheticLlamaShapes(t *testing.T) {
	c := llamaShape
	names, shapes, data := syntheticWeights(c, 7)
	tokens := []int{1, 17, 200, 3, 99, 45, 45, 128, 255, 0, 64, 32}
	ref, _, err := model.Load(writeSynthetic(t, c, gguf.TypeF32, names, shapes, data), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	if ref.Heads/ref.KVHeads != 4 || ref.HeadDim != 128 {
		t.Fatalf("loaded config %+v, want GQA 4:1 with head_dim 128", ref.Config)
	}
	want := runAll(t, ref, tokens)
	for _, typ := range []gguf.Type{gguf.TypeF16, gguf.TypeQ8_0, gguf.TypeQ4_0} {
		m, _, err := model.Load(writeSynthetic(t, c, typ, names, shapes, data), 0)
		if err != nil {
			t.Fatalf("%v: %v", typ, err)
		}
		got := runAll(t, m, tokens)
		// Quantized matrices multiply Q8-quantized activations (the kernels
		// themselves are checked exactly in package kernels), so their logits
		// differ from the dequantized-f32 model's by the activations'
		// quantization error, in quadrature over the products as below.
		atol := 1e-5
		if m.Layers[0].Wq.TakesQ8() {
			atol = 2 * actError() * math.Sqrt(float64(3*c.Layers+1))
		}
		e := relRMS(got, runAll(t, dequantized(m), tokens))
		t.Logf("%v: logits relative RMS error against the dequantized-f32 model %.3g (tolerance %.3g)", typ, e, atol)
		if e > atol {
			t.Errorf("%v: logits differ from the dequantized-f32 model by relative RMS %.3g > %.3g", typ, e, atol)
		}
		// Tolerance: each matrix product on the residual path (attention, the
		// MLP's two stages, per layer, and the head) adds a relative error of
		// about the weights' own, independently, so they add in quadrature;
		// twice that for safety.
		werr := weightError(m.Layers[0].Wq, data[names[2]])
		tol := 2 * werr * math.Sqrt(float64(3*c.Layers+1))
		e = relRMS(got, want)
		t.Logf("%v: weight error %.3g, logits relative RMS error %.3g (tolerance %.3g)", typ, werr, e, tol)
		if e > tol {
			t.Errorf("%v: logits relative RMS error %.3g > %.3g", typ, e, tol)
		}
		m.Close()
	}
}

// actError returns the relative RMS error of Q8 activations
// (kernels.QuantizeActs) on Gaussian rows.
func actError() float64 {
	rng := rand.New(rand.NewPCG(9, 9))
	x := make([]float32, 1<<14)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	const cols = 1024
	a := kernels.QuantizeActs(make([]float32, kernels.ActsWords(len(x)/cols, cols)), x, len(x)/cols, cols)
	// Dequantize through a product with the identity in Q8_0.
	id := make([]float32, cols*cols)
	for i := 0; i < cols; i++ {
		id[i*cols+i] = 1
	}
	q := make([]byte, cols*kernels.Q8_0.RowBytes(cols))
	kernels.QuantizeQ8_0(q, id)
	m, err := kernels.NewMatrix(kernels.Q8_0, cols, cols, q)
	if err != nil {
		panic(err)
	}
	got := make([]float32, len(x))
	m.MulActs(nil, got, &a)
	return relRMS(got, x)
}

// weightError returns the relative RMS error of a stored matrix against the
// f32 weights it was made from.
func weightError(w *kernels.Matrix, orig []float32) float64 {
	got := make([]float32, w.Rows*w.Cols)
	for r := 0; r < w.Rows; r++ {
		w.Row(got[r*w.Cols:(r+1)*w.Cols], r)
	}
	return relRMS(got, orig)
}

// TestGGUFShapeMismatch checks that a tensor of the wrong shape is a clear error.
func TestGGUFShapeMismatch(t *testing.T) {
	c := llamaShape
	names, shapes, data := syntheticWeights(c, 3)
	shapes["blk.1.attn_k.weight"] = []uint64{uint64(c.Dim), uint64(c.HeadDim * 2)}
	data["blk.1.attn_k.weight"] = make([]float32, c.Dim*c.HeadDim*2)
	_, _, err := model.Load(writeSynthetic(t, c, gguf.TypeF32, names, shapes, data), 0)
	if err == nil || !strings.Contains(err.Error(), "blk.1.attn_k.weight") || !strings.Contains(err.Error(), "shape") {
		t.Fatalf("got %v, want a shape error naming blk.1.attn_k.weight", err)
	}
}
