package model

import (
	"encoding/binary"
	"fmt"

	"github.com/thinkv/thinkv/internal/mmap"
	"github.com/thinkv/thinkv/kernels"
)

// LoadLlama2C loads a llama2.c version-0 checkpoint: seven int32 hyper-parameters
// (dim, hidden, layers, heads, KV heads, vocab — negative when the classifier is
// not shared — and context), then float32 tensors.
// The file is memory-mapped and its weights used in place.
func LoadLlama2C(path string) (*Model, error) {
	data, unmap, err := mmap.Map(path)
	if err != nil {
		return nil, err
	}
	m, err := ParseLlama2C(data)
	if err != nil {
		if unmap != nil {
			unmap()
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if unmap != nil {
		m.closer = closerFunc(unmap)
	}
	return m, nil
}

// closerFunc adapts a function to io.Closer.
type closerFunc func() error

// Close calls f.
func (f closerFunc) Close() error { return f() }

// ParseLlama2C builds a model over a llama2.c checkpoint held in memory; the
// model's weights alias data where it is 4-byte aligned (else a copy). The
// data must be exactly as long as the header says: the tensors, the two
// legacy RoPE tables (Context×HeadDim/2 floats each) and, when the vocabulary
// size is negative, the separate classifier.
func ParseLlama2C(data []byte) (*Model, error) {
	const header = 7 * 4
	if len(data) < header {
		return nil, fmt.Errorf("llama2.c checkpoint: %d bytes is shorter than the header", len(data))
	}
	var h [7]int32
	for i := range h {
		h[i] = int32(binary.LittleEndian.Uint32(data[4*i:]))
	}
	shared := h[5] > 0
	vocab := h[5]
	if vocab < 0 {
		vocab = -vocab
	}
	cfg := Config{
		Arch: "llama", Dim: int(h[0]), Hidden: int(h[1]), Layers: int(h[2]), Heads: int(h[3]),
		KVHeads: int(h[4]), Vocab: int(vocab), Context: int(h[6]), RopeTheta: 10000, NormEps: 1e-5,
	}
	if cfg.Heads > 0 {
		cfg.HeadDim = cfg.Dim / cfg.Heads
	}
	cfg.RopeDim = cfg.HeadDim
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("llama2.c checkpoint: %w", err)
	}
	if cfg.Context > 1<<24 {
		return nil, fmt.Errorf("llama2.c checkpoint: context %d out of range", cfg.Context)
	}
	dim, hid, kvDim, L := cfg.Dim, cfg.Hidden, cfg.KVHeads*cfg.HeadDim, cfg.Layers
	// Every count is bounded above, so the sum fits an int64.
	d, h64, kv, v := int64(dim), int64(hid), int64(kvDim), int64(cfg.Vocab)
	floats := v*d + int64(L)*(2*d+2*d*d+2*kv*d+3*h64*d) + d + int64(cfg.Context)*int64(cfg.HeadDim)
	if !shared {
		floats += v * d
	}
	classifier := map[bool]string{true: "shared classifier", false: "separate classifier"}[shared]
	if want := header + 4*floats; int64(len(data)) != want {
		return nil, fmt.Errorf("llama2.c checkpoint: file is %d bytes, but its header (%s, %s) needs exactly %d",
			len(data), cfg.brief(), classifier, want)
	}
	r := reader{buf: kernels.BytesF32(aligned(data[header:], 4))}
	embed := r.take(cfg.Vocab * dim)
	attnNorm, wq, wk := r.take(L*dim), r.take(L*dim*dim), r.take(L*kvDim*dim)
	wv, wo, ffnNorm := r.take(L*kvDim*dim), r.take(L*dim*dim), r.take(L*dim)
	w1, w2, w3 := r.take(L*hid*dim), r.take(L*dim*hid), r.take(L*hid*dim)
	norm := r.take(dim)
	r.take(cfg.Context * cfg.HeadDim) // legacy RoPE tables (cos and sin halves)
	var wcls []float32
	if !shared {
		wcls = r.take(cfg.Vocab * dim)
	}
	m := &Model{Config: cfg, Norm: norm, Embed: kernels.F32Matrix(cfg.Vocab, dim, embed)}
	m.Output = m.Embed
	if wcls != nil {
		m.Output = kernels.F32Matrix(cfg.Vocab, dim, wcls)
	}
	for l := 0; l < L; l++ {
		m.Layers = append(m.Layers, Layer{
			AttnNorm: attnNorm[l*dim : (l+1)*dim],
			Wq:       kernels.F32Matrix(dim, dim, wq[l*dim*dim:(l+1)*dim*dim]),
			Wk:       kernels.F32Matrix(kvDim, dim, wk[l*kvDim*dim:(l+1)*kvDim*dim]),
			Wv:       kernels.F32Matrix(kvDim, dim, wv[l*kvDim*dim:(l+1)*kvDim*dim]),
			Wo:       kernels.F32Matrix(dim, dim, wo[l*dim*dim:(l+1)*dim*dim]),
			FFNNorm:  ffnNorm[l*dim : (l+1)*dim],
			Gate:     kernels.F32Matrix(hid, dim, w1[l*hid*dim:(l+1)*hid*dim]),
			Down:     kernels.F32Matrix(dim, hid, w2[l*dim*hid:(l+1)*dim*hid]),
			Up:       kernels.F32Matrix(hid, dim, w3[l*hid*dim:(l+1)*hid*dim]),
		})
	}
	return m, nil
}

// reader hands out consecutive slices of buf, which the caller has checked
// holds them all.
type reader struct {
	buf []float32
	off int
}

func (r *reader) take(n int) []float32 {
	s := r.buf[r.off : r.off+n : r.off+n]
	r.off += n
	return s
}
