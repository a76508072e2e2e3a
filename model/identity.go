package model

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"math"

	"github.com/thinkv/thinkv/kernels"
)

// Identity returns a SHA-256 digest that tells this model's weights apart from
// any other's, for files (such as a saved KV cache) that are only valid for
// the model that made them. It covers the hyper-parameters (but not the
// context length, which limits a sequence without changing its cache), every
// norm, bias and RoPE factor, and each matrix's type, shape, first and last
// row: enough to tell another checkpoint, fine-tune or quantisation apart
// while reading a few kilobytes of a multi-gigabyte file.
func (m *Model) Identity() []byte {
	h := sha256.New()
	cfg := m.Config
	cfg.Context, cfg.SlidingWindow = 0, 0
	b, _ := json.Marshal(cfg) // a struct of numbers and strings: never fails
	h.Write(b)
	var n [8]byte
	mat := func(w *kernels.Matrix) {
		if w == nil {
			h.Write([]byte{0})
			return
		}
		for _, x := range []int{int(w.Type), w.Rows, w.Cols, len(w.Data)} {
			binary.LittleEndian.PutUint64(n[:], uint64(x))
			h.Write(n[:])
		}
		row := len(w.Data) / w.Rows
		h.Write(w.Data[:row])
		h.Write(w.Data[len(w.Data)-row:])
	}
	vec := func(v []float32) {
		binary.LittleEndian.PutUint64(n[:], uint64(len(v)))
		h.Write(n[:])
		for _, x := range v {
			binary.LittleEndian.PutUint32(n[:4], math.Float32bits(x))
			h.Write(n[:4])
		}
	}
	mat(m.Embed)
	if m.Output != m.Embed {
		mat(m.Output)
	}
	vec(m.Norm)
	vec(m.RopeFactors)
	for i := range m.Layers {
		l := &m.Layers[i]
		for _, w := range []*kernels.Matrix{l.Wq, l.Wk, l.Wv, l.Wo, l.Gate, l.Up, l.Down} {
			mat(w)
		}
		for _, v := range [][]float32{l.AttnNorm, l.FFNNorm, l.Bq, l.Bk, l.Bv} {
			vec(v)
		}
	}
	return h.Sum(nil)
}
