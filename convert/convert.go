// Package convert owns format conversion: it writes a loaded model and its
// tokenizer as a GGUF file in llama.cpp's layout (tensor names, metadata
// keys, SentencePiece vocabulary), quantizing the weight matrices to the
// requested type.
package convert

import (
	"fmt"
	"strings"

	"github.com/thinkv/thinkv/gguf"
	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/model"
	"github.com/thinkv/thinkv/tokenizer"
)

// Scheme is a conversion's choice of tensor types: Base for the weight
// matrices, except where a llama.cpp "_M" mix raises some to Q6_K.
type Scheme struct {
	Name     string    // as --type spells it, such as "q4_k_m"
	Base     gguf.Type // the type of most matrices
	FileType uint32    // general.file_type: llama.cpp's LLAMA_FTYPE for the scheme
	// Mix applies llama.cpp's Q4_K_M/Q5_K_M rules: the output head (and the
	// embedding when it is tied to it) Q6_K, and attn_v and ffn_down Q6_K on
	// the layers useMoreBits picks.
	Mix bool
}

// schemes lists every --type value. Plain types store every matrix as that
// type; the file types are llama.cpp's llama_ftype values (MOSTLY_Q4_K_S for
// an all-Q4_K file and MOSTLY_Q5_K_S for an all-Q5_K one, their nearest
// names).
var schemes = []Scheme{
	{"f32", gguf.TypeF32, 0, false},
	{"f16", gguf.TypeF16, 1, false},
	{"bf16", gguf.TypeBF16, 32, false},
	{"q8_0", gguf.TypeQ8_0, 7, false},
	{"q4_0", gguf.TypeQ4_0, 2, false},
	{"q4_1", gguf.TypeQ4_1, 3, false},
	{"q5_0", gguf.TypeQ5_0, 8, false},
	{"q5_1", gguf.TypeQ5_1, 9, false},
	{"q4_k", gguf.TypeQ4_K, 14, false},
	{"q5_k", gguf.TypeQ5_K, 16, false},
	{"q6_k", gguf.TypeQ6_K, 18, false},
	{"q4_k_m", gguf.TypeQ4_K, 15, true},
	{"q5_k_m", gguf.TypeQ5_K, 17, true},
}

// SchemeNames returns the --type values ParseScheme accepts.
func SchemeNames() []string {
	var names []string
	for _, s := range schemes {
		names = append(names, s.Name)
	}
	return names
}

// ParseScheme parses a --type value (case does not matter): a plain type
// (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k) or a mix
// (q4_k_m, q5_k_m).
func ParseScheme(s string) (Scheme, error) {
	for _, sc := range schemes {
		if strings.EqualFold(s, sc.Name) {
			return sc, nil
		}
	}
	return Scheme{}, fmt.Errorf("unknown weight type %q (valid: %s)", s, strings.Join(SchemeNames(), ", "))
}

// PlainScheme returns the scheme that stores every matrix as typ.
func PlainScheme(typ gguf.Type) Scheme {
	for _, sc := range schemes {
		if sc.Base == typ && !sc.Mix {
			return sc
		}
	}
	return Scheme{Name: strings.ToLower(typ.String()), Base: typ}
}

// useMoreBits is llama.cpp's choice of the layers whose attn_v and ffn_down
// a _M mix stores with more bits: the first and last eighth of the layers,
// and every third one between.
func useMoreBits(layer, layers int) bool {
	return layer < layers/8 || layer >= 7*layers/8 || (layer-layers/8)%3 == 2
}

