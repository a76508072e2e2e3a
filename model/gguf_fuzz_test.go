package model_test

import (
	"bytes"
	"testing"

	"github.com/thinkv/thinkv/gguf"
	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/model"
)

// FuzzFromGGUF feeds any file the GGUF reader accepts to the model loader: it
// must either refuse it with an error or give a model that runs a token.
func FuzzFromGGUF(f *testing.F) {
	c := model.Config{Dim: 32, Hidden: 64, Layers: 1, Heads: 4, KVHeads: 2, HeadDim: 8, Vocab: 16, Context: 8}
	names, shapes, data := syntheticWeights(c, 1)
	for _, typ := range []gguf.Type{gguf.TypeF32, gguf.TypeQ8_0} {
		w := gguf.NewWriter()
		w.AddKV("general.architecture", gguf.StringValue("llama"))
		for k, v := range map[string]int{"context_length": 8, "embedding_length": 32, "block_count": 1,
			"feed_forward_length": 64, "attention.head_count": 4, "attention.head_count_kv": 2} {
			w.AddKV("llama."+k, gguf.Uint32Value(uint32(v)))
		}
		for _, n := range names {
			tt := typ
			if len(shapes[n]) == 1 {
				tt = gguf.TypeF32
			}
			if err := w.AddFloat32Tensor(n, tt, shapes[n], data[n]); err != nil {
				f.Fatal(err)
			}
		}
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := gguf.Parse(b)
		if err != nil {
			return
		}
		m, err := model.FromGGUF(file, 0)
		if err != nil {
			return
		}
		cache, err := kvcache.New(kvcache.Config{Layers: m.Config.Layers, KVHeads: m.KVHeads, HeadDim: m.HeadDim, Type: kvcache.F32, Capacity: 1})
		if err != nil {
			t.Fatalf("loaded model %+v has no cache: %v", m.Config, err)
		}
		if _, err := m.Forward(m.NewState(kernels.NewPool(1), 1), cache, []int{0}, false, nil); err != nil {
			t.Fatalf("loaded model %+v does not run: %v", m.Config, err)
		}
	})
}
