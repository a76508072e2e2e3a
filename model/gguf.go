package model

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/thinkv/thinkv/gguf"
	"github.com/thinkv/thinkv/kernels"
)

// LoadGGUF memory-maps a GGUF file of architecture llama and binds its weights.
// ctx, if positive, overrides the context length the metadata gives. The
// returned file stays open (the weights point into it) and is closed by Model.Close;
// callers may read its metadata, for example to build the tokenizer.
func LoadGGUF(path string, ctx int) (*Model, *gguf.File, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, nil, err
	}
	m, err := FromGGUF(f, ctx)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	m.closer = f
	return m, f, nil
}

// FromGGUF binds the weights of an open GGUF file. See LoadGGUF.
func FromGGUF(f *gguf.File, ctx int) (*Model, error) {
	arch, _ := f.String("general.architecture")
	if arch != "llama" && arch != "qwen2" {
		return nil, fmt.Errorf("unsupported architecture %q (supported: llama, qwen2)", arch)
	}
	u := func(key string, def int) (int, error) {
		v, ok := f.Uint(arch + "." + key)
		if !ok {
			if def >= 0 {
				return def, nil
			}
			return 0, fmt.Errorf("missing metadata %s.%s", arch, key)
		}
		if v > 1<<31 {
			return 0, fmt.Errorf("metadata %s.%s = %d out of range", arch, key, v)
		}
		return int(v), nil
	}
	var cfg Config
	var err error
	cfg.Arch = arch
	for _, p := range []struct {
		dst *int
		key string
		def int
	}{
		{&cfg.Dim, "embedding_length", -1}, {&cfg.Hidden, "feed_forward_length", -1},
		{&cfg.Layers, "block_count", -1}, {&cfg.Heads, "attention.head_count", -1},
		{&cfg.Context, "context_length", -1},
	} {
		if *p.dst, err = u(p.key, p.def); err != nil {
			return nil, err
		}
	}
	if cfg.KVHeads, err = u("attention.head_count_kv", cfg.Heads); err != nil {
		return nil, err
	}
	if cfg.Heads > 0 {
		cfg.HeadDim = cfg.Dim / cfg.Heads
	}
	if cfg.RopeDim, err = u("rope.dimension_count", cfg.HeadDim); err != nil {
		return nil, err
	}
	if cfg.RopeTheta, err = number(f, arch+".rope.freq_base", 10000); err != nil {
		return nil, err
	}
	eps, err := number(f, arch+".attention.layer_norm_rms_epsilon", 1e-5)
	if err != nil {
		return nil, err
	}
	cfg.NormEps = float32(eps)
	cfg.RopeNeoX = arch == "qwen2"
	if err := ropeScaling(f, arch, &cfg); err != nil {
		return nil, err
	}
	if ctx > 0 {
		cfg.Context = ctx
	}
	if w, ok := f.Uint(arch + ".attention.sliding_window"); ok && w > 0 && int(min(w, 1<<31)) < cfg.Context {
		cfg.SlidingWindow, cfg.Context = int(w), int(w)
	}
	embed, ok := f.Tensor("token_embd.weight")
	if !ok {
		return nil, fmt.Errorf("missing tensor token_embd.weight")
	}
	if len(embed.Shape) == 2 {
		cfg.Vocab = int(min(embed.Shape[1], 1<<31))
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := binder{f: f}
	kvDim := cfg.KVHeads * cfg.HeadDim
	m := &Model{Config: cfg}
	m.Embed = b.matrix("token_embd.weight", cfg.Vocab, cfg.Dim)
	m.Norm = b.vector("output_norm.weight", cfg.Dim)
	m.Output = m.Embed
	// An output head stored as a byte-for-byte copy of the embedding (as
	// llama.cpp's llama2.c converter and thinkv's convert write a tied one) is
	// the tied matrix: one set of weights, counted once.
	if out, ok := f.Tensor("output.weight"); ok && !sameTensor(f, out, embed) {
		m.Output = b.matrix("output.weight", cfg.Vocab, cfg.Dim)
	}
	m.RopeFactors = b.optional("rope_freqs.weight", cfg.RopeDim/2)
	for i, v := range m.RopeFactors {
		if !positive(float64(v)) && b.err == nil {
			b.err = fmt.Errorf("tensor rope_freqs.weight[%d] = %v, want a positive finite number", i, v)
		}
	}
	for l := 0; l < cfg.Layers; l++ {
		n := func(s string) string { return fmt.Sprintf("blk.%d.%s.weight", l, s) }
		m.Layers = append(m.Layers, Layer{
			AttnNorm: b.vector(n("attn_norm"), cfg.Dim),
			Wq:       b.matrix(n("attn_q"), cfg.Dim, cfg.Dim),
			Wk:       b.matrix(n("attn_k"), kvDim, cfg.Dim),
			Wv:       b.matrix(n("attn_v"), kvDim, cfg.Dim),
			Wo:       b.matrix(n("attn_output"), cfg.Dim, cfg.Dim),
			Bq:       b.optional(fmt.Sprintf("blk.%d.attn_q.bias", l), cfg.Dim),
			Bk:       b.optional(fmt.Sprintf("blk.%d.attn_k.bias", l), kvDim),
			Bv:       b.optional(fmt.Sprintf("blk.%d.attn_v.bias", l), kvDim),
			FFNNorm:  b.vector(n("ffn_norm"), cfg.Dim),
			Gate:     b.matrix(n("ffn_gate"), cfg.Hidden, cfg.Dim),
			Up:       b.matrix(n("ffn_up"), cfg.Hidden, cfg.Dim),
			Down:     b.matrix(n("ffn_down"), cfg.Dim, cfg.Hidden),
		})
	}
	if b.err != nil {
		return nil, b.err
	}
	m.packWeights(f.Release)
	return m, nil
}

// sameTensor reports whether a and b have the same type, shape and data.
func sameTensor(f *gguf.File, a, b *gguf.TensorInfo) bool {
	return a.Type == b.Type && slices.Equal(a.Shape, b.Shape) && bytes.Equal(f.TensorData(a), f.TensorData(b))
}

// binder looks up tensors by name, checks their shapes and wraps them,
// remembering the first error.
type binder struct {
	f   *gguf.File
	err error
}

func (b *binder) lookup(name string, shape ...uint64) *gguf.TensorInfo {
	if b.err != nil {
		return nil
	}
	t, ok := b.f.Tensor(name)
	if !ok {
		b.err = fmt.Errorf("missing tensor %s", name)
		return nil
	}
	if len(t.Shape) != len(shape) {
		b.err = fmt.Errorf("tensor %s has shape %v, want %v", name, t.Shape, shape)
		return nil
	}
	for i := range shape {
		if t.Shape[i] != shape[i] {
			b.err = fmt.Errorf("tensor %s has shape %v, want %v", name, t.Shape, shape)
			return nil
		}
	}
	return t
}

// optional is vector for a tensor that may be absent (nil then).
func (b *binder) optional(name string, n int) []float32 {
	if _, ok := b.f.Tensor(name); !ok {
		return nil
	}
	return b.vector(name, n)
}

func (b *binder) vector(name string, n int) []float32 {
	t := b.lookup(name, uint64(n))
	if t == nil {
		return nil
	}
	v, err := b.f.Float32Tensor(name)
	if err != nil {
		b.err = fmt.Errorf("tensor %s: %w", name, err)
	}
	return v
}

// matrix binds a [rows×cols] weight (GGUF shape {cols, rows}) without copying.
func (b *binder) matrix(name string, rows, cols int) *kernels.Matrix {
	t := b.lookup(name, uint64(cols), uint64(rows))
	if t == nil {
		return nil
	}
	var typ kernels.DType
	data := b.f.TensorData(t)
	switch t.Type {
	case gguf.TypeF32:
		typ = kernels.F32
	case gguf.TypeF16:
		typ = kernels.F16
	case gguf.TypeQ8_0:
		typ = kernels.Q8_0
	case gguf.TypeQ4_0:
		typ = kernels.Q4_0
	case gguf.TypeBF16:
		typ = kernels.BF16
	case gguf.TypeQ4_1:
		typ = kernels.Q4_1
	case gguf.TypeQ5_0:
		typ = kernels.Q5_0
	case gguf.TypeQ5_1:
		typ = kernels.Q5_1
	case gguf.TypeQ2_K:
		typ = kernels.Q2_K
	case gguf.TypeQ3_K:
		typ = kernels.Q3_K
	case gguf.TypeQ4_K:
		typ = kernels.Q4_K
	case gguf.TypeQ5_K:
		typ = kernels.Q5_K
	case gguf.TypeQ6_K:
		typ = kernels.Q6_K
	default:
		b.err = fmt.Errorf("tensor %s has unsupported type %v", name, t.Type)
		return nil
	}
	m, err := kernels.NewMatrix(typ, rows, cols, data)
	if err != nil {
		b.err = fmt.Errorf("tensor %s: %w", name, err)
	}
	return m
}

// number reads an optional numeric metadata key: def when absent, an error
// when it is not a number. Its range is checked by Config.validate.
func number(f *gguf.File, key string, def float64) (float64, error) {
	v, ok := f.Get(key)
	if !ok {
		return def, nil
	}
	x, ok := v.AsFloat()
	if !ok {
		return 0, fmt.Errorf("metadata %s is %v, want a number", key, v.Type)
	}
	return x, nil
}

// ropeScaling reads linear RoPE scaling and refuses the kinds this engine
// does not implement.
func ropeScaling(f *gguf.File, arch string, cfg *Config) error {
	kind, _ := f.String(arch + ".rope.scaling.type")
	factor, hasFactor := f.Float(arch + ".rope.scaling.factor")
	if v, ok := f.Float(arch + ".rope.scale_linear"); ok && kind == "" {
		kind, factor, hasFactor = "linear", v, true
	}
	if hasFactor && !positive(factor) {
		return fmt.Errorf("RoPE scaling factor %v must be a positive finite number", factor)
	}
	switch kind {
	case "", "none":
		return nil
	case "linear":
		if !hasFactor {
			return fmt.Errorf("linear RoPE scaling needs a %s.rope.scaling.factor", arch)
		}
		cfg.RopeScale = factor
		return nil
	}
	return fmt.Errorf("unsupported RoPE scaling %q (supported: linear)", kind)
}
