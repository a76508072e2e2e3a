package tokenizer

import (
	"errors"
	"fmt"

	"github.com/thinkv/thinkv/gguf"
)

// GGUF metadata keys read by FromGGUF.
const (
	keyModel          = "tokenizer.ggml.model"
	keyTokens         = "tokenizer.ggml.tokens"
	keyScores         = "tokenizer.ggml.scores"
	keyTokenType      = "tokenizer.ggml.token_type"
	keyBOS            = "tokenizer.ggml.bos_token_id"
	keyEOS            = "tokenizer.ggml.eos_token_id"
	keyUNK            = "tokenizer.ggml.unknown_token_id"
	keyAddSpacePrefix = "tokenizer.ggml.add_space_prefix"
	keyMerges         = "tokenizer.ggml.merges"
	keyPre            = "tokenizer.ggml.pre"
	keyEOT            = "tokenizer.ggml.eot_token_id"
	keyEOM            = "tokenizer.ggml.eom_token_id"
	keyAddBOS         = "tokenizer.ggml.add_bos_token"
)

// metadata is the part of *gguf.File that FromGGUF reads.
type metadata interface {
	String(key string) (string, bool)
	Uint(key string) (uint64, bool)
	Bool(key string) (bool, bool)
	Strings(key string) ([]string, bool)
	Float32s(key string) ([]float32, bool)
	Int32s(key string) ([]int32, bool)
}

// FromGGUF builds a Tokenizer from a GGUF file's tokenizer.ggml.* metadata.
// The "llama" (SentencePiece) and "gpt2" (byte-level BPE) tokenizer models
// are supported.
//
// For "llama", scores default to zero and token types are inferred when
// absent; add_space_prefix defaults to true. As in llama.cpp, a missing or
// out-of-range BOS, EOS or UNK id falls back to 1, 2 or 0 (or -1 if the
// vocabulary is too small).
//
// For "gpt2", tokenizer.ggml.merges is required, and tokenizer.ggml.pre
// chooses the pre-tokenizer: "gpt-2" (also "phi-2", "roberta-bpe", "mpt",
// "olmo", "jais"), "llama-bpe" (also "llama3", "llama-v3", "falcon3",
// "dbrx", "smaug-bpe"), "qwen2" (also "stablelm2", "megrez",
// "deepseek-r1-qwen"), or llama.cpp's "default" when absent; other names
// are refused. Missing BOS, EOS and UNK ids are -1.
//
// For both, eot_token_id and eom_token_id join EOS in the end-of-generation
// set (see IsEOG), and add_bos_token sets AddBOS (default: true for "llama"
// and Llama 3's pre-tokenizer, else false).
func FromGGUF(f *gguf.File) (*Tokenizer, error) {
	if f == nil {
		return nil, errors.New("tokenizer: nil GGUF file")
	}
	return fromMetadata(f)
}

func fromMetadata(m metadata) (*Tokenizer, error) {
	model, ok := m.String(keyModel)
	if !ok {
		return nil, fmt.Errorf("tokenizer: GGUF has no string %s", keyModel)
	}
	if model != "llama" && model != "gpt2" {
		return nil, fmt.Errorf("tokenizer: unsupported tokenizer model %q", model)
	}
	pieces, ok := m.Strings(keyTokens)
	if !ok {
		return nil, fmt.Errorf("tokenizer: GGUF has no string array %s", keyTokens)
	}
	v := Vocab{Pieces: pieces, AddSpacePrefix: true, Model: model, AddBOS: true}
	bos, eos, unk := llama2cBOS, llama2cEOS, llama2cUNK
	if model == "gpt2" {
		if v.Merges, ok = m.Strings(keyMerges); !ok {
			return nil, fmt.Errorf("tokenizer: GGUF has no string array %s", keyMerges)
		}
		v.Pre, _ = m.String(keyPre)
		v.AddSpacePrefix = false
		v.AddBOS = v.Pre == "llama-bpe" || v.Pre == "llama3" || v.Pre == "llama-v3" || v.Pre == "falcon3"
		bos, eos, unk = -1, -1, -1
	}
	if scores, ok := m.Float32s(keyScores); ok {
		v.Scores = scores
	}
	if types, ok := m.Int32s(keyTokenType); ok {
		v.Types = make([]TokenType, len(types))
		for i, t := range types {
			v.Types[i] = TokenType(t)
		}
	}
	if b, ok := m.Bool(keyAddSpacePrefix); ok {
		v.AddSpacePrefix = b
	}
	if b, ok := m.Bool(keyAddBOS); ok {
		v.AddBOS = b
	}
	n := len(pieces)
	v.BOS = specialID(m, keyBOS, bos, n)
	v.EOS = specialID(m, keyEOS, eos, n)
	v.UNK = specialID(m, keyUNK, unk, n)
	for _, key := range []string{keyEOT, keyEOM} {
		if id := specialID(m, key, -1, n); id >= 0 {
			v.EOG = append(v.EOG, id)
		}
	}
	t, err := New(v)
	if err != nil {
		return nil, fmt.Errorf("%w (GGUF %s)", err, keyTokens)
	}
	return t, nil
}

// specialID reads a special token id, falling back to def when the key is
// absent or out of range, and to -1 when def is out of range too.
func specialID(m metadata, key string, def, n int) int {
	if id, ok := m.Uint(key); ok && id < uint64(n) {
		return int(id)
	}
	if def < n {
		return def
	}
	return -1
}
