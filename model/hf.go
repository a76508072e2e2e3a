package model

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"unsafe"

	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/safetensors"
)

// hfConfig is the part of a Hugging Face config.json this engine reads.
type hfConfig struct {
	ModelType         string   `json:"model_type"`
	HiddenSize        int      `json:"hidden_size"`
	IntermediateSize  int      `json:"intermediate_size"`
	Layers            int      `json:"num_hidden_layers"`
	Heads             int      `json:"num_attention_heads"`
	KVHeads           int      `json:"num_key_value_heads"`
	HeadDim           int      `json:"head_dim"`
	Vocab             int      `json:"vocab_size"`
	MaxPositions      int      `json:"max_position_embeddings"`
	RMSNormEps        *float64 `json:"rms_norm_eps"`
	RopeTheta         *float64 `json:"rope_theta"`
	TieWordEmbeddings bool     `json:"tie_word_embeddings"`
	SlidingWindow     *int     `json:"sliding_window"`
	UseSlidingWindow  *bool    `json:"use_sliding_window"`
	RopeScaling       *hfScale `json:"rope_scaling"`
}

type hfScale struct {
	Type           string  `json:"type"`
	RopeType       string  `json:"rope_type"`
	Factor         float64 `json:"factor"`
	LowFreqFactor  float64 `json:"low_freq_factor"`
	HighFreqFactor float64 `json:"high_freq_factor"`
	OriginalMax    int     `json:"original_max_position_embeddings"`
}

// LoadHF loads a Hugging Face model directory: config.json with
// model.safetensors, or shards listed in model.safetensors.index.json.
// Architectures llama, mistral and qwen2; weights F32, F16 or BF16, used in
// place from the memory-mapped files. Llama and Mistral query/key rows are permuted into the
// GGUF RoPE layout (adjacent pairs), as llama.cpp's converter does; Qwen2
// keeps its layout and rotates NeoX-style. ctx > 0 overrides the context.
func LoadHF(dir string, ctx int) (*Model, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	var hc hfConfig
	if err := json.Unmarshal(raw, &hc); err != nil {
		return nil, fmt.Errorf("%s/config.json: %w", dir, err)
	}
	cfg, factors, err := hc.config()
	if err != nil {
		return nil, fmt.Errorf("%s/config.json: %w", dir, err)
	}
	if ctx > 0 {
		cfg.Context = ctx
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	tensors, files, err := openShards(dir)
	if err != nil {
		return nil, err
	}
	b := hfBinder{t: tensors}
	permute := cfg.Arch == "llama"
	kvDim := cfg.KVHeads * cfg.HeadDim
	m := &Model{Config: cfg, RopeFactors: factors, closer: files}
	m.Embed = b.matrix("model.embed_tokens.weight", cfg.Vocab, cfg.Dim, 0, 0)
	m.Norm = b.vector("model.norm.weight", cfg.Dim, false)
	m.Output = m.Embed
	if _, ok := tensors["lm_head.weight"]; ok || !hc.TieWordEmbeddings {
		m.Output = b.matrix("lm_head.weight", cfg.Vocab, cfg.Dim, 0, 0)
	}
	qh, kh := 0, 0
	if permute {
		qh, kh = cfg.Heads, cfg.KVHeads
	}
	for l := 0; l < cfg.Layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		ly := Layer{
			AttnNorm: b.vector(p+"input_layernorm.weight", cfg.Dim, false),
			Wq:       b.matrix(p+"self_attn.q_proj.weight", cfg.Dim, cfg.Dim, qh, cfg.HeadDim),
			Wk:       b.matrix(p+"self_attn.k_proj.weight", kvDim, cfg.Dim, kh, cfg.HeadDim),
			Wv:       b.matrix(p+"self_attn.v_proj.weight", kvDim, cfg.Dim, 0, 0),
			Wo:       b.matrix(p+"self_attn.o_proj.weight", cfg.Dim, cfg.Dim, 0, 0),
			Bq:       b.vector(p+"self_attn.q_proj.bias", cfg.Dim, true),
			Bk:       b.vector(p+"self_attn.k_proj.bias", kvDim, true),
			Bv:       b.vector(p+"self_attn.v_proj.bias", kvDim, true),
			FFNNorm:  b.vector(p+"post_attention_layernorm.weight", cfg.Dim, false),
			Gate:     b.matrix(p+"mlp.gate_proj.weight", cfg.Hidden, cfg.Dim, 0, 0),
			Up:       b.matrix(p+"mlp.up_proj.weight", cfg.Hidden, cfg.Dim, 0, 0),
			Down:     b.matrix(p+"mlp.down_proj.weight", cfg.Dim, cfg.Hidden, 0, 0),
		}
		if permute {
			ly.Bq = permuteRows(ly.Bq, 1, cfg.Heads, cfg.HeadDim)
			ly.Bk = permuteRows(ly.Bk, 1, cfg.KVHeads, cfg.HeadDim)
		}
		m.Layers = append(m.Layers, ly)
	}
	if b.err != nil {
		files.Close()
		return nil, fmt.Errorf("%s: %w", dir, b.err)
	}
	return m, nil
}

