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

// ParseType parses a target weight type: f32, f16, q8_0 or q4_0.
func ParseType(s string) (gguf.Type, error) {
	switch strings.ToLower(s) {
	case "f32":
		return gguf.TypeF32, nil
	case "f16":
		return gguf.TypeF16, nil
	case "q8_0":
		return gguf.TypeQ8_0, nil
	case "q4_0":
		return gguf.TypeQ4_0, nil
	}
	return 0, fmt.Errorf("unknown weight type %q (valid: f32, f16, q8_0, q4_0)", s)
}

// fileType maps a weight type to llama.cpp's general.file_type (LLAMA_FTYPE):
// what most matrices are stored as.
var fileType = map[gguf.Type]uint32{gguf.TypeF32: 0, gguf.TypeF16: 1, gguf.TypeQ4_0: 2, gguf.TypeQ8_0: 7, gguf.TypeBF16: 32}

// ToGGUF returns a writer holding m and tok as a GGUF of m's architecture
// (llama or qwen2) whose matrices are stored as typ. Norm weights stay f32, and a matrix whose rows
// are not a whole number of 32-element blocks falls back to f16, as llama.cpp
// does. The output head is written even when it is tied to the embedding,
// like llama.cpp's llama2.c converter. general.file_type records typ.
func ToGGUF(m *model.Model, tok *tokenizer.Tokenizer, typ gguf.Type, name string) (*gguf.Writer, error) {
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
	w.AddKV("general.file_type", gguf.Uint32Value(fileType[typ]))
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
	t := tensors{w: w, typ: typ}
	t.matrix("token_embd.weight", m.Embed)
	for l, ly := range m.Layers {
		p := fmt.Sprintf("blk.%d.", l)
		t.vector(p+"attn_norm.weight", ly.AttnNorm)
		t.matrix(p+"attn_q.weight", ly.Wq)
		t.matrix(p+"attn_k.weight", ly.Wk)
		t.matrix(p+"attn_v.weight", ly.Wv)
		t.matrix(p+"attn_output.weight", ly.Wo)
		t.bias(p+"attn_q.bias", ly.Bq)
		t.bias(p+"attn_k.bias", ly.Bk)
		t.bias(p+"attn_v.bias", ly.Bv)
		t.vector(p+"ffn_norm.weight", ly.FFNNorm)
		t.matrix(p+"ffn_gate.weight", ly.Gate)
		t.matrix(p+"ffn_down.weight", ly.Down)
		t.matrix(p+"ffn_up.weight", ly.Up)
	}
	t.vector("output_norm.weight", m.Norm)
	t.bias("rope_freqs.weight", m.RopeFactors)
	t.matrix("output.weight", m.Output)
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
	if v.Pre != "" {
		w.AddKV("tokenizer.ggml.pre", gguf.StringValue(v.Pre))
	}
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
	w   *gguf.Writer
	typ gguf.Type
	err error
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

func (t *tensors) matrix(name string, m *kernels.Matrix) {
	if t.err != nil {
		return
	}
	data := make([]float32, m.Rows*m.Cols)
	for r := 0; r < m.Rows; r++ {
		m.Row(data[r*m.Cols:(r+1)*m.Cols], r)
	}
	typ := t.typ
	if typ.BlockSize() > 1 && m.Cols%typ.BlockSize() != 0 {
		typ = gguf.TypeF16
	}
	t.err = t.w.AddFloat32Tensor(name, typ, []uint64{uint64(m.Cols), uint64(m.Rows)}, data)
}
