// Package model owns a Llama-family transformer: its hyper-parameters, its
// weights (loaded from llama2.c checkpoints or GGUF files, memory-mapped where
// the format allows), and the forward pass — embedding, RMSNorm, RoPE,
// grouped-query attention over a kvcache.Cache, SwiGLU MLP and output head —
// for a batch of prompt tokens or one decoded token.
package model

import (
	"fmt"
	"io"
	"math"

	"github.com/thinkv/thinkv/kernels"
)

// Config holds a model's hyper-parameters.
type Config struct {
	Arch      string  // GGUF architecture name ("llama")
	Dim       int     // embedding width
	Hidden    int     // MLP width
	Layers    int     // transformer blocks
	Heads     int     // query heads
	KVHeads   int     // key/value heads (Heads is a multiple of it)
	HeadDim   int     // channels per head
	Vocab     int     // vocabulary size
	Context   int     // longest sequence the model is run at
	RopeTheta float64 // RoPE base frequency
	RopeDim   int     // leading channels of each head that RoPE rotates
	RopeNeoX  bool    // rotate pairs (i, i+RopeDim/2), as GPT-NeoX and Qwen2 do, not (2i, 2i+1)
	RopeScale float64 // linear RoPE scaling: positions are divided by it (0 or 1: none)
	NormEps   float32 // RMSNorm epsilon
	// SlidingWindow, if positive, is the model's attention window (Mistral).
	// Within one window attention is exact; this engine does not slide, so
	// Context is capped at it and longer sequences are refused.
	SlidingWindow int
}

// KVBytesPerToken returns the bytes an uncompressed cache of elemSize-byte
// elements needs for one token: keys and values for every layer and KV head.
func (c Config) KVBytesPerToken(elemSize int64) int64 {
	return int64(2*c.Layers*c.KVHeads*c.HeadDim) * elemSize
}

func (c Config) validate() error {
	switch {
	case c.Dim <= 0 || c.Hidden <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.KVHeads <= 0 || c.Vocab <= 0 || c.Context <= 0:
		return fmt.Errorf("model: hyper-parameters must be positive: %s", c.brief())
	case c.Heads%c.KVHeads != 0:
		return fmt.Errorf("model: %d heads is not a multiple of %d KV heads", c.Heads, c.KVHeads)
	case c.HeadDim <= 0 || c.HeadDim%2 != 0 || c.Dim != c.Heads*c.HeadDim:
		return fmt.Errorf("model: head dimension %d does not fit dim %d with %d heads", c.HeadDim, c.Dim, c.Heads)
	case c.RopeDim <= 0 || c.RopeDim > c.HeadDim || c.RopeDim%2 != 0:
		return fmt.Errorf("model: RoPE dimension %d invalid for head dimension %d", c.RopeDim, c.HeadDim)
	case c.Dim > 1<<16 || c.Hidden > 1<<18 || c.Layers > 1024 || c.Vocab > 1<<22 || c.Heads > 1024:
		return fmt.Errorf("model: hyper-parameters out of any sane range: %s", c.brief())
	case !positive(float64(c.NormEps)):
		return fmt.Errorf("model: RMS norm epsilon %v must be a positive finite number", c.NormEps)
	case !positive(c.RopeTheta):
		return fmt.Errorf("model: RoPE base %v must be a positive finite number", c.RopeTheta)
	case c.RopeScale != 0 && !positive(c.RopeScale):
		return fmt.Errorf("model: RoPE scale factor %v must be a positive finite number", c.RopeScale)
	}
	return nil
}

// positive reports whether x is finite and greater than zero (false for NaN).
func positive(x float64) bool { return x > 0 && !math.IsInf(x, 1) }

// brief lists the shape hyper-parameters, for error messages.
func (c Config) brief() string {
	return fmt.Sprintf("dim %d, hidden %d, layers %d, heads %d, kv heads %d, vocab %d, context %d",
		c.Dim, c.Hidden, c.Layers, c.Heads, c.KVHeads, c.Vocab, c.Context)
}

// Layer holds one transformer block's weights.
type Layer struct {
	AttnNorm       []float32       // [Dim]
	Wq, Wk, Wv, Wo *kernels.Matrix // [Dim×Dim], [KVDim×Dim], [KVDim×Dim], [Dim×Dim]
	Bq, Bk, Bv     []float32       // projection biases (Qwen2), nil when absent
	FFNNorm        []float32       // [Dim]
	Gate, Up, Down *kernels.Matrix // [Hidden×Dim], [Hidden×Dim], [Dim×Hidden]
}

// Model is a loaded transformer. Its weights are read-only and shared by every
// sequence; per-sequence state lives in a State and a kvcache.Cache.
type Model struct {
	Config
	Embed  *kernels.Matrix // [Vocab×Dim]
	Layers []Layer
	Norm   []float32       // final RMSNorm, [Dim]
	Output *kernels.Matrix // [Vocab×Dim]; the same matrix as Embed when tied
	// RopeFactors divide RoPE's inverse frequencies (Llama 3's rope_freqs), [RopeDim/2]; nil: none.
	RopeFactors []float32

	closer io.Closer
}

// Close releases the model file's mapping, if any. The model is unusable after.
func (m *Model) Close() error {
	if m.closer != nil {
		return m.closer.Close()
	}
	return nil
}

// ParamCount returns the number of weights.
func (m *Model) ParamCount() int64 {
	n := int64(m.Embed.Rows*m.Embed.Cols) + int64(len(m.Norm))
	if m.Output != m.Embed {
		n += int64(m.Output.Rows * m.Output.Cols)
	}
	for _, l := range m.Layers {
		n += int64(len(l.AttnNorm) + len(l.FFNNorm) + len(l.Bq) + len(l.Bk) + len(l.Bv))
		for _, w := range []*kernels.Matrix{l.Wq, l.Wk, l.Wv, l.Wo, l.Gate, l.Up, l.Down} {
			n += int64(w.Rows * w.Cols)
		}
	}
	return n
}

// packWeights packs the matrices the forward pass multiplies (every layer's
// and the output head) for the integer products' kernels, where the CPU has
// them (kernels.Matrix.Pack), so that no product pays for it later. The
// embedding is only read row by row and stays as it is, unless it is also
// the output head. release, if not nil, is told about each packed matrix's
// original bytes, which the products no longer read (a memory-mapped file
// then drops them from resident memory, so the weights are not held twice).
func (m *Model) packWeights(release func([]byte)) {
	for _, w := range m.packable() {
		if w.Pack() > 0 && release != nil {
			release(w.Data)
		}
	}
}

// packable returns the matrices packWeights packs: the output head, then
// every layer's.
func (m *Model) packable() []*kernels.Matrix {
	ws := []*kernels.Matrix{m.Output}
	for _, l := range m.Layers {
		ws = append(ws, l.Wq, l.Wk, l.Wv, l.Wo, l.Gate, l.Up, l.Down)
	}
	return ws
}