// config maps config.json onto Config, with Llama 3's RoPE frequency factors.
func (hc *hfConfig) config() (Config, []float32, error) {
	c := Config{Dim: hc.HiddenSize, Hidden: hc.IntermediateSize, Layers: hc.Layers, Heads: hc.Heads,
		KVHeads: hc.KVHeads, HeadDim: hc.HeadDim, Vocab: hc.Vocab, Context: hc.MaxPositions,
		RopeTheta: 10000, NormEps: 1e-6}
	// Present values are kept as given, zero included, for validate to judge.
	if hc.RopeTheta != nil {
		c.RopeTheta = *hc.RopeTheta
	}
	if hc.RMSNormEps != nil {
		c.NormEps = float32(*hc.RMSNormEps)
	}
	switch hc.ModelType {
	case "llama", "mistral":
		c.Arch = "llama"
	case "qwen2":
		c.Arch, c.RopeNeoX = "qwen2", true
	default:
		return c, nil, fmt.Errorf("unsupported model_type %q (supported: llama, mistral, qwen2)", hc.ModelType)
	}
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if c.HeadDim == 0 && c.Heads > 0 {
		c.HeadDim = c.Dim / c.Heads
	}
	c.RopeDim = c.HeadDim
	if w := hc.SlidingWindow; w != nil && *w > 0 && *w < c.Context && (hc.UseSlidingWindow == nil || *hc.UseSlidingWindow) {
		c.SlidingWindow, c.Context = *w, *w
	}
	var factors []float32
	if s := hc.RopeScaling; s != nil {
		kind := s.RopeType
		if kind == "" {
			kind = s.Type
		}
		switch kind {
		case "linear":
			if !positive(s.Factor) {
				return c, nil, fmt.Errorf("rope_scaling factor %v must be a positive finite number", s.Factor)
			}
			c.RopeScale = s.Factor
		case "llama3":
			if !positive(s.Factor) || !positive(s.LowFreqFactor) || !(s.HighFreqFactor > s.LowFreqFactor) || s.OriginalMax <= 0 {
				return c, nil, fmt.Errorf("llama3 rope_scaling needs factor > 0, 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0, got %v, %v, %v, %d",
					s.Factor, s.LowFreqFactor, s.HighFreqFactor, s.OriginalMax)
			}
			factors = Llama3RopeFactors(c, s.Factor, s.LowFreqFactor, s.HighFreqFactor, s.OriginalMax)
		case "default", "":
		default:
			return c, nil, fmt.Errorf("unsupported rope_scaling type %q (supported: linear, llama3)", kind)
		}
	}
	return c, factors, nil
}

// Llama3RopeFactors returns Llama 3.1's per-frequency RoPE divisors (what
// GGUF stores as rope_freqs.weight): wavelengths longer than original/low are
// slowed by factor, those shorter than original/high kept, the band between
// blended smoothly.
func Llama3RopeFactors(c Config, factor, low, high float64, original int) []float32 {
	old := float64(original)
	lowWave, highWave := old/low, old/high
	f := make([]float32, c.RopeDim/2)
	for i := range f {
		freq := 1 / math.Pow(c.RopeTheta, float64(2*i)/float64(c.RopeDim))
		wave := 2 * math.Pi / freq
		switch {
		case wave < highWave:
			f[i] = 1
		case wave > lowWave:
			f[i] = float32(factor)
		default:
			smooth := (old/wave - low) / (high - low)
			f[i] = float32(1 / ((1-smooth)/factor + smooth))
		}
	}
	return f
}

