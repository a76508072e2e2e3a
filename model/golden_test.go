package model_test

import (
	"encoding/binary"
	"math"
	"os"
	"testing"

	"github.com/thinkv/thinkv/internal/sharedtest"
	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/model"
)

// golden is one step of llama2.c's reference run: the input token at a position
// and the logits it produced.
type golden struct {
	pos, token int
	logits     []float32
}

func readGolden(t *testing.T, name string, vocab int) []golden {
	t.Helper()
	data, err := os.ReadFile(sharedtest.Path(t, "golden", "stories260K", name))
	if err != nil {
		t.Fatal(err)
	}
	rec := 8 + 4*vocab
	if len(data)%rec != 0 {
		t.Fatalf("%s: %d bytes is not a whole number of %d-byte records", name, len(data), rec)
	}
	var out []golden
	for off := 0; off < len(data); off += rec {
		g := golden{
			pos:    int(int32(binary.LittleEndian.Uint32(data[off:]))),
			token:  int(int32(binary.LittleEndian.Uint32(data[off+4:]))),
			logits: make([]float32, vocab),
		}
		for i := range g.logits {
			g.logits[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[off+8+4*i:]))
		}
		out = append(out, g)
	}
	return out
}

func maxDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

func loadStories(t *testing.T, gguf bool) *model.Model {
	t.Helper()
	path := sharedtest.Path(t, "models", "stories260K", "stories260K.bin")
	if gguf {
		path = sharedtest.Path(t, "models", "stories260K", "stories260K.gguf")
	}
	m, _, err := model.Load(path, 512)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestGoldenLogits checks logits at every position against llama2.c, both for a
// batched prefill of all 256 tokens and for one-token decode steps, for the
// llama2.c checkpoint and the GGUF conversion, with f32 and f16 caches.
func TestGoldenLogits(t *testing.T) {
	for _, name := range []string{"once_upon_a_time.logits.bin", "empty_prompt.logits.bin"} {
		for _, useGGUF := range []bool{false, true} {
			m := loadStories(t, useGGUF)
			g := readGolden(t, name, m.Vocab)
			tokens := make([]int, len(g))
			for i, r := range g {
				if r.pos != i {
					t.Fatalf("record %d has position %d", i, r.pos)
				}
				tokens[i] = r.token
			}
			pool := kernels.NewPool(0)
			for _, typ := range []kvcache.DType{kvcache.F32, kvcache.F16} {
				tol := 1e-4
				if typ == kvcache.F16 {
					// Keys and values rounded to 11 significant bits (relative
					// error ≤ 2⁻¹¹ ≈ 4.9e-4) on logits of magnitude ≈ 20 through 5
					// layers: allow 0.05, and demand the same argmax everywhere.
					tol = 5e-2
				}
				c, _ := kvcache.New(kvcache.Config{Layers: m.Config.Layers, KVHeads: m.KVHeads, HeadDim: m.HeadDim, Type: typ, Capacity: len(g)})
				s := m.NewState(pool, 64)
				all, err := m.Forward(s, c, tokens, true, nil)
				if err != nil {
					t.Fatal(err)
				}
				var worst float64
				for i, r := range g {
					worst = math.Max(worst, maxDiff(all[i*m.Vocab:(i+1)*m.Vocab], r.logits))
				}
				if worst > tol {
					t.Errorf("%s gguf=%v kv=%v prefill: max |logit diff| %.3g > %g", name, useGGUF, typ, worst, tol)
				}
				c, _ = kvcache.New(kvcache.Config{Layers: m.Config.Layers, KVHeads: m.KVHeads, HeadDim: m.HeadDim, Type: typ, Capacity: len(g)})
				s = m.NewState(pool, 1)
				worst = 0
				for i, r := range g {
					logits, err := m.Forward(s, c, tokens[i:i+1], false, nil)
					if err != nil {
						t.Fatal(err)
					}
					worst = math.Max(worst, maxDiff(logits, r.logits))
					if argmax(logits) != argmax(r.logits) {
						t.Errorf("%s gguf=%v kv=%v: argmax differs at position %d", name, useGGUF, typ, i)
					}
				}
				if worst > tol {
					t.Errorf("%s gguf=%v kv=%v decode: max |logit diff| %.3g > %g", name, useGGUF, typ, worst, tol)
				}
				t.Logf("%s gguf=%v kv=%v: max |logit diff| %.3g", name, useGGUF, typ, worst)
			}
		}
	}
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}