// TensorType returns the type s gives the matrix called name (in llama.cpp's
// naming) of layer (−1 for the embedding and the head) out of layers, with
// rows of cols elements; tied says the head is the embedding. A row that is
// not a whole number of blocks falls back as llama.cpp does: Q4_K to Q5_0,
// Q5_K to Q5_1, Q6_K to Q8_0, and to f16 when not even 32 divides it.
func (s Scheme) TensorType(name string, layer, layers, cols int, tied bool) gguf.Type {
	typ := s.Base
	if s.Mix {
		switch {
		case name == "output.weight", name == "token_embd.weight" && tied:
			typ = gguf.TypeQ6_K
		case strings.HasSuffix(name, ".attn_v.weight"), strings.HasSuffix(name, ".ffn_down.weight"):
			if useMoreBits(layer, layers) {
				typ = gguf.TypeQ6_K
			}
		}
	}
	if bs := typ.BlockSize(); bs > 1 && cols%bs != 0 {
		switch typ {
		case gguf.TypeQ4_K:
			typ = gguf.TypeQ5_0
		case gguf.TypeQ5_K:
			typ = gguf.TypeQ5_1
		case gguf.TypeQ6_K:
			typ = gguf.TypeQ8_0
		}
	}
	if bs := typ.BlockSize(); bs > 1 && cols%bs != 0 {
		typ = gguf.TypeF16
	}
	return typ
}

// ToGGUF is ToGGUFScheme with every matrix stored as typ.
func ToGGUF(m *model.Model, tok *tokenizer.Tokenizer, typ gguf.Type, name string) (*gguf.Writer, error) {
	return ToGGUFScheme(m, tok, PlainScheme(typ), name)
}

// ToGGUFScheme returns a writer holding m and tok as a GGUF of m's
// architecture (llama or qwen2) whose matrices are stored as s says (see
// Scheme.TensorType). Norm weights stay f32. The output head is written
// even when it is tied to the embedding, like llama.cpp's llama2.c
// converter. general.file_type records the scheme, and tokenizer.ggml.pre
// the pre-tokenizer ("default" for SentencePiece vocabularies).
func ToGGUFScheme(m *model.Model, tok *tokenizer.Tokenizer, s Scheme, name string) (*gguf.Writer, error) {
	if !s.Base.CanEncode() {
		return nil, fmt.Errorf("cannot write %v weights", s.Base)
	}
	if tok.VocabSize() > m.Vocab {
		return nil, fmt.Errorf("tokenizer has %d tokens, the model %d", tok.VocabSize(), m.Vocab)
	}
	w := gguf.NewWriter()
	c := m.Config
	addVocab(w, tok, m.Vocab)
	arch := c.Arch
	if arch == "" {
		arch = "llama"
	}
	w.AddKV("general.architecture", gguf.StringValue(arch))
	w.AddKV("general.name", gguf.StringValue(name))
	w.AddKV("general.file_type", gguf.Uint32Value(s.FileType))
	for _, kv := range []struct {
		key string
		v   int
	}{{"context_length", c.Context}, {"embedding_length", c.Dim}, {"feed_forward_length", c.Hidden},
		{"attention.head_count", c.Heads}, {"attention.head_count_kv", c.KVHeads}, {"block_count", c.Layers},
		{"rope.dimension_count", c.RopeDim}} {
		w.AddKV(arch+"."+kv.key, gguf.Uint32Value(uint32(kv.v)))
	}
	w.AddKV(arch+".attention.layer_norm_rms_epsilon", gguf.Float32Value(c.NormEps))
	if c.RopeTheta != 10000 {
		w.AddKV(arch+".rope.freq_base", gguf.Float32Value(float32(c.RopeTheta)))
	}
	if c.RopeScale > 0 && c.RopeScale != 1 {
		w.AddKV(arch+".rope.scaling.type", gguf.StringValue("linear"))
		w.AddKV(arch+".rope.scaling.factor", gguf.Float32Value(float32(c.RopeScale)))
	}
	t := tensors{w: w, s: s, layers: c.Layers, tied: m.Output == m.Embed}
	t.matrix("token_embd.weight", -1, m.Embed)
	for l, ly := range m.Layers {
		p := fmt.Sprintf("blk.%d.", l)
		t.vector(p+"attn_norm.weight", ly.AttnNorm)
		t.matrix(p+"attn_q.weight", l, ly.Wq)
		t.matrix(p+"attn_k.weight", l, ly.Wk)
		t.matrix(p+"attn_v.weight", l, ly.Wv)
		t.matrix(p+"attn_output.weight", l, ly.Wo)
		t.bias(p+"attn_q.bias", ly.Bq)
		t.bias(p+"attn_k.bias", ly.Bk)
		t.bias(p+"attn_v.bias", ly.Bv)
		t.vector(p+"ffn_norm.weight", ly.FFNNorm)
		t.matrix(p+"ffn_gate.weight", l, ly.Gate)
		t.matrix(p+"ffn_down.weight", l, ly.Down)
		t.matrix(p+"ffn_up.weight", l, ly.Up)
	}
	t.vector("output_norm.weight", m.Norm)
	t.bias("rope_freqs.weight", m.RopeFactors)
	t.matrix("output.weight", -1, m.Output)
	return w, t.err
}