// openShards maps every safetensors file of a directory, returning one
// name → tensor map and the files, which the model closes.
func openShards(dir string) (map[string]*safetensors.Tensor, shards, error) {
	files := []string{"model.safetensors"}
	if raw, err := os.ReadFile(filepath.Join(dir, "model.safetensors.index.json")); err == nil {
		var idx struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(raw, &idx); err != nil {
			return nil, nil, fmt.Errorf("%s/model.safetensors.index.json: %w", dir, err)
		}
		seen := map[string]bool{}
		files = files[:0]
		for _, f := range idx.WeightMap {
			if !seen[f] && filepath.Base(f) == f {
				seen[f] = true
				files = append(files, f)
			}
		}
		sort.Strings(files)
	}
	all := map[string]*safetensors.Tensor{}
	var open shards
	for _, name := range files {
		f, err := safetensors.Open(filepath.Join(dir, name))
		if err != nil {
			open.Close()
			return nil, nil, err
		}
		open = append(open, f)
		for n, t := range f.Tensors {
			all[n] = t
		}
	}
	return all, open, nil
}

// shards are open safetensors files.
type shards []*safetensors.File

// Close closes every file.
func (s shards) Close() error {
	var first error
	for _, f := range s {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// hfBinder turns safetensors tensors into weights, remembering the first error.
type hfBinder struct {
	t   map[string]*safetensors.Tensor
	err error
}

func (b *hfBinder) get(name string, shape ...int) *safetensors.Tensor {
	if b.err != nil {
		return nil
	}
	t, ok := b.t[name]
	if !ok {
		b.err = fmt.Errorf("missing tensor %s", name)
		return nil
	}
	if fmt.Sprint(t.Shape) != fmt.Sprint(shape) {
		b.err = fmt.Errorf("tensor %s has shape %v, want %v", name, t.Shape, shape)
		return nil
	}
	return t
}

func (b *hfBinder) vector(name string, n int, optional bool) []float32 {
	if _, ok := b.t[name]; !ok && optional {
		return nil
	}
	t := b.get(name, n)
	if t == nil {
		return nil
	}
	v, err := t.Float32s()
	if err != nil {
		b.err = err
	}
	return v
}

// matrix binds a [rows×cols] weight in its stored type (F32, F16 or BF16),
// pointing into the file's mapping where it is aligned; with heads > 0 its
// rows are first permuted from Hugging Face's rotate-half RoPE layout to
// adjacent pairs (a copy).
func (b *hfBinder) matrix(name string, rows, cols, heads, headDim int) *kernels.Matrix {
	t := b.get(name, rows, cols)
	if t == nil {
		return nil
	}
	types := map[string]kernels.DType{"F32": kernels.F32, "F16": kernels.F16, "BF16": kernels.BF16}
	typ, ok := types[t.DType]
	if !ok {
		b.err = fmt.Errorf("tensor %s has unsupported dtype %s (supported: F32, F16, BF16)", name, t.DType)
		return nil
	}
	rowBytes := typ.RowBytes(cols)
	data := aligned(permuteRows(t.Data, rowBytes, heads, headDim), rowBytes/cols)
	m, err := kernels.NewMatrix(typ, rows, cols, data)
	if err != nil {
		b.err = fmt.Errorf("tensor %s: %w", name, err)
	}
	return m
}

// aligned returns b, or an aligned copy if b does not start on an n-byte boundary.
func aligned(b []byte, n int) []byte {
	if len(b) == 0 || uintptr(unsafe.Pointer(&b[0]))%uintptr(n) == 0 {
		return b
	}
	return append(make([]byte, 0, len(b)), b...)
}

// permuteRows reorders the rows (of width elements) of each of heads heads
// so that row 2i+j comes from row j·headDim/2+i: Hugging Face's rotate-half
// pairs (i, i+headDim/2) become adjacent pairs (2i, 2i+1). heads == 0 or a nil
// x leaves x as it is.
func permuteRows[T any](x []T, width, heads, headDim int) []T {
	if heads == 0 || x == nil {
		return x
	}
	out := make([]T, len(x))
	half := headDim / 2
	for h := 0; h < heads; h++ {
		for i := 0; i < half; i++ {
			for j := 0; j < 2; j++ {
				dst, src := h*headDim+2*i+j, h*headDim+j*half+i
				copy(out[dst*width:(dst+1)*width], x[src*width:(src+1)*width])
			}
		}
	}
	return out
}
