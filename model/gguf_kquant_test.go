package model_test

import (
	"math"
	"testing"

	"github.com/thinkv/thinkv/gguf"
	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/model"
)

// TestSyntheticKQuants writes the random Llama-shaped model of
// TestSyntheticLlamaShapes with every matrix as each type of issue #11 that
// thinkv can write, and checks, as that test does, that each loads (with the
// matching kernels type), that its logits equal those of an f32 model of its
// own dequantized weights within 1e-5 relative RMS (the fused kernels are
// exact up to float32 rounding; types with integer kernels within the error
// of Q8 activations, as in TestSyntheticLlamaShapes), and that they are
// within the tolerance derived from the weights' quantization error of the
// f32 model's.
func TestSyntheticKQuants(t *testing.T) {
	c := llamaShape
	names, shapes, data := syntheticWeights(c, 7)
	tokens := []int{1, 17, 200, 3, 99, 45, 45, 128, 255, 0, 64, 32}
	ref, _, err := model.Load(writeSynthetic(t, c, gguf.TypeF32, names, shapes, data), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	want := runAll(t, ref, tokens)
	for _, k := range []struct {
		typ  gguf.Type
		kind kernels.DType
	}{
		{gguf.TypeQ4_1, kernels.Q4_1}, {gguf.TypeQ5_0, kernels.Q5_0}, {gguf.TypeQ5_1, kernels.Q5_1},
		{gguf.TypeQ4_K, kernels.Q4_K}, {gguf.TypeQ5_K, kernels.Q5_K}, {gguf.TypeQ6_K, kernels.Q6_K},
	} {
		m, _, err := model.Load(writeSynthetic(t, c, k.typ, names, shapes, data), 0)
		if err != nil {
			t.Fatalf("%v: %v", k.typ, err)
		}
		if m.Layers[1].Down.Type != k.kind || m.Output.Type != k.kind {
			t.Errorf("%v: loaded as %v/%v", k.typ, m.Layers[1].Down.Type, m.Output.Type)
		}
		got := runAll(t, m, tokens)
		// Types with integer kernels (TakesQ8) multiply Q8 activations:
		// their tolerance is TestSyntheticLlamaShapes's.
		atol := 1e-5
		if m.Layers[0].Wq.TakesQ8() {
			atol = 2 * actError() * math.Sqrt(float64(3*c.Layers+1))
		}
		if e := relRMS(got, runAll(t, dequantized(m), tokens)); e > atol {
			t.Errorf("%v: logits differ from the dequantized-f32 model by relative RMS %.3g > %.3g", k.typ, e, atol)
		}
		werr := weightError(m.Layers[0].Wq, data[names[2]])
		tol := 2 * werr * math.Sqrt(float64(3*c.Layers+1))
		e := relRMS(got, want)
		t.Logf("%v: weight error %.3g, logits relative RMS error %.3g (tolerance %.3g)", k.typ, werr, e, tol)
		if e > tol {
			t.Errorf("%v: logits relative RMS error %.3g > %.3g", k.typ, e, tol)
		}
		m.Close()
	}
}