// addVocab writes the tokenizer as GGUF tokenizer.ggml.* metadata, padding
// the vocabulary to the model's n embedding rows with unused "[PADi]" tokens,
// as llama.cpp's converter does.
func addVocab(w *gguf.Writer, tok *tokenizer.Tokenizer, n int) {
	v := tok.Vocab()
	pieces, scores, types := make([]string, n), make([]float32, n), make([]int32, n)
	for i := 0; i < n; i++ {
		if i >= tok.VocabSize() {
			pieces[i], types[i] = fmt.Sprintf("[PAD%d]", i), int32(tokenizer.Unused)
			continue
		}
		pieces[i], scores[i], types[i] = tok.Token(i), tok.Score(i), int32(tok.Type(i))
	}
	kind := v.Model
	if kind == "" {
		kind = "llama"
	}
	w.AddKV("tokenizer.ggml.tokens", gguf.StringsValue(pieces))
	if kind == "llama" {
		w.AddKV("tokenizer.ggml.scores", gguf.Float32sValue(scores))
	}
	w.AddKV("tokenizer.ggml.token_type", gguf.Int32sValue(types))
	w.AddKV("tokenizer.ggml.model", gguf.StringValue(kind))
	if len(v.Merges) > 0 {
		w.AddKV("tokenizer.ggml.merges", gguf.StringsValue(v.Merges))
	}
	pre := v.Pre // the byte-level pre-tokenizer's llama.cpp name, or "default"
	if pre == "" {
		pre = "default"
	}
	w.AddKV("tokenizer.ggml.pre", gguf.StringValue(pre))
	for _, kv := range []struct {
		key string
		id  int
	}{{"unknown", tok.UNK()}, {"bos", tok.BOS()}, {"eos", tok.EOS()}, {"seperator", -1}, {"padding", -1}} {
		w.AddKV("tokenizer.ggml."+kv.key+"_token_id", gguf.Uint32Value(uint32(int32(kv.id))))
	}
	if len(v.EOG) > 0 {
		w.AddKV("tokenizer.ggml.eot_token_id", gguf.Uint32Value(uint32(v.EOG[0])))
	}
	if kind == "llama" && !tok.AddSpacePrefix() {
		w.AddKV("tokenizer.ggml.add_space_prefix", gguf.BoolValue(false))
	}
	// Written for byte-level vocabularies, whose defaults differ between
	// readers; SentencePiece ones add BOS unless told not to.
	if kind != "llama" || !v.AddBOS {
		w.AddKV("tokenizer.ggml.add_bos_token", gguf.BoolValue(v.AddBOS))
	}
}

// tensors adds tensors to a writer, remembering the first error.
type tensors struct {
	w      *gguf.Writer
	s      Scheme
	layers int
	tied   bool
	err    error
}

func (t *tensors) vector(name string, v []float32) {
	if t.err == nil {
		t.err = t.w.AddFloat32Tensor(name, gguf.TypeF32, []uint64{uint64(len(v))}, v)
	}
}

// bias writes an optional vector (nothing when v is nil).
func (t *tensors) bias(name string, v []float32) {
	if v != nil {
		t.vector(name, v)
	}
}

func (t *tensors) matrix(name string, layer int, m *kernels.Matrix) {
	if t.err != nil {
		return
	}
	data := make([]float32, m.Rows*m.Cols)
	for r := 0; r < m.Rows; r++ {
		m.Row(data[r*m.Cols:(r+1)*m.Cols], r)
	}
	typ := t.s.TensorType(name, layer, t.layers, m.Cols, t.tied)
	t.err = t.w.AddFloat32Tensor(name, typ, []uint64{uint64(m.Cols), uint64(m.Rows)}, data)
}
